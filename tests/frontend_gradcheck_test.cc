// Gradients of whole built-in models checked by finite differences, and one-step / few-step
// training through BuildTrainingGraph.
//
// Tolerance: max_relative_error (CheckGradients: max |symbolic - numeric| over the checked
// elements, divided by the largest |numeric| of that parameter) below kTolerance = 5e-3 with the
// default epsilon 1e-3. This is looser than the per-op 2e-3 of autodiff_gradcheck_test.cc for two
// reasons: the loss (~2.3) is a float32 computed through thousands of float accumulations, so its
// rounding noise divided by the 2e-3 step is ~1e-4 absolute against gradients of ~1e-2..1e-1; and
// ReLU / max-pool kinks: a perturbation that moves a pre-activation across 0 or swaps a pooling
// window's maximum corrupts that finite difference. The inputs are fixed, so this is
// deterministic; the measured errors are printed by the tests.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "autodiff/gradcheck.h"
#include "frontend/builtin_models.h"
#include "frontend/model.h"
#include "frontend/training.h"
#include "gtest/gtest.h"
#include "ir/graph.h"
#include "ir/tensor.h"
#include "runtime/interpreter.h"

namespace kiln {
namespace {

constexpr double kTolerance = 5e-3;

// splitmix64: deterministic images and labels.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double Unit() { return static_cast<double>(Next() >> 11) * (1.0 / 9007199254740992.0); }

 private:
  uint64_t state_;
};

// Random images in [0, 1] of shape [batch, 28, 28, 1] and labels in [0, 10).
Tensor Images(int64_t batch, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(batch * 28 * 28);
  for (float& x : v) x = static_cast<float>(rng.Unit());
  return Tensor::F32({batch, 28, 28, 1}, v);
}
Tensor Labels(int64_t batch, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> v(batch);
  for (int32_t& l : v) l = static_cast<int32_t>(rng.Next() % 10);
  return Tensor::I32({batch}, v);
}

std::vector<NodeId> TrainableParameters(const Graph& g) {
  std::vector<NodeId> params;
  for (const Node& node : g.nodes()) {
    if (node.op == OpKind::kParameter && node.GetInt("trainable") != 0) params.push_back(node.id);
  }
  return params;
}

// CheckGradients on every trainable Parameter of `model`'s eval graph at batch 2.
void CheckModel(const std::string& name, int64_t max_elements, size_t expected_params) {
  auto model = BuiltinModel(name, /*seed=*/7);
  ASSERT_TRUE(model.ok()) << model.status();
  auto graph = BuildEvalGraph(*model, 2);
  ASSERT_TRUE(graph.ok()) << graph.status();
  const NodeId loss = graph->Find("loss");
  ASSERT_GE(loss, 0);
  ASSERT_EQ(graph->node(loss).op, OpKind::kSoftmaxCrossEntropy);

  std::map<std::string, Tensor> feeds = model->weights();
  feeds["image"] = Images(2, 1234);
  feeds["label"] = Tensor::I32({2}, {3, 8});
  const std::vector<NodeId> params = TrainableParameters(*graph);
  ASSERT_EQ(params.size(), expected_params);
  for (NodeId p : params) ASSERT_TRUE(feeds.count(graph->node(p).name)) << graph->node(p).name;

  GradCheckOptions options;
  options.epsilon = 1e-3;
  options.max_elements = max_elements;
  auto results = CheckGradients(*graph, loss, params, feeds, options);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), params.size());
  for (const GradCheckResult& r : *results) {
    std::printf("[gradcheck] %s %-18s checked %3lld  max|numeric| %.3g  max_relative_error %.3g\n",
                name.c_str(), r.parameter.c_str(), static_cast<long long>(r.checked),
                r.max_abs_numeric, r.max_relative_error);
    EXPECT_EQ(r.checked, max_elements) << r.parameter;
    EXPECT_LT(r.max_relative_error, kTolerance) << name << ": d loss / d " << r.parameter;
    EXPECT_GT(r.max_abs_numeric, 1e-4) << name << ": " << r.parameter << " has no gradient";
  }
}

TEST(ModelGradCheck, MnistCnnAllParameters) {
  // conv2d, conv2d_1, dense, dense_1: kernel and bias each.
  CheckModel("mnist-cnn", 24, 8);
}

TEST(ModelGradCheck, MnistDnnAllParameters) { CheckModel("mnist-dnn", 64, 4); }

// ---------------------------------------------------------------------------------------------
// Training steps.

struct Trainer {
  std::unique_ptr<Executable> exe;
  std::vector<std::string> params;
};

void MakeTrainer(const Model& model, int64_t batch, const Optimizer& opt, Trainer* t) {
  auto graph = BuildTrainingGraph(model, batch, opt);
  ASSERT_TRUE(graph.ok()) << graph.status();
  absl::Status verified = Verify(*graph);
  ASSERT_TRUE(verified.ok()) << verified;
  for (NodeId p : TrainableParameters(*graph)) t->params.push_back(graph->node(p).name);
  ASSERT_EQ(t->params.size(), model.weights().size());
  auto exe = CreateInterpreter(*std::move(graph));
  ASSERT_TRUE(exe.ok()) << exe.status();
  t->exe = *std::move(exe);
  // Slots ("/m", "/v", "/velocity", "optimizer/step") start at zero, as in Compile.
  for (const auto& [name, value] : model.weights()) {
    ASSERT_TRUE(t->exe->SetTensor(name, value).ok()) << name;
  }
  ASSERT_TRUE(t->exe->SetTensor("image", Images(batch, 99)).ok());
  ASSERT_TRUE(t->exe->SetTensor("label", Labels(batch, 98)).ok());
}

float Step(Executable& exe) {
  absl::Status s = exe.Run();
  EXPECT_TRUE(s.ok()) << s;
  auto loss = exe.GetTensor("loss");
  EXPECT_TRUE(loss.ok()) << loss.status();
  return loss.ok() ? loss->f32()[0] : NAN;
}

void CheckTraining(const Optimizer& opt) {
  auto model = BuiltinModel("mnist-cnn", 3);
  ASSERT_TRUE(model.ok()) << model.status();
  Trainer t;
  MakeTrainer(*model, 4, opt, &t);
  if (::testing::Test::HasFatalFailure()) return;

  std::vector<float> losses = {Step(*t.exe)};
  // One step changes every parameter (all of them get a nonzero gradient on this batch).
  for (const std::string& name : t.params) {
    auto after = t.exe->GetTensor(name);
    ASSERT_TRUE(after.ok()) << after.status();
    const Tensor& before = model->weights().at(name);
    ASSERT_EQ(after->size(), before.size());
    int64_t changed = 0;
    for (int64_t i = 0; i < before.size(); ++i) changed += after->f32()[i] != before.f32()[i];
    EXPECT_GT(changed, 0) << opt.Describe() << ": " << name << " unchanged after one step";
    for (int64_t i = 0; i < before.size(); ++i) {
      ASSERT_TRUE(std::isfinite(after->f32()[i])) << name << "[" << i << "]";
    }
  }
  // The loss on the same batch goes down over a few steps (each Run reports the loss before its
  // update).
  for (int i = 0; i < 5; ++i) losses.push_back(Step(*t.exe));
  std::string trace;
  for (float l : losses) trace += std::to_string(l) + " ";
  std::printf("[train] %s losses: %s\n", opt.Describe().c_str(), trace.c_str());
  EXPECT_LT(losses.back(), losses.front()) << opt.Describe() << ": " << trace;
  EXPECT_LT(losses.back(), 0.9f * losses.front()) << opt.Describe() << ": " << trace;
}

TEST(TrainingGraph, MnistCnnAdamStepsReduceLoss) { CheckTraining(Optimizer::Adam()); }

TEST(TrainingGraph, MnistCnnNesterovSgdStepsReduceLoss) {
  CheckTraining(Optimizer::Sgd(0.1, 0.9, true));
}

}  // namespace
}  // namespace kiln
