// Gradients of whole built-in models checked by finite differences (CheckGradients on the eval
// graph, whose "loss" is the sparse softmax cross-entropy), and a few training steps through
// BuildTrainingGraph.
//
// Tolerances (max_relative_error: max |symbolic - numeric| over the checked elements divided by
// the parameter's largest |numeric|):
//
// * mnist-dnn: below kDnnTolerance = 5e-3 on one batch, epsilon 1e-3, 64 elements of every
//   parameter. Measured over 8 batches: at most 1.6e-3.
//
// * mnist-cnn: the median over kCnnBatches = 5 batches of each parameter's max_relative_error
//   below kCnnTolerance = 1e-2, and every batch below kCnnGross = 0.25; 24 elements of every
//   parameter. The median, not the max, because finite differences on this network are limited by
//   two effects no epsilon removes together:
//     - float32 rounding of the loss (ulp 2.4e-7 at loss ~2.3) puts up to ~1.2e-7 / eps of noise on
//       each difference: ~1e-4 at eps 1e-3, ~1% of the smaller parameters' gradients at 2e-4;
//     - ReLU and max-pool kinks: a perturbation that moves a pre-activation across 0 or swaps a
//       pooling window's winner corrupts that difference by up to half of that unit's share of
//       the gradient. CheckGradients skips elements whose one-sided differences disagree, but not
//       a unit sitting almost exactly on a kink (both one-sided differences see it). A first-layer
//       element moves all 2 x 26 x 26 pre-activations of its channel, and at eps 1e-3 about 10-25
//       of them lie within eps of a kink.
//   Measured over 12 random batches, each parameter's per-batch error is typically 0.1-1%, but
//   for conv2d/* and conv2d_1/bias one batch in three to six has a single element at 2-10%, so a
//   max over one batch cannot be held to 1e-2; a wrong rule or wiring error is O(1) on every batch
//   and fails both the median and the per-batch bound. Epsilon: 1e-3 (default), but 2e-4 for the
//   first convolution (conv2d/*), whose kink crossings at 1e-3 dominate (its per-batch errors were
//   1-5% at 1e-3, 0.3-2% at 2e-4).
//   Measured medians for the batches below: all parameters <= 5e-3 (printed by the test).
//
// Runtime: ~5 s for the CNN check on a slow 2-core machine (Release).
#include <algorithm>
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
#include "tests/test_util.h"

namespace kiln {
namespace {

constexpr int64_t kBatch = 2;
constexpr double kDnnTolerance = 5e-3;
constexpr double kCnnTolerance = 1e-2;
constexpr double kCnnGross = 0.25;
constexpr int kCnnBatches = 5;

using Rng = testing_util::SplitMix;

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

// A model's eval graph at batch 2 with its weights as feeds.
struct EvalSetup {
  Graph graph;
  NodeId loss = -1;
  std::map<std::string, Tensor> weights;
  std::vector<NodeId> params;
};

// `name`: a built-in model, or a model description file in examples/models.
void MakeEvalSetup(const std::string& name, size_t expected_params, EvalSetup* s) {
  auto model = name.find(".layers") != std::string::npos
                   ? Model::LoadLayers(std::string(KILN_SOURCE_DIR) + "/examples/models/" + name, 7)
                   : BuiltinModel(name, /*seed=*/7);
  ASSERT_TRUE(model.ok()) << model.status();
  auto graph = BuildEvalGraph(*model, kBatch);
  ASSERT_TRUE(graph.ok()) << graph.status();
  s->graph = *std::move(graph);
  s->loss = s->graph.Find("loss");
  ASSERT_GE(s->loss, 0);
  ASSERT_EQ(s->graph.node(s->loss).op, OpKind::kSoftmaxCrossEntropy);
  s->weights = model->weights();
  s->params = TrainableParameters(s->graph);
  ASSERT_EQ(s->params.size(), expected_params);
  for (NodeId p : s->params) {
    ASSERT_TRUE(s->weights.count(s->graph.node(p).name)) << s->graph.node(p).name;
  }
}

// CheckGradients for `params` on batch `seed`, printing each result; name -> result.
std::map<std::string, GradCheckResult> Check(const EvalSetup& s, const std::vector<NodeId>& params,
                                             uint64_t seed, double epsilon, int64_t max_elements) {
  std::map<std::string, Tensor> feeds = s.weights;
  feeds["image"] = Images(kBatch, seed);
  feeds["label"] = Labels(kBatch, seed + 1);
  GradCheckOptions options;
  options.epsilon = epsilon;
  options.max_elements = max_elements;
  auto results = CheckGradients(s.graph, s.loss, params, feeds, options);
  EXPECT_TRUE(results.ok()) << results.status();
  std::map<std::string, GradCheckResult> by_name;
  if (!results.ok()) return by_name;
  EXPECT_EQ(results->size(), params.size());
  for (const GradCheckResult& r : *results) {
    std::printf(
        "[gradcheck] %s batch %llu eps %g: %-16s checked %2lld (kinks skipped %2lld)  "
        "max|numeric| %.3g  max_relative_error %.3g\n",
        s.graph.name().c_str(), static_cast<unsigned long long>(seed), epsilon, r.parameter.c_str(),
        static_cast<long long>(r.checked), static_cast<long long>(r.skipped_kinks),
        r.max_abs_numeric, r.max_relative_error);
    by_name[r.parameter] = r;
  }
  return by_name;
}

TEST(ModelGradCheck, MnistCnnAllParameters) {
  EvalSetup s;
  MakeEvalSetup("mnist-cnn", 8, &s);  // conv2d, conv2d_1, dense, dense_1: kernel and bias each.
  if (HasFatalFailure()) return;
  std::vector<NodeId> first_conv, others;
  for (NodeId p : s.params) {
    (s.graph.node(p).name.rfind("conv2d/", 0) == 0 ? first_conv : others).push_back(p);
  }
  ASSERT_EQ(first_conv.size(), 2u);

  std::map<std::string, std::vector<double>> errors;
  std::map<std::string, int64_t> checked;
  for (int b = 1; b <= kCnnBatches; ++b) {
    auto results = Check(s, others, b, /*epsilon=*/1e-3, /*max_elements=*/24);
    auto first = Check(s, first_conv, b, /*epsilon=*/2e-4, /*max_elements=*/24);
    results.insert(first.begin(), first.end());
    ASSERT_EQ(results.size(), s.params.size());
    for (const auto& [name, r] : results) {
      EXPECT_LT(r.max_relative_error, kCnnGross) << name << " on batch " << b;
      errors[name].push_back(r.max_relative_error);
      checked[name] += r.checked;
    }
  }
  for (auto& [name, errs] : errors) {
    std::sort(errs.begin(), errs.end());
    const double median = errs[errs.size() / 2];
    std::printf(
        "[gradcheck] mnist-cnn %-16s median max_relative_error over %d batches %.3g "
        "(%lld elements compared)\n",
        name.c_str(), kCnnBatches, median, static_cast<long long>(checked[name]));
    EXPECT_LT(median, kCnnTolerance) << name;
    // Kink skipping must leave a real sample.
    EXPECT_GE(checked[name], 20) << name;
  }
}

TEST(ModelGradCheck, MnistDnnAllParameters) {
  EvalSetup s;
  MakeEvalSetup("mnist-dnn", 4, &s);
  if (HasFatalFailure()) return;
  auto results = Check(s, s.params, 1, /*epsilon=*/1e-3, /*max_elements=*/64);
  ASSERT_EQ(results.size(), 4u);
  for (const auto& [name, r] : results) {
    EXPECT_LT(r.max_relative_error, kDnnTolerance) << name;
    EXPECT_GE(r.checked, std::min<int64_t>(60, s.weights.at(name).size())) << name;
    EXPECT_GT(r.max_abs_numeric, 1e-3) << name;
  }
}

// Global average and max pooling and rescaling (models/global_*.layers). The average-pool model
// is smooth everywhere (tanh, swish), so it takes epsilon 1e-2: its kernels' gradients are small
// (max |numeric| ~3e-3), and at 1e-3 the loss's float32 rounding alone is ~2-4% of them
// (measured 0.7-1.9%); at 1e-2 one batch meets the DNN's bound. The max-pool model has kinks (a
// perturbation that changes a channel's winner, ReLU at 0): epsilon 1e-3, and the median over
// three batches takes the CNN's bound.
TEST(ModelGradCheck, GlobalPoolingModelFiles) {
  for (const char* file : {"global_average.layers", "global_max.layers"}) {
    EvalSetup s;
    const bool max = std::string(file) == "global_max.layers";
    MakeEvalSetup(file, max ? 8 : 6, &s);
    if (HasFatalFailure()) return;
    std::map<std::string, std::vector<double>> errors;
    for (int b = 1; b <= (max ? 3 : 1); ++b) {
      for (const auto& [name, r] : Check(s, s.params, b, max ? 1e-3 : 1e-2, /*max_elements=*/32)) {
        errors[name].push_back(r.max_relative_error);
        EXPECT_GE(r.checked, std::min<int64_t>(max ? 8 : 16, s.weights.at(name).size())) << name;
        EXPECT_GT(r.max_abs_numeric, 0) << name;
      }
    }
    ASSERT_EQ(errors.size(), s.params.size());
    for (auto& [name, errs] : errors) {
      std::sort(errs.begin(), errs.end());
      EXPECT_LT(errs[errs.size() / 2], max ? kCnnTolerance : kDnnTolerance) << file << " " << name;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Training steps: BuildTrainingGraph verifies, one step changes every parameter, and repeated steps
// on one fixed batch of 4 lower its loss. Each Run reports the loss from before its update.

struct Trainer {
  std::unique_ptr<Executable> exe;
  std::vector<std::string> params;
};

void MakeTrainer(const Model& model, int64_t batch, const Optimizer& opt, Trainer* t) {
  auto graph = BuildTrainingGraph(model, batch, opt);
  ASSERT_TRUE(graph.ok()) << graph.status();
  absl::Status verified = Verify(*graph);
  ASSERT_TRUE(verified.ok()) << verified;
  const OpKind update = opt.kind == Optimizer::Kind::kAdam ? OpKind::kApplyAdam : OpKind::kApplySgd;
  for (NodeId p : TrainableParameters(*graph)) {
    const std::string& name = graph->node(p).name;
    t->params.push_back(name);
    const NodeId u = graph->Find("update/" + name);
    ASSERT_GE(u, 0) << "no update for " << name;
    EXPECT_EQ(graph->node(u).op, update) << name;
    EXPECT_EQ(graph->node(u).inputs[0], p) << name;
  }
  ASSERT_EQ(t->params.size(), model.weights().size());
  auto exe = CreateInterpreter(*std::move(graph));
  ASSERT_TRUE(exe.ok()) << exe.status();
  t->exe = *std::move(exe);
  // Slots ("/m", "/v", "/velocity", "optimizer/step") start at zero, as after Compile.
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

// Runs one step, checks every parameter moved, then 5 more; returns the 6 losses.
std::vector<float> Train(const Optimizer& opt) {
  auto model = BuiltinModel("mnist-cnn", 3);
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return {};
  Trainer t;
  MakeTrainer(*model, 4, opt, &t);
  if (::testing::Test::HasFatalFailure()) return {};

  std::vector<float> losses = {Step(*t.exe)};
  for (const std::string& name : t.params) {
    auto after = t.exe->GetTensor(name);
    EXPECT_TRUE(after.ok()) << after.status();
    if (!after.ok()) continue;
    const Tensor& before = model->weights().at(name);
    EXPECT_EQ(after->size(), before.size());
    int64_t changed = 0, finite = 0;
    for (int64_t i = 0; i < before.size(); ++i) {
      changed += after->f32()[i] != before.f32()[i];
      finite += std::isfinite(after->f32()[i]);
    }
    EXPECT_GT(changed, 0) << opt.Describe() << ": " << name << " unchanged after one step";
    EXPECT_EQ(finite, before.size()) << opt.Describe() << ": " << name;
  }
  for (int i = 0; i < 5; ++i) losses.push_back(Step(*t.exe));
  if (opt.kind == Optimizer::Kind::kAdam) {
    auto step = t.exe->GetTensor("optimizer/step");
    EXPECT_TRUE(step.ok()) << step.status();
    if (step.ok()) {
      EXPECT_EQ(step->f32()[0], 6.0f);
    }
  }
  std::string trace;
  for (float l : losses) trace += std::to_string(l) + " ";
  std::printf("[train] %s losses: %s\n", opt.Describe().c_str(), trace.c_str());
  for (float l : losses) EXPECT_TRUE(std::isfinite(l)) << trace;
  return losses;
}

TEST(TrainingGraph, MnistCnnAdamStepsReduceLoss) {
  const std::vector<float> losses = Train(Optimizer::Adam());
  ASSERT_EQ(losses.size(), 6u);
  // Measured: 2.31 2.07 1.85 1.63 1.44 1.30.
  for (size_t i = 1; i < losses.size(); ++i) EXPECT_LT(losses[i], losses[i - 1]) << "step " << i;
  EXPECT_LT(losses.back(), 0.75f * losses.front());
}

TEST(TrainingGraph, MnistCnnNesterovSgdStepsReduceLoss) {
  const std::vector<float> losses = Train(Optimizer::Sgd(0.1, 0.9, true));
  ASSERT_EQ(losses.size(), 6u);
  // Measured: 2.31 1.96 1.45 1.79 4.74 2.11. lr 0.1 with Nesterov momentum 0.9 (an effective step
  // of up to lr / (1 - momentum) = 1) overshoots on a 4-example batch after two steps, so the
  // loss is not monotone: the first steps must descend, and the loss stays below where it began.
  EXPECT_LT(losses[1], losses[0]);
  EXPECT_LT(losses[2], losses[1]);
  EXPECT_LT(*std::min_element(losses.begin(), losses.end()), 0.75f * losses.front());
  EXPECT_LT(losses.back(), losses.front());
}

}  // namespace
}  // namespace kiln
