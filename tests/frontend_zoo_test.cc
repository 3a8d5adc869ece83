// Every zoo model (bench/zoo), and the model files in examples/models, trained for ten steps on the
// JIT with fusion on and with fusion off, against the interpreter on the graph as built; the
// interpreter on the fused graph against the unfused one; and the JIT's step bitwise identical on
// 1, 2 and 3 threads.
//
// SGD with Nesterov momentum: Adam normalizes each update, which turns last-bit noise in tiny
// gradients into weight noise of order lr, hiding real errors behind loose bounds. Measured on
// the development machine (printed on every run), worst over the zoo and four data seeds, per
// step: loss rel diff 2.4e-7; weights 3e-8 * scale, except single steps where a near-tie in a
// max pool or a ReLU at 0 rounded the other way and one gradient element went elsewhere (up to
// 1.3e-4 * scale, resnet). Bounds: loss 1e-5 relative, weights 1e-3 * max(1, max |ref|) per
// step (a wrong kernel moves both by 1e-2 and more); fused vs unfused interpreter 1e-5 (the
// fused ops run the same kernels; epilogue programs round like the ops they replace).
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bench/zoo/zoo.h"
#include "codegen/jit.h"
#include "frontend/initializers.h"
#include "frontend/training.h"
#include "gtest/gtest.h"
#include "ir/passes/passes.h"
#include "runtime/interpreter.h"

namespace kiln {
namespace {

constexpr int64_t kBatch = 8;
constexpr double kLossTol = 1e-5, kWeightTol = 1e-3, kFusedTol = 1e-5;

struct Batch {
  Tensor images, labels;
};

std::vector<Batch> MakeBatches(int count) {
  Rng rng(29);
  std::vector<Batch> out;
  for (int b = 0; b < count; ++b) {
    Batch batch{Tensor(TensorType{DType::kF32, {kBatch, 28, 28, 1}}),
                Tensor(TensorType{DType::kI32, {kBatch}})};
    for (float& v : batch.images.f32_span()) v = rng.UniformFloat();
    for (int64_t i = 0; i < kBatch; ++i) batch.labels.i32()[i] = static_cast<int32_t>(i % 10);
    out.push_back(std::move(batch));
  }
  return out;
}

void Load(Executable& exe, const Model& model) {
  for (const Node& node : exe.graph().nodes()) {
    if (node.op != OpKind::kParameter) continue;
    auto w = model.weights().find(node.name);
    ASSERT_TRUE(exe.SetTensor(node.name, w != model.weights().end() ? w->second : Tensor(node.type))
                    .ok());
  }
}

float Step(Executable& exe, const Batch& b) {
  EXPECT_TRUE(exe.SetTensor("image", b.images).ok());
  EXPECT_TRUE(exe.SetTensor("label", b.labels).ok());
  EXPECT_TRUE(exe.Run().ok());
  auto loss = exe.GetTensor("loss");
  return loss.ok() ? loss->f32()[0] : NAN;
}

double ScaledDiff(const Tensor& ref, const Tensor& got) {
  double scale = 1, worst = 0;
  for (float r : ref.f32_span()) scale = std::max(scale, std::fabs(double{r}));
  for (int64_t i = 0; i < ref.size(); ++i) {
    const double d = std::fabs(double{got.f32()[i]} - ref.f32()[i]);
    if (std::isnan(d)) return INFINITY;
    worst = std::max(worst, d);
  }
  return worst / scale;
}

double WorstParameterDiff(const Executable& ref, const Executable& got) {
  double worst = 0;
  for (const Node& node : ref.graph().nodes()) {
    if (node.op != OpKind::kParameter) continue;
    auto r = ref.GetTensor(node.name);
    auto g = got.GetTensor(node.name);
    if (!r.ok() || !g.ok()) return INFINITY;
    worst = std::max(worst, ScaledDiff(*r, *g));
  }
  return worst;
}

class ZooTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    // Zoo models by name; model description files from examples/models by file name.
    auto model =
        absl::EndsWith(GetParam(), ".layers")
            ? Model::LoadLayers(absl::StrCat(KILN_SOURCE_DIR, "/examples/models/", GetParam()), 5)
            : ZooModel(GetParam(), 5);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = std::make_unique<Model>(*std::move(model));
    auto train = BuildTrainingGraph(*model_, kBatch, Optimizer::Sgd(0.05, 0.9, true));
    ASSERT_TRUE(train.ok()) << train.status();
    train_ = *std::move(train);
  }
  std::unique_ptr<Model> model_;
  Graph train_;
};

// Each step starts the JITs from the interpreter's parameters and optimizer state, so every one
// of the ten steps is compared tightly: over many steps a near-tie in a max pool or a ReLU at 0
// that rounds the other way sends one gradient element elsewhere, and the runs drift apart
// chaotically without anything being wrong.
TEST_P(ZooTest, TenStepsOnTheJitWithFusionOnAndOffMatchTheInterpreter) {
  auto ref = CreateInterpreter(train_);
  ASSERT_TRUE(ref.ok()) << ref.status();
  Load(**ref, *model_);
  std::vector<std::unique_ptr<JitExecutable>> jits;
  for (bool fuse : {true, false}) {
    JitOptions options;
    options.optimize = fuse;
    auto jit = CreateJit(train_, options);
    ASSERT_TRUE(jit.ok()) << jit.status();
    jits.push_back(*std::move(jit));
  }
  const std::vector<Batch> batches = MakeBatches(10);
  double worst_loss = 0, worst_weight = 0;
  for (int s = 0; s < 10; ++s) {
    for (auto& jit : jits) {
      for (const Node& node : train_.nodes()) {
        if (node.op != OpKind::kParameter) continue;
        auto value = (*ref)->GetTensor(node.name);
        ASSERT_TRUE(value.ok() && jit->SetTensor(node.name, *value).ok()) << node.name;
      }
    }
    const float r = Step(**ref, batches[s]);
    ASSERT_TRUE(std::isfinite(r)) << "step " << s;
    for (size_t j = 0; j < jits.size(); ++j) {
      const char* which = j == 0 ? "fused" : "unfused";
      const float got = Step(*jits[j], batches[s]);
      const double d = std::fabs(double{got} - r) / std::max(1.0, std::fabs(double{r}));
      EXPECT_LE(d, kLossTol) << "step " << s << " " << which << ": ref " << r << " jit " << got;
      const double w = WorstParameterDiff(**ref, *jits[j]);
      EXPECT_LE(w, kWeightTol) << "step " << s << " " << which;
      worst_loss = std::max(worst_loss, d);
      worst_weight = std::max(worst_weight, w);
    }
  }
  std::printf("[%s] 10 steps, JIT (fused and unfused) vs interpreter: loss %.3g, weights %.3g\n",
              GetParam().c_str(), worst_loss, worst_weight);
}

TEST_P(ZooTest, InterpreterOnTheFusedGraphMatchesTheGraphAsBuilt) {
  auto fused = OptimizeGraph(train_);
  ASSERT_TRUE(fused.ok()) << fused.status();
  auto ref = CreateInterpreter(train_);
  auto opt = CreateInterpreter(*fused);
  ASSERT_TRUE(ref.ok() && opt.ok());
  Load(**ref, *model_);
  Load(**opt, *model_);
  const std::vector<Batch> batches = MakeBatches(2);
  for (const Batch& b : batches) {
    const float r = Step(**ref, b), o = Step(**opt, b);
    EXPECT_LE(std::fabs(double{o} - r), kFusedTol * std::max(1.0, std::fabs(double{r})));
  }
  EXPECT_LE(WorstParameterDiff(**ref, **opt), kFusedTol);
}

TEST_P(ZooTest, JitStepIsBitwiseIdenticalOnOneTwoThreeThreads) {
  std::vector<std::unique_ptr<JitExecutable>> jits;
  for (int threads : {1, 2, 3}) {
    JitOptions options;
    options.threads = threads;
    auto jit = CreateJit(train_, options);
    ASSERT_TRUE(jit.ok()) << jit.status();
    Load(**jit, *model_);
    jits.push_back(*std::move(jit));
  }
  for (const Batch& b : MakeBatches(2)) {
    std::vector<float> losses;
    for (auto& jit : jits) losses.push_back(Step(*jit, b));
    EXPECT_EQ(losses[1], losses[0]);
    EXPECT_EQ(losses[2], losses[0]);
  }
  for (const Node& node : jits[0]->graph().nodes()) {
    if (node.op != OpKind::kParameter) continue;
    auto base = jits[0]->GetTensor(node.name);
    for (size_t i = 1; i < jits.size(); ++i) {
      auto other = jits[i]->GetTensor(node.name);
      ASSERT_TRUE(base.ok() && other.ok());
      EXPECT_TRUE(other->BitwiseEqual(*base)) << node.name << " on " << i + 1 << " threads";
    }
  }
}

std::vector<std::string> Names() {
  std::vector<std::string> names;
  for (const ZooEntry& e : ZooModels()) names.push_back(e.name);
  return names;
}

std::string TestName(const testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& c : name) c = c == '-' || c == '.' ? '_' : c;
  return name;
}

INSTANTIATE_TEST_SUITE_P(Zoo, ZooTest, testing::ValuesIn(Names()), TestName);
// Models written as .layers files: layers without biases, activation layers, the list form,
// global pooling, rescaling, dropout (masks must match bit for bit for the losses to agree) and
// batch normalization.
INSTANTIATE_TEST_SUITE_P(LayersFiles, ZooTest,
                         testing::Values("experiment.layers", "no_bias.layers",
                                         "global_average.layers", "global_max.layers",
                                         "dropout.layers", "batchnorm.layers"),
                         TestName);

}  // namespace
}  // namespace kiln
