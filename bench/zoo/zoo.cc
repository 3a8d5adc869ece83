#include "bench/zoo/zoo.h"

#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "frontend/builtin_models.h"
#include "ir/status.h"

namespace kiln {
namespace {

const Dims kImage = {28, 28, 1};

Conv2DOptions Conv(std::string activation, std::string padding = "valid", int64_t stride = 1) {
  Conv2DOptions o;
  o.activation = std::move(activation);
  o.padding = std::move(padding);
  o.strides = {stride, stride};
  return o;
}

PoolOptions Pool(int64_t stride, std::string padding = "valid") {
  PoolOptions o;
  o.strides = {stride, stride};
  o.padding = std::move(padding);
  return o;
}

// LeNet-style: 5x5 "same" conv with tanh, average pooling, a second 5x5 conv, sigmoid and tanh
// dense layers.
absl::StatusOr<Model> LeNet(const std::string& name, uint64_t seed) {
  return Model::Sequential(name, kImage,
                           {Conv2D(32, {5, 5}, Conv("tanh", "same")), AveragePooling2D({2, 2}),
                            Conv2D(48, {5, 5}, Conv("tanh")), AveragePooling2D({2, 2}), Flatten(),
                            Dense(120, "sigmoid"), Dense(84, "tanh"), Dense(10, "softmax")},
                           seed);
}

// VGG-style: pairs of 3x3 "same" convs, 32-32-pool-64-64-pool, Dense 256.
absl::StatusOr<Model> Vgg(const std::string& name, uint64_t seed) {
  return Model::Sequential(
      name, kImage,
      {Conv2D(32, {3, 3}, Conv("relu", "same")), Conv2D(32, {3, 3}, Conv("relu", "same")),
       MaxPooling2D({2, 2}), Conv2D(64, {3, 3}, Conv("relu", "same")),
       Conv2D(64, {3, 3}, Conv("relu", "same")), MaxPooling2D({2, 2}), Flatten(),
       Dense(256, "relu"), Dense(10, "softmax")},
      seed);
}

// All-convolutional: stride-2 convs instead of pooling, odd channel counts 24/40/80.
absl::StatusOr<Model> AllConv(const std::string& name, uint64_t seed) {
  return Model::Sequential(
      name, kImage,
      {Conv2D(24, {3, 3}, Conv("relu", "same")), Conv2D(40, {3, 3}, Conv("relu", "same", 2)),
       Conv2D(40, {3, 3}, Conv("relu", "same")), Conv2D(80, {3, 3}, Conv("relu", "same", 2)),
       Conv2D(80, {3, 3}, Conv("relu")), Flatten(), Dense(10, "softmax")},
      seed);
}

// Residual blocks: x + conv(relu(conv(x))), then ReLU, at two widths.
absl::StatusOr<Model> ResNet(const std::string& name, uint64_t seed) {
  auto block = [](GraphBuilder& g, NodeId x, int64_t c) -> absl::StatusOr<NodeId> {
    KILN_ASSIGN_OR_RETURN(NodeId y, g.Conv2D(x, c, {3, 3}, Conv("relu", "same")));
    KILN_ASSIGN_OR_RETURN(y, g.Conv2D(y, c, {3, 3}, Conv("", "same")));
    KILN_ASSIGN_OR_RETURN(NodeId sum, g.Add(x, y));
    return g.Activation(sum, "relu");
  };
  ModelFn fn = [block](GraphBuilder& g, NodeId x) -> absl::StatusOr<NodeId> {
    KILN_ASSIGN_OR_RETURN(NodeId h, g.Conv2D(x, 32, {3, 3}, Conv("relu", "same")));
    KILN_ASSIGN_OR_RETURN(h, block(g, h, 32));
    KILN_ASSIGN_OR_RETURN(h, g.MaxPooling2D(h, {2, 2}));
    KILN_ASSIGN_OR_RETURN(h, g.Conv2D(h, 64, {3, 3}, Conv("relu", "same")));
    KILN_ASSIGN_OR_RETURN(h, block(g, h, 64));
    KILN_ASSIGN_OR_RETURN(h, g.MaxPooling2D(h, {2, 2}));
    KILN_ASSIGN_OR_RETURN(h, g.Flatten(h));
    return g.Dense(h, 10, "softmax");
  };
  return Model::Functional(name, kImage, fn, seed);
}

// Overlapping 3x3 max pooling with stride 2 after each conv.
absl::StatusOr<Model> OverlapPool(const std::string& name, uint64_t seed) {
  return Model::Sequential(name, kImage,
                           {Conv2D(32, {3, 3}, Conv("relu")), MaxPooling2D({3, 3}, Pool(2)),
                            Conv2D(64, {3, 3}, Conv("relu")), MaxPooling2D({3, 3}, Pool(2)),
                            Flatten(), Dense(128, "relu"), Dense(10, "softmax")},
                           seed);
}

// A wide first layer (128 5x5 filters on the raw image), then a narrow one.
absl::StatusOr<Model> Wide(const std::string& name, uint64_t seed) {
  return Model::Sequential(name, kImage,
                           {Conv2D(128, {5, 5}, Conv("relu")), MaxPooling2D({2, 2}),
                            Conv2D(32, {3, 3}, Conv("relu")), MaxPooling2D({2, 2}), Flatten(),
                            Dense(10, "softmax")},
                           seed);
}

struct Recipe {
  ZooEntry entry;
  std::function<absl::StatusOr<Model>(const std::string&, uint64_t)> make;
};

const std::vector<Recipe>& Recipes() {
  static const auto* recipes = new std::vector<Recipe>{
      {{"zoo-seed", "the seed CNN: 3x3 valid convs 64-64, 2x2 max pools, Dense 128"},
       [](const std::string&, uint64_t s) { return BuiltinModel("mnist-cnn", s); }},
      {{"zoo-exercise", "the course exercise: one 3x3 conv, one 2x2 max pool, Dense 128"},
       [](const std::string&, uint64_t s) { return BuiltinModel("mnist-exercise", s); }},
      {{"zoo-dense", "the dense net: Flatten, Dense 128 relu, Dense 10"},
       [](const std::string&, uint64_t s) { return BuiltinModel("mnist-dnn", s); }},
      {{"zoo-lenet", "LeNet-style: 5x5 same tanh convs, average pooling, sigmoid/tanh dense"},
       LeNet},
      {{"zoo-vgg", "VGG-style: 3x3 same conv pairs 32-32-pool-64-64-pool, Dense 256"}, Vgg},
      {{"zoo-allconv", "all-convolutional: stride-2 same convs, channels 24/40/80"}, AllConv},
      {{"zoo-resnet", "residual blocks (Add) at 32 and 64 channels"}, ResNet},
      {{"zoo-overlap", "overlapping 3x3 stride-2 max pooling"}, OverlapPool},
      {{"zoo-wide", "a wide first layer: 128 5x5 filters"}, Wide},
  };
  return *recipes;
}

}  // namespace

std::vector<ZooEntry> ZooModels() {
  std::vector<ZooEntry> out;
  for (const Recipe& r : Recipes()) out.push_back(r.entry);
  return out;
}

bool IsZooModel(const std::string& name) {
  for (const Recipe& r : Recipes()) {
    if (r.entry.name == name) return true;
  }
  return false;
}

absl::StatusOr<Model> ZooModel(const std::string& name, uint64_t seed) {
  for (const Recipe& r : Recipes()) {
    if (r.entry.name == name) return r.make(name, seed);
  }
  std::vector<std::string> names;
  for (const Recipe& r : Recipes()) names.push_back(r.entry.name);
  return absl::NotFoundError(
      absl::StrCat("unknown zoo model '", name, "'; zoo models: ", absl::StrJoin(names, ", ")));
}

}  // namespace kiln
