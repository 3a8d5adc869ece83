// The course's binary lesson: one sigmoid output, binary_crossentropy (Keras's, computed from
// the logits: mean(softplus(z) - z y)) and binary accuracy ((z >= 0) == y), trained with
// RMSprop; PyTorch's BCEWithLogitsLoss is the same mean.
#include <cmath>
#include <filesystem>

#include "frontend/model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln {
namespace {

using testing::HasSubstr;

Model Logistic(uint64_t seed = 1) {
  auto model = Model::Sequential("logistic", {2, 2, 1}, {Flatten(), Dense(1, "sigmoid")}, seed);
  EXPECT_TRUE(model.ok()) << model.status();
  return *std::move(model);
}

// Labels: 1 where the image's first pixel is above one half.
Dataset Threshold(int64_t n) {
  Dataset d{Tensor(TensorType{DType::kF32, {n, 2, 2, 1}}), Tensor(TensorType{DType::kI32, {n}})};
  for (int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < 4; ++k)
      d.images.f32()[i * 4 + k] = std::fmod(0.37f * (i * 4 + k + 1), 1.0f);
    d.labels.i32()[i] = d.images.f32()[i * 4] > 0.5f ? 1 : 0;
  }
  return d;
}

TEST(BinaryCrossentropy, LossAndAccuracyAreKerasValues) {
  Model model = Logistic();
  ASSERT_TRUE(model.Compile(Optimizer::Rmsprop(), "binary_crossentropy").ok());
  ASSERT_TRUE(model.SetWeight("dense/kernel", Tensor(TensorType{DType::kF32, {4, 1}})).ok());
  ASSERT_TRUE(model.SetWeight("dense/bias", Tensor::F32({1}, {0.5f})).ok());
  Dataset data = Threshold(4);
  data.labels = Tensor::I32({4}, {0, 1, 1, 0});
  // z = 0.5 everywhere: softplus(0.5) = 0.974077, so the losses are 0.974077 (y = 0) and
  // 0.474077 (y = 1), mean 0.724077; every prediction is 1, half of them right.
  for (Backend backend : {Backend::kJit, Backend::kInterpreter}) {
    auto e = model.Evaluate(data, 4, backend);
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_NEAR(e->loss, 0.724077, 1e-6);
    EXPECT_DOUBLE_EQ(e->accuracy, 0.5);
  }
}

TEST(BinaryCrossentropy, RmspropLearnsATwoClassTaskOnBothBackendsAlike) {
  const Dataset data = Threshold(96);
  std::vector<double> losses[2];
  for (int k = 0; k < 2; ++k) {
    Model model = Logistic(3);
    ASSERT_TRUE(model.Compile(Optimizer::Rmsprop(0.05), "binary_crossentropy").ok());
    Model::FitOptions options;
    options.epochs = 30;
    options.batch_size = 16;
    options.verbose = 0;
    options.backend = k == 0 ? Backend::kJit : Backend::kInterpreter;
    auto history = model.Fit(data, options);
    ASSERT_TRUE(history.ok()) << history.status();
    for (const Logs& logs : history->epochs) losses[k].push_back(logs.at("loss"));
    EXPECT_GT(history->epochs.back().at("accuracy"), 0.9);
    EXPECT_LT(history->epochs.back().at("loss"), 0.5 * history->epochs.front().at("loss"));
    if (k == 0) {  // The loss travels in saved files.
      const std::string path =
          (std::filesystem::temp_directory_path() / "kiln_binary_test.kiln").string();
      ASSERT_TRUE(model.Save(path).ok());
      auto loaded = Model::Load(path);
      std::filesystem::remove(path);
      ASSERT_TRUE(loaded.ok()) << loaded.status();
      EXPECT_EQ(loaded->training_config().loss, "binary_crossentropy");
      EXPECT_EQ(loaded->optimizer().kind, Optimizer::Kind::kRmsprop);
      auto a = model.Evaluate(data), b = loaded->Evaluate(data);
      ASSERT_TRUE(a.ok() && b.ok());
      EXPECT_EQ(a->loss, b->loss);
    }
  }
  for (size_t e = 0; e < losses[0].size(); ++e) {
    EXPECT_NEAR(losses[0][e], losses[1][e], 1e-5 * std::max(1.0, losses[1][e])) << "epoch " << e;
  }
}

TEST(BinaryCrossentropy, MismatchedModelsAndLabelsAreClearErrors) {
  auto softmax = Model::Sequential("soft", {2, 2, 1}, {Flatten(), Dense(2, "softmax")});
  ASSERT_TRUE(softmax.ok());
  EXPECT_THAT(softmax->Compile(Optimizer::Adam(), "binary_crossentropy").message(),
              HasSubstr("binary_crossentropy needs a last layer Dense(1, activation='sigmoid')"));
  Model sigmoid = Logistic();
  EXPECT_THAT(sigmoid.Compile(Optimizer::Adam()).message(),
              HasSubstr("for two classes with one sigmoid output, use binary_crossentropy"));
  EXPECT_THAT(sigmoid.Compile(Optimizer::Adam(), "hinge").message(),
              HasSubstr("unsupported loss 'hinge'"));
  ASSERT_TRUE(sigmoid.Compile(Optimizer::Adam(), "binary_crossentropy").ok());
  Dataset three = Threshold(6);
  three.labels.i32()[2] = 2;
  Model::FitOptions options;
  options.verbose = 0;
  EXPECT_THAT(sigmoid.Fit(three, options).status().message(),
              HasSubstr("binary_crossentropy needs labels 0 and 1"));
}

}  // namespace
}  // namespace kiln
