#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "frontend/builtin_models.h"
#include "frontend/model.h"
#include "frontend/progress.h"
#include "gtest/gtest.h"
#include "ir/text_format.h"

namespace kiln {
namespace {

TEST(Summary, SeedModelMatchesKeras) {
  auto model = BuiltinModel("mnist-cnn");
  ASSERT_TRUE(model.ok()) << model.status();
  const std::string expected_rows =
      " conv2d (Conv2D)                  (None, 26, 26, 64)     640         865.3K        169.0 "
      "KiB\n"
      " max_pooling2d (MaxPooling2D)     (None, 13, 13, 64)     0           43.3K         42.2 "
      "KiB\n"
      " conv2d_1 (Conv2D)                (None, 11, 11, 64)     36,928      8.94M         30.2 "
      "KiB\n"
      " max_pooling2d_1 (MaxPooling2D)   (None, 5, 5, 64)       0           6400          6.2 KiB\n"
      " flatten (Flatten)                (None, 1600)           0           0             6.2 KiB\n"
      " dense (Dense)                    (None, 128)            204,928     409.9K        512 B\n"
      " dense_1 (Dense)                  (None, 10)             1,290       2580          40 B\n";
  const std::string summary = model->Summary();
  EXPECT_NE(summary.find("Model: \"mnist-cnn\""), std::string::npos) << summary;
  EXPECT_NE(summary.find(expected_rows), std::string::npos) << summary;
  EXPECT_NE(summary.find("\nTotal params: 243,786\n"), std::string::npos) << summary;
  EXPECT_NE(summary.find("\nTrainable params: 243,786\n"), std::string::npos) << summary;
  EXPECT_NE(summary.find("\nNon-trainable params: 0\n"), std::string::npos) << summary;
  // 2 * (26*26*64*9 + 11*11*64*576 + 1600*128 + 128*10) multiply-adds plus bias/ReLU/pool ops.
  EXPECT_NE(summary.find("Forward FLOPs per example: 10,263,956"), std::string::npos) << summary;
  EXPECT_EQ(model->CountParams(), 243786);
}

TEST(Summary, ColumnsWidenForLongNames) {
  auto model = Model::Sequential(
      "m", {28, 28, 1},
      {Conv2D(8, {3, 3}), AveragePooling2D({2, 2}), Flatten(), Dense(10, "softmax")}, 1);
  ASSERT_TRUE(model.ok()) << model.status();
  const std::string summary = model->Summary();
  // "average_pooling2d (AveragePooling2D)" is 36 characters: every row's shape column starts
  // one space after the longest name, and the rules span the widened table.
  std::vector<std::string> lines = absl::StrSplit(summary, '\n');
  size_t shape_column = 0;
  for (const std::string& line : lines) {
    const size_t at = line.find("(None,");
    if (at == std::string::npos) continue;
    if (shape_column == 0) shape_column = at;
    EXPECT_EQ(at, shape_column) << summary;
  }
  EXPECT_EQ(shape_column, 1 + 36 + 2) << summary;
  EXPECT_EQ(lines[1].size(), lines[3].size()) << summary;
  EXPECT_EQ(lines[1].size(), size_t{(36 + 1) + 22 + 42 + 2}) << summary;
}

TEST(Layers, EveryActivationOfTheOpTableBuilds) {
  for (const char* name : {"leaky_relu", "elu", "gelu", "swish", "softplus"}) {
    Conv2DOptions conv;
    conv.activation = name;
    auto model = Model::Sequential(
        "m", {8, 8, 1}, {Conv2D(4, {3, 3}, conv), Flatten(), Dense(3, name), Dense(2, "softmax")},
        1);
    EXPECT_TRUE(model.ok()) << name << ": " << model.status();
  }
}

TEST(BuiltinModels, ParameterCounts) {
  EXPECT_EQ(BuiltinModel("mnist-dnn")->CountParams(), 784 * 128 + 128 + 1290);
  EXPECT_EQ(BuiltinModel("mnist-exercise")->CountParams(), 640 + 13 * 13 * 64 * 128 + 128 + 1290);
  auto missing = BuiltinModel("resnet");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("mnist-cnn"), std::string::npos);
}

TEST(Layers, KernelLargerThanInputIsAClearError) {
  Conv2DOptions relu;
  relu.activation = "relu";
  auto model = Model::Sequential("tiny", {3, 3, 1}, {Conv2D(8, {5, 5}, relu)});
  ASSERT_FALSE(model.ok());
  const std::string msg(model.status().message());
  EXPECT_NE(msg.find("conv2d"), std::string::npos) << msg;
  EXPECT_NE(msg.find("5x5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(None, 3, 3, 1)"), std::string::npos) << msg;
}

TEST(Layers, BadArgumentsNameTheLayer) {
  Conv2DOptions bad_act;
  bad_act.activation = "swishy";
  auto act = Model::Sequential("m", {8, 8, 1}, {Conv2D(4, {3, 3}, bad_act)});
  ASSERT_FALSE(act.ok());
  EXPECT_NE(act.status().message().find("swishy"), std::string::npos);
  // The message lists every activation of the op table.
  for (const char* name : {"relu", "tanh", "leaky_relu", "elu", "gelu", "swish", "softplus"}) {
    EXPECT_NE(act.status().message().find(name), std::string::npos) << act.status();
  }
  auto filters = Model::Sequential("m", {8, 8, 1}, {Conv2D(0, {3, 3})});
  ASSERT_FALSE(filters.ok());
  EXPECT_NE(filters.status().message().find("filters"), std::string::npos);
  auto dense = Model::Sequential("m", {8, 8, 1}, {Dense(10)});
  ASSERT_FALSE(dense.ok());
  EXPECT_NE(dense.status().message().find("Flatten"), std::string::npos) << dense.status();
  PoolOptions same;
  same.padding = "full";
  auto pool = Model::Sequential("m", {8, 8, 1}, {MaxPooling2D({2, 2}, same)});
  ASSERT_FALSE(pool.ok());
  EXPECT_NE(pool.status().message().find("max_pooling2d"), std::string::npos);
  EXPECT_FALSE(Model::Sequential("m", {8, 8, 1}, {}).ok());
  EXPECT_FALSE(Model::Sequential("m", {0, 8, 1}, {Flatten()}).ok());
}

TEST(Init, GlorotUniformKernelsZeroBiasesSeeded) {
  auto a = BuiltinModel("mnist-cnn", 7);
  auto b = BuiltinModel("mnist-cnn", 7);
  auto c = BuiltinModel("mnist-cnn", 8);
  const Tensor& k = a->weights().at("dense/kernel");
  const float limit = std::sqrt(6.0f / (1600 + 128));
  double mean = 0;
  float lo = 1, hi = -1;
  for (float v : k.f32_span()) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    mean += v;
  }
  mean /= k.size();
  EXPECT_GE(lo, -limit);
  EXPECT_LE(hi, limit);
  EXPECT_GT(hi, 0.95f * limit);  // The whole range is used.
  EXPECT_LT(std::abs(mean), 0.01 * limit);
  for (float v : a->weights().at("conv2d/bias").f32_span()) EXPECT_EQ(v, 0.0f);
  EXPECT_TRUE(k.BitwiseEqual(b->weights().at("dense/kernel")));
  EXPECT_FALSE(k.BitwiseEqual(c->weights().at("dense/kernel")));
}

TEST(Predict, RaggedBatchesMatchOneBigBatch) {
  auto model = BuiltinModel("mnist-cnn", 3);
  Tensor images(TensorType{DType::kF32, {5, 28, 28, 1}});
  for (int64_t i = 0; i < images.size(); ++i)
    images.f32()[i] = static_cast<float>((i * 37) % 101) / 100;
  auto all = model->Predict(images, 5);
  auto ragged = model->Predict(images, 2);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_TRUE(ragged.ok()) << ragged.status();
  EXPECT_EQ(all->dims(), (Dims{5, 10}));
  for (int64_t i = 0; i < all->size(); ++i) EXPECT_NEAR(all->f32()[i], ragged->f32()[i], 1e-6);
  for (int r = 0; r < 5; ++r) {
    double sum = 0;
    for (int c = 0; c < 10; ++c) sum += all->f32()[r * 10 + c];
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
  Tensor wrong(TensorType{DType::kF32, {2, 28, 28, 3}});
  EXPECT_FALSE(model->Predict(wrong).ok());
}

TEST(Functional, ResidualGraphBuildsAndRuns) {
  ModelFn fn = [](GraphBuilder& b, NodeId x) -> absl::StatusOr<NodeId> {
    Conv2DOptions same;
    same.padding = "same";
    same.activation = "relu";
    auto a = b.Conv2D(x, 4, {3, 3}, same);
    if (!a.ok()) return a.status();
    auto c = b.Conv2D(*a, 4, {3, 3}, same);
    if (!c.ok()) return c.status();
    auto sum = b.Add(*a, *c);
    if (!sum.ok()) return sum.status();
    auto flat = b.Flatten(*sum);
    if (!flat.ok()) return flat.status();
    return b.Dense(*flat, 3, "softmax");
  };
  auto model = Model::Functional("residual", {6, 6, 1}, fn, 1);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_NE(model->Summary().find("add (Add)"), std::string::npos);
  auto fwd = model->Build(2);
  ASSERT_TRUE(fwd.ok());
  auto reparsed = ParseGraph(PrintGraph(fwd->graph));
  ASSERT_TRUE(reparsed.ok()) << reparsed.status();
  EXPECT_EQ(PrintGraph(*reparsed), PrintGraph(fwd->graph));
  Tensor images(TensorType{DType::kF32, {2, 6, 6, 1}});
  auto probs = model->Predict(images);
  ASSERT_TRUE(probs.ok()) << probs.status();
  EXPECT_EQ(probs->dims(), (Dims{2, 3}));
}

TEST(Progress, KerasStyleLine) {
  Logs logs = {{"loss", 0.12345}, {"accuracy", 0.9612}};
  EXPECT_EQ(ProgressBar::Line(938, 938, 12.4, logs, true),
            "938/938 [==============================] - 12s 13ms/step - loss: 0.1235 - "
            "accuracy: 0.9612");
  EXPECT_EQ(ProgressBar::Line(469, 938, 6.0, {}, false),
            "469/938 [==============>...............] - ETA: 6s 13ms/step");
}

}  // namespace
}  // namespace kiln
