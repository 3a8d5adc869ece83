// The JIT against the reference interpreter on whole training steps of the seed CNN, the fused
// graph on the interpreter against the unfused one, thread-count independence, and the frontend
// entry points (Fit, Predict) on both backends.
//
// Tolerances (ref = the interpreter on the graph as built; `scale` = max(1, max |ref|) per
// tensor). The JIT sums convolutions and matmuls in float, vectorized, in its own order, while
// the interpreter's kernels accumulate differently, so every step's gradients differ in their
// last bits and the differences compound over the steps (Adam normalizes each element's update,
// so relative noise on tiny gradients becomes absolute weight noise). Measured on the
// development machine (x86-64, 2 threads), printed by the tests on every run:
//   10 steps, Adam:         loss rel 1.0e-7, weights 6.9e-7 * scale, accuracy identical
//   10 steps, SGD+Nesterov: loss rel 1.1e-7, weights 9.1e-8 * scale, accuracy identical
//   Fit, 2 epochs (8 steps incl. ragged batches of 4), SGD with momentum: epoch loss rel
//   9.9e-8, weights 3.7e-8
// Fit uses SGD: it checks Fit's plumbing (ragged batches, state hand-over, per-epoch logs), and
// Adam (eps 1e-7) turns last-bit differences in near-zero conv-filter gradients into weight
// differences up to ~1e-4 over a few steps (seen when the loss kernel's code changed, bits
// identical at batch 4, 1 ulp apart at 16); the 10-step tests above cover Adam.
//   Predict: max |diff| 2.2e-8
// Bounds, each with >= ~30x headroom over those numbers (room for another CPU's vector width,
// i.e. another summation order) yet far below what a wrong kernel gives (a wrong gradient
// moves Adam's weights by ~lr = 1e-3 per step):
//   * loss: |jit - ref| <= kLossTol * max(1, |ref|) at every step (1e-5);
//   * every parameter and optimizer slot after the last step: max |jit - ref| <= kWeightTol *
//     scale (2e-5);
//   * accuracy: a batch mean of 0/1 argmax hits; a near-tied pair of logits may flip one
//     example, so |jit - ref| <= 1/batch;
//   * Fit: per-epoch mean loss within kLossTol relative, accuracy within 1/N, final weights
//     within kWeightTol * scale;
//   * Predict: probabilities within 1e-5 absolute.
// The fused graph on the interpreter vs the unfused one: the fused ops run the same kernels in
// the same order, so kFusedTol = 1e-6 * scale (measured: bitwise identical). JIT thread counts
// 1, 2, 3: bitwise identical (tasks own disjoint outputs and never reduce across tasks).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "codegen/jit.h"
#include "frontend/builtin_models.h"
#include "frontend/datasets.h"
#include "frontend/initializers.h"
#include "frontend/model.h"
#include "frontend/training.h"
#include "gtest/gtest.h"
#include "ir/graph.h"
#include "ir/passes/passes.h"
#include "ir/tensor.h"
#include "ir/text_format.h"
#include "runtime/interpreter.h"

namespace kiln {
namespace {

constexpr int64_t kBatch = 16;
constexpr double kLossTol = 1e-5;
constexpr double kWeightTol = 2e-5;
constexpr double kFusedTol = 1e-6;

struct Batch {
  Tensor images;  // f32 [kBatch, 28, 28, 1] in [0, 1).
  Tensor labels;  // i32 [kBatch] in [0, 10).
};

// Fixed pseudo-random batches: the same data on every run and for every backend.
std::vector<Batch> MakeBatches(int count, uint64_t seed) {
  Rng rng(seed);
  std::vector<Batch> batches;
  for (int b = 0; b < count; ++b) {
    Batch batch{Tensor(TensorType{DType::kF32, {kBatch, 28, 28, 1}}),
                Tensor(TensorType{DType::kI32, {kBatch}})};
    for (float& v : batch.images.f32_span()) v = rng.UniformFloat();
    for (int64_t i = 0; i < kBatch; ++i) {
      batch.labels.i32()[i] = static_cast<int32_t>(rng.UniformInt(10));
    }
    batches.push_back(std::move(batch));
  }
  return batches;
}

Dataset MakeDataset(int64_t n, uint64_t seed) {
  Rng rng(seed);
  Dataset d{Tensor(TensorType{DType::kF32, {n, 28, 28, 1}}), Tensor(TensorType{DType::kI32, {n}})};
  for (float& v : d.images.f32_span()) v = rng.UniformFloat();
  for (int64_t i = 0; i < n; ++i) d.labels.i32()[i] = static_cast<int32_t>(rng.UniformInt(10));
  return d;
}

// Every Parameter from the model's weights; optimizer slots (and Adam's step) start at zero.
void LoadInitialState(Executable& exe, const Model& model) {
  for (const Node& node : exe.graph().nodes()) {
    if (node.op != OpKind::kParameter) continue;
    auto w = model.weights().find(node.name);
    const Tensor value = w != model.weights().end() ? w->second : Tensor(node.type);
    ASSERT_TRUE(exe.SetTensor(node.name, value).ok()) << node.name;
  }
}

struct Metrics {
  float loss = 0, accuracy = 0;
};

Metrics RunStep(Executable& exe, const Batch& batch) {
  Metrics m;
  EXPECT_TRUE(exe.SetTensor("image", batch.images).ok());
  EXPECT_TRUE(exe.SetTensor("label", batch.labels).ok());
  const absl::Status run = exe.Run();
  EXPECT_TRUE(run.ok()) << run;
  auto loss = exe.GetTensor("loss");
  auto accuracy = exe.GetTensor("accuracy");
  EXPECT_TRUE(loss.ok() && accuracy.ok());
  if (loss.ok()) m.loss = loss->f32()[0];
  if (accuracy.ok()) m.accuracy = accuracy->f32()[0];
  return m;
}

std::vector<std::string> ParameterNames(const Graph& g) {
  std::vector<std::string> names;
  for (const Node& node : g.nodes()) {
    if (node.op == OpKind::kParameter) names.push_back(node.name);
  }
  return names;
}

// max |got - ref| / max(1, max |ref|) over a tensor (infinite if the types differ or NaN appears).
double ScaledDiff(const Tensor& ref, const Tensor& got) {
  if (ref.type() != got.type()) return INFINITY;
  double scale = 1, worst = 0;
  for (float r : ref.f32_span()) scale = std::max(scale, std::fabs(static_cast<double>(r)));
  for (int64_t i = 0; i < ref.size(); ++i) {
    const double d = std::fabs(static_cast<double>(got.f32()[i]) - ref.f32()[i]);
    if (std::isnan(d)) return INFINITY;
    worst = std::max(worst, d);
  }
  return worst / scale;
}

// Compares every Parameter of `got` with `ref`; returns the worst scaled difference.
double CompareParameters(const Executable& ref, const Executable& got, double tol) {
  double worst = 0;
  const std::vector<std::string> names = ParameterNames(ref.graph());
  EXPECT_FALSE(names.empty());
  for (const std::string& name : names) {
    auto r = ref.GetTensor(name);
    auto g = got.GetTensor(name);
    EXPECT_TRUE(r.ok() && g.ok()) << name;
    if (!r.ok() || !g.ok()) continue;
    const double d = ScaledDiff(*r, *g);
    EXPECT_LE(d, tol) << name;
    worst = std::max(worst, d);
  }
  return worst;
}

struct Trainer {
  Model model;
  Graph train;
};

Trainer MakeTrainer(const Optimizer& optimizer) {
  auto model = BuiltinModel("mnist-cnn", 1);
  EXPECT_TRUE(model.ok()) << model.status();
  auto train = BuildTrainingGraph(*model, kBatch, optimizer);
  EXPECT_TRUE(train.ok()) << train.status();
  return {*std::move(model), *std::move(train)};
}

// (a) Ten steps on the interpreter (unfused graph) and on the JIT (which fuses internally).
void ExpectJitTracksInterpreter(const Optimizer& optimizer, const char* label) {
  Trainer t = MakeTrainer(optimizer);
  auto ref = CreateInterpreter(t.train);
  ASSERT_TRUE(ref.ok()) << ref.status();
  auto jit = CreateJit(t.train, JitOptions{.threads = 2});
  ASSERT_TRUE(jit.ok()) << jit.status();
  LoadInitialState(**ref, t.model);
  LoadInitialState(**jit, t.model);
  if (testing::Test::HasFatalFailure()) return;
  const std::vector<Batch> batches = MakeBatches(10, 7);
  double worst_loss = 0, worst_accuracy = 0;
  for (int step = 0; step < 10; ++step) {
    const Metrics r = RunStep(**ref, batches[step]);
    const Metrics j = RunStep(**jit, batches[step]);
    const double loss_diff = std::fabs(static_cast<double>(j.loss) - r.loss) /
                             std::max(1.0, std::fabs(static_cast<double>(r.loss)));
    EXPECT_LE(loss_diff, kLossTol) << "step " << step << ": ref " << r.loss << " jit " << j.loss;
    EXPECT_LE(std::fabs(j.accuracy - r.accuracy), 1.0 / kBatch + 1e-6)
        << "step " << step << ": ref " << r.accuracy << " jit " << j.accuracy;
    EXPECT_TRUE(std::isfinite(r.loss));
    worst_loss = std::max(worst_loss, loss_diff);
    worst_accuracy =
        std::max(worst_accuracy, std::fabs(static_cast<double>(j.accuracy) - r.accuracy));
  }
  const double worst_weight = CompareParameters(**ref, **jit, kWeightTol);
  std::printf(
      "[%s] JIT vs interpreter over 10 steps: max loss rel diff %.3g, max accuracy diff "
      "%.3g, max weight scaled diff %.3g\n",
      label, worst_loss, worst_accuracy, worst_weight);
  // The weights moved: the comparison is not of two untouched initializations.
  auto before = t.model.weights().at("dense/kernel");
  auto after = (*ref)->GetTensor("dense/kernel");
  ASSERT_TRUE(after.ok());
  EXPECT_GT(ScaledDiff(before, *after), 1e-4);
}

TEST(JitTraining, AdamTenStepsMatchInterpreter) {
  ExpectJitTracksInterpreter(Optimizer::Adam(), "adam");
}

TEST(JitTraining, SgdNesterovTenStepsMatchInterpreter) {
  ExpectJitTracksInterpreter(Optimizer::Sgd(0.05, 0.9, true), "sgd");
}

// (b) The fused patterns are correct as IR nodes: the interpreter runs the optimized graph and
// the graph as built to the same results.
TEST(FusedGraph, InterpreterOnFusedGraphMatchesUnfused) {
  Trainer t = MakeTrainer(Optimizer::Adam());
  auto fused = OptimizeGraph(t.train);
  ASSERT_TRUE(fused.ok()) << fused.status();
  // Every pattern the CNN's step contains was rewritten.
  std::map<OpKind, int> counts;
  for (const Node& node : fused->nodes()) ++counts[node.op];
  EXPECT_EQ(counts[OpKind::kFusedConv2DMaxPool], 2) << PrintGraph(*fused);
  // Two dense layers, and the input gradient masked by the first one's ReLU in its epilogue.
  EXPECT_EQ(counts[OpKind::kFusedDense], 3);
  // Both conv layers keep the routes of their pools for the backward pass, not their results.
  EXPECT_EQ(counts[OpKind::kRoutedMaxPool2DGrad], 1);
  EXPECT_EQ(counts[OpKind::kFusedMaxPool2DGrad], 0);
  EXPECT_EQ(counts[OpKind::kFusedConvPoolFilterGrad], 1);  // The first layer's backward pass.
  for (const Node& node : fused->nodes()) {
    if (node.op == OpKind::kFusedConv2DMaxPool) EXPECT_EQ(node.GetStr("keep"), "routes");
  }
  EXPECT_EQ(counts[OpKind::kConv2D], 0);
  // 2 forward, 2 weight gradients (with Adam in their epilogue), 2 input gradients (one masked).
  EXPECT_EQ(counts[OpKind::kMatMul] + counts[OpKind::kFusedDense], 4);
  EXPECT_EQ(counts[OpKind::kFusedMatMulApplyAdam], 2);

  auto ref = CreateInterpreter(t.train);
  auto opt = CreateInterpreter(*fused);
  ASSERT_TRUE(ref.ok()) << ref.status();
  ASSERT_TRUE(opt.ok()) << opt.status();
  LoadInitialState(**ref, t.model);
  LoadInitialState(**opt, t.model);
  if (HasFatalFailure()) return;
  const std::vector<Batch> batches = MakeBatches(3, 11);
  bool bitwise = true;
  for (int step = 0; step < 3; ++step) {
    const Metrics r = RunStep(**ref, batches[step]);
    const Metrics f = RunStep(**opt, batches[step]);
    EXPECT_NEAR(f.loss, r.loss, kFusedTol * std::max(1.0f, std::fabs(r.loss))) << step;
    EXPECT_EQ(f.accuracy, r.accuracy) << step;
    bitwise &= f.loss == r.loss;
  }
  const double worst = CompareParameters(**ref, **opt, kFusedTol);
  for (const std::string& name : ParameterNames((*ref)->graph())) {
    bitwise &= (*ref)->GetTensor(name)->BitwiseEqual(*(*opt)->GetTensor(name));
  }
  std::printf(
      "[fused] interpreter fused vs unfused over 3 steps: max weight scaled diff %.3g "
      "(bitwise %s)\n",
      worst, bitwise ? "identical" : "different");
}

// (c) The JIT's step does not depend on the thread count, bit for bit.
TEST(JitThreads, TrainingStepBitwiseIdenticalForOneTwoThreeThreads) {
  Trainer t = MakeTrainer(Optimizer::Adam());
  const std::vector<Batch> batches = MakeBatches(3, 23);
  std::vector<std::unique_ptr<JitExecutable>> jits;
  for (int threads : {1, 2, 3}) {
    auto jit = CreateJit(t.train, JitOptions{.threads = threads});
    ASSERT_TRUE(jit.ok()) << jit.status();
    EXPECT_EQ((*jit)->threads(), threads);
    LoadInitialState(**jit, t.model);
    jits.push_back(*std::move(jit));
  }
  if (HasFatalFailure()) return;
  for (int step = 0; step < 3; ++step) {
    std::vector<Tensor> losses, accuracies;
    for (auto& jit : jits) {
      RunStep(*jit, batches[step]);
      losses.push_back(*jit->GetTensor("loss"));
      accuracies.push_back(*jit->GetTensor("accuracy"));
    }
    for (size_t i = 1; i < jits.size(); ++i) {
      EXPECT_TRUE(losses[i].BitwiseEqual(losses[0]))
          << "step " << step << " threads " << i + 1 << ": " << losses[i].f32()[0] << " vs "
          << losses[0].f32()[0];
      EXPECT_TRUE(accuracies[i].BitwiseEqual(accuracies[0])) << "step " << step;
    }
  }
  for (const std::string& name : ParameterNames(jits[0]->graph())) {
    auto base = jits[0]->GetTensor(name);
    ASSERT_TRUE(base.ok()) << name;
    for (size_t i = 1; i < jits.size(); ++i) {
      auto other = jits[i]->GetTensor(name);
      ASSERT_TRUE(other.ok()) << name;
      EXPECT_TRUE(other->BitwiseEqual(*base)) << name << " with " << i + 1 << " threads";
    }
  }
}

// (d) Fit on both backends: 100 examples in batches of 32 (the last has 4), two epochs.
TEST(JitFit, MatchesInterpreterPerEpoch) {
  const Dataset data = MakeDataset(100, 5);
  std::map<Backend, History> histories;
  std::map<Backend, std::map<std::string, Tensor>> weights;
  for (Backend backend : {Backend::kInterpreter, Backend::kJit}) {
    auto model = BuiltinModel("mnist-cnn", 2);
    ASSERT_TRUE(model.ok()) << model.status();
    ASSERT_TRUE(model->Compile(Optimizer::Sgd(0.05, 0.9)).ok());
    Model::FitOptions options;
    options.epochs = 2;
    options.batch_size = 32;
    options.seed = 9;
    options.backend = backend;
    options.threads = 2;
    options.verbose = 0;
    auto history = model->Fit(data, options);
    ASSERT_TRUE(history.ok()) << BackendName(backend) << ": " << history.status();
    ASSERT_EQ(history->epochs.size(), 2u);
    histories[backend] = *history;
    weights[backend] = model->weights();
  }
  double worst = 0;
  for (int epoch = 0; epoch < 2; ++epoch) {
    const Logs& r = histories[Backend::kInterpreter].epochs[epoch];
    const Logs& j = histories[Backend::kJit].epochs[epoch];
    const double rel = std::fabs(j.at("loss") - r.at("loss")) / std::max(1.0, r.at("loss"));
    EXPECT_LE(rel, kLossTol) << "epoch " << epoch << ": ref " << r.at("loss") << " jit "
                             << j.at("loss");
    EXPECT_NEAR(j.at("accuracy"), r.at("accuracy"), 1.0 / 100 + 1e-9) << "epoch " << epoch;
    worst = std::max(worst, rel);
  }
  double worst_weight = 0;
  for (const auto& [name, ref] : weights[Backend::kInterpreter]) {
    const double d = ScaledDiff(ref, weights[Backend::kJit].at(name));
    EXPECT_LE(d, kWeightTol) << name;
    worst_weight = std::max(worst_weight, d);
  }
  std::printf("[fit] JIT vs interpreter: max per-epoch loss rel diff %.3g, weights %.3g\n", worst,
              worst_weight);
}

// Every kernel of the seed CNN's training step and inference stays inside its buffers: with
// guard pages, a read or write past the end of the arena, a scratch buffer or a parameter faults
// (a filter-gradient kernel once read past its per-image partials at batch 8). The results are
// also bitwise those of the unguarded JIT.
TEST(JitGuardPages, SeedCnnKernelsStayInsideTheirBuffers) {
  auto model = BuiltinModel("mnist-cnn", 1);
  ASSERT_TRUE(model.ok()) << model.status();
  for (int64_t batch : {1, 8, 64}) {
    auto train = BuildTrainingGraph(*model, batch, Optimizer::Adam());
    ASSERT_TRUE(train.ok()) << train.status();
    auto fwd = model->Build(batch);
    ASSERT_TRUE(fwd.ok()) << fwd.status();
    for (Graph* g : {&*train, &fwd->graph}) {
      std::vector<std::unique_ptr<JitExecutable>> jits;
      for (bool guard : {true, false}) {
        auto jit = CreateJit(*g, JitOptions{.threads = 2, .guard_pages = guard});
        ASSERT_TRUE(jit.ok()) << jit.status();
        LoadInitialState(**jit, *model);
        Rng rng(static_cast<uint64_t>(batch));
        Tensor images(TensorType{DType::kF32, {batch, 28, 28, 1}});
        for (float& v : images.f32_span()) v = rng.UniformFloat();
        ASSERT_TRUE((*jit)->SetTensor("image", images).ok());
        if ((*jit)->graph().Find("label") >= 0) {
          Tensor labels(TensorType{DType::kI32, {batch}});
          for (int64_t i = 0; i < batch; ++i) labels.i32()[i] = static_cast<int32_t>(i % 10);
          ASSERT_TRUE((*jit)->SetTensor("label", labels).ok());
        }
        for (int step = 0; step < 2; ++step) ASSERT_TRUE((*jit)->Run().ok());
        jits.push_back(*std::move(jit));
      }
      for (NodeId out : jits[0]->graph().outputs()) {
        const std::string& name = jits[0]->graph().node(out).name;
        auto a = jits[0]->GetTensor(name), b = jits[1]->GetTensor(name);
        ASSERT_TRUE(a.ok() && b.ok()) << name;
        EXPECT_TRUE(a->BitwiseEqual(*b)) << "batch " << batch << ": " << name;
      }
    }
  }
}

// (e) Predict on both backends, with a ragged last batch.
TEST(JitPredict, MatchesInterpreter) {
  auto model = BuiltinModel("mnist-cnn", 4);
  ASSERT_TRUE(model.ok()) << model.status();
  const Dataset data = MakeDataset(21, 13);
  auto ref = model->Predict(data.images, 16, Backend::kInterpreter);
  auto jit = model->Predict(data.images, 16, Backend::kJit, 2);
  ASSERT_TRUE(ref.ok()) << ref.status();
  ASSERT_TRUE(jit.ok()) << jit.status();
  ASSERT_EQ(ref->dims(), (Dims{21, 10}));
  ASSERT_EQ(jit->dims(), (Dims{21, 10}));
  double worst = 0;
  for (int64_t i = 0; i < ref->size(); ++i) {
    EXPECT_NEAR(jit->f32()[i], ref->f32()[i], 1e-5) << i;
    worst = std::max(worst, std::fabs(static_cast<double>(jit->f32()[i]) - ref->f32()[i]));
  }
  std::printf("[predict] JIT vs interpreter: max |diff| %.3g\n", worst);
}

// (f) Graphs that do not verify come back as errors, not crashes, with or without the pipeline.
TEST(JitErrors, UnverifiableGraphsAreErrors) {
  auto base = ParseGraph(R"(graph "g" {
    %x = Input() : f32[2,3]
    %y = Relu(%x) : f32[2,3]
    outputs(%y)
  })");
  ASSERT_TRUE(base.ok()) << base.status();
  std::vector<std::pair<std::string, Graph>> bad;
  {
    Graph g = *base;
    g.mutable_node(1).type = TensorType{DType::kF32, {3, 2}};  // Not what Relu infers.
    bad.push_back({"wrong type", std::move(g)});
  }
  {
    Graph g = *base;
    g.mutable_node(1).inputs = {7};  // No such node.
    bad.push_back({"input out of range", std::move(g)});
  }
  {
    Graph g = *base;
    g.mutable_node(1).inputs = {1};  // Reads itself.
    bad.push_back({"cycle", std::move(g)});
  }
  {
    Graph g = *base;
    g.mutable_node(1).inputs = {0, 0};  // Relu takes one input.
    bad.push_back({"arity", std::move(g)});
  }
  {
    Graph g = *base;
    g.set_outputs({5});
    bad.push_back({"output out of range", std::move(g)});
  }
  {
    Graph g = *base;
    Node softmax;
    softmax.op = OpKind::kSoftmax;  // Missing its `axis` attribute.
    softmax.name = "s";
    softmax.inputs = {1};
    softmax.type = TensorType{DType::kF32, {2, 3}};
    g.AddRaw(softmax);
    bad.push_back({"missing attribute", std::move(g)});
  }
  for (const auto& [what, g] : bad) {
    for (bool optimize : {true, false}) {
      auto jit = CreateJit(g, JitOptions{.threads = 1, .optimize = optimize});
      EXPECT_FALSE(jit.ok()) << what << (optimize ? "" : " (optimize off)");
    }
  }
  // The unbroken graph compiles, so the failures above are the graphs' doing.
  auto good = CreateJit(*base, JitOptions{.threads = 1});
  EXPECT_TRUE(good.ok()) << good.status();
}

}  // namespace
}  // namespace kiln
