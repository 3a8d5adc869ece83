#include "frontend/builtin_models.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kiln {
namespace {

Conv2DOptions Relu() {
  Conv2DOptions o;
  o.activation = "relu";
  return o;
}

// Conv2D(64, 3x3, relu) -> MaxPool(2) -> Conv2D(64, 3x3, relu) -> MaxPool(2) -> Flatten
//   -> Dense(128, relu) -> Dense(10, softmax): 243,786 parameters.
std::vector<Layer> SeedCnn() {
  return {Conv2D(64, {3, 3}, Relu()),
          MaxPooling2D({2, 2}),
          Conv2D(64, {3, 3}, Relu()),
          MaxPooling2D({2, 2}),
          Flatten(),
          Dense(128, "relu"),
          Dense(10, "softmax")};
}

std::vector<Layer> Dnn() { return {Flatten(), Dense(128, "relu"), Dense(10, "softmax")}; }

// The course exercise: one convolution and one pooling layer.
std::vector<Layer> Exercise() {
  return {Conv2D(64, {3, 3}, Relu()), MaxPooling2D({2, 2}), Flatten(), Dense(128, "relu"),
          Dense(10, "softmax")};
}

}  // namespace

std::vector<std::string> BuiltinModelNames() {
  return {"mnist-cnn", "mnist-dnn", "mnist-exercise", "fashion-cnn", "fashion-dnn"};
}

absl::StatusOr<Model> BuiltinModel(const std::string& name, uint64_t seed) {
  const Dims image = {28, 28, 1};
  if (name == "mnist-cnn" || name == "fashion-cnn") {
    return Model::Sequential(name, image, SeedCnn(), seed);
  }
  if (name == "mnist-dnn" || name == "fashion-dnn") {
    return Model::Sequential(name, image, Dnn(), seed);
  }
  if (name == "mnist-exercise") return Model::Sequential(name, image, Exercise(), seed);
  return absl::NotFoundError(absl::StrCat(
      "unknown model '", name, "'; built-in models: ", absl::StrJoin(BuiltinModelNames(), ", ")));
}

}  // namespace kiln
