// Broadcast, loss, metric and update kernels, run through the interpreter and checked against
// hand-computed values (and the loss gradient against finite differences).
#include "tests/runtime_kernel_util.h"

namespace kiln {
namespace {

using namespace kernel_test;  // NOLINT(build/namespaces)
using testing_util::ConvAttrs;
using testing_util::ExpectValues;
using testing_util::F32;
using testing_util::Feeds;
using testing_util::Iota;
using testing_util::PoolAttrs;

Tensor BroadcastOp(const Tensor& x, Dims shape, std::vector<int64_t> axes) {
  return EvalOp(
      OpKind::kBroadcast, {{"x", x}},
      {{"shape", AttrValue::Ints(std::move(shape))}, {"axes", AttrValue::Ints(std::move(axes))}});
}

TEST(Broadcast, CopiesAlongTheGivenAxes) {
  Tensor v = Tensor::F32({2}, {1, 2});
  ExpectValues(BroadcastOp(v, {3, 2}, {0}), {3, 2}, {1, 2, 1, 2, 1, 2});
  // out[a][b][c] = x[a].
  std::vector<float> want(24);
  for (int i = 0; i < 24; ++i) want[i] = i < 12 ? 1.0f : 2.0f;
  ExpectValues(BroadcastOp(v, {2, 3, 4}, {1, 2}), {2, 3, 4}, want);
  // out[a][b][c] = x[a][b].
  Tensor m = Tensor::F32({2, 3}, Iota(6, 1));
  ExpectValues(BroadcastOp(m, {2, 3, 2}, {-1}), {2, 3, 2}, {1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6});
  ExpectValues(BroadcastOp(Tensor::F32({}, {7}), {2, 2}, {0, 1}), {2, 2}, {7, 7, 7, 7});
  ExpectValues(BroadcastOp(m, {2, 3}, {}), {2, 3}, Iota(6, 1));
  Tensor i = BroadcastOp(Tensor::I32({2}, {-5, 9}), {2, 2}, {1});
  ASSERT_EQ(i.dtype(), DType::kI32);
  EXPECT_EQ(std::vector<int32_t>(i.i32(), i.i32() + 4), (std::vector<int32_t>{-5, -5, 9, 9}));
}

Tensor Sce(const Tensor& logits, const Tensor& labels) {
  return EvalOp(OpKind::kSoftmaxCrossEntropy, {{"logits", logits}, {"labels", labels}});
}
Tensor SceGrad(const Tensor& logits, const Tensor& labels, float dloss) {
  return EvalOp(OpKind::kSoftmaxCrossEntropyGrad,
                {{"logits", logits}, {"labels", labels}, {"dloss", Tensor::F32({}, {dloss})}});
}

TEST(SoftmaxCrossEntropy, HandValuesAndStability) {
  const float ln3 = std::log(3.0f);
  Tensor logits = Tensor::F32({2, 2}, {0, 0, ln3, 0});
  // Row 0: log 2. Row 1: log(3 + 1) - 0 = log 4. Mean: 1.5 log 2.
  ExpectValues(Sce(logits, Tensor::I32({2}, {0, 1})), {}, {1.5f * std::log(2.0f)});
  // Row 1 with label 0: log 4 - log 3.
  ExpectValues(Sce(logits, Tensor::I32({2}, {0, 0})), {},
               {0.5f * (std::log(2.0f) + std::log(4.0f / 3.0f))});
  // Large logits stay finite: (1000 + log 2) / 2.
  Tensor big = Tensor::F32({2, 2}, {1000, 0, 1000, 1000});
  Tensor loss = Sce(big, Tensor::I32({2}, {1, 0}));
  ASSERT_TRUE(std::isfinite(loss.f32()[0]));
  ExpectValues(loss, {}, {500.0f + 0.5f * std::log(2.0f)});
  // A label outside [0, C) makes the loss NaN instead of reading out of bounds.
  EXPECT_TRUE(std::isnan(Sce(logits, Tensor::I32({2}, {0, 2})).f32()[0]));
  EXPECT_TRUE(std::isnan(Sce(logits, Tensor::I32({2}, {-1, 0})).f32()[0]));
}

TEST(SoftmaxCrossEntropy, GradHandValuesAndRowSums) {
  const float ln3 = std::log(3.0f);
  Tensor logits = Tensor::F32({2, 2}, {0, 0, ln3, 0});
  // (softmax - onehot) * 2 / 2: [0.5-1, 0.5], [0.75, 0.25-1].
  ExpectValues(SceGrad(logits, Tensor::I32({2}, {0, 1}), 2.0f), {2, 2},
               {-0.5f, 0.5f, 0.75f, -0.75f});
  Tensor big = Tensor::F32({1, 2}, {1000, 0});
  ExpectValues(SceGrad(big, Tensor::I32({1}, {1}), 1.0f), {1, 2}, {1, -1});
  // Random logits: every row sums to 0.
  Tensor r = PseudoTensor({3, 5}, 400);
  for (float& f : r.f32_span()) f *= 4;
  Tensor g = SceGrad(r, Tensor::I32({3}, {4, 0, 2}), 1.5f);
  for (int b = 0; b < 3; ++b) {
    double s = 0;
    for (int j = 0; j < 5; ++j) s += g.f32()[b * 5 + j];
    EXPECT_NEAR(s, 0.0, 1e-6) << "row " << b;
  }
  // An out-of-range label gives a NaN row; the other rows are unaffected.
  Tensor bad = SceGrad(logits, Tensor::I32({2}, {0, 5}), 2.0f);
  EXPECT_NEAR(bad.f32()[0], -0.5f, 1e-6f);
  EXPECT_TRUE(std::isnan(bad.f32()[2]) && std::isnan(bad.f32()[3]));
}

// The fused group: the gradient, then the mean loss, in one buffer; Views read the two parts.
TEST(SoftmaxCrossEntropy, WithGradHoldsGradientThenLoss) {
  const float ln3 = std::log(3.0f);
  const Tensor logits = Tensor::F32({2, 2}, {0, 0, ln3, 0});
  const Tensor labels = Tensor::I32({2}, {0, 1});
  const Tensor both =
      EvalOp(OpKind::kSoftmaxCrossEntropyWithGrad,
             {{"logits", logits}, {"labels", labels}, {"dloss", Tensor::F32({}, {2})}});
  ExpectValues(both, {5}, {-0.5f, 0.5f, 0.75f, -0.75f, 1.5f * std::log(2.0f)});
}

// The gradient is d(loss)/d(logits): compare with central differences of the loss kernel.
TEST(SoftmaxCrossEntropy, GradMatchesFiniteDifferences) {
  Tensor logits = PseudoTensor({2, 3}, 500);
  Tensor labels = Tensor::I32({2}, {2, 0});
  Tensor g = SceGrad(logits, labels, 1.0f);
  const float h = 1e-2f;
  for (int64_t i = 0; i < logits.size(); ++i) {
    Tensor plus = logits, minus = logits;
    plus.f32()[i] += h;
    minus.f32()[i] -= h;
    const double fd =
        (static_cast<double>(Sce(plus, labels).f32()[0]) - Sce(minus, labels).f32()[0]) / (2 * h);
    EXPECT_NEAR(g.f32()[i], fd, 2e-4) << "at " << i;
  }
}

TEST(Equal, F32AndI32) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor a = Tensor::F32({2, 2}, {1, 2, nan, 0.0f});
  Tensor b = Tensor::F32({2, 2}, {1, 3, nan, -0.0f});
  ExpectValues(EvalOp(OpKind::kEqual, {{"a", a}, {"b", b}}), {2, 2}, {1, 0, 0, 1});
  Tensor ia = Tensor::I32({3}, {1, 2, 3});
  Tensor ib = Tensor::I32({3}, {1, 0, 3});
  ExpectValues(EvalOp(OpKind::kEqual, {{"a", ia}, {"b", ib}}), {3}, {1, 0, 1});
}

// Parameters p and vel, Input g, and ApplySgd(p, vel, g) with the given attributes.
std::unique_ptr<Executable> SgdGraph(double lr, double momentum, int nesterov,
                                     double weight_decay) {
  Graph g;
  NodeId p = *g.AddSource(OpKind::kParameter, "p", F32({2}));
  NodeId vel =
      *g.AddSource(OpKind::kParameter, "vel", F32({2}), {{"trainable", AttrValue::Int(0)}});
  NodeId grad = *g.AddSource(OpKind::kInput, "g", F32({2}));
  auto sgd = g.AddOp(OpKind::kApplySgd, "sgd", {p, vel, grad},
                     {{"lr", AttrValue::Float(lr)},
                      {"momentum", AttrValue::Float(momentum)},
                      {"nesterov", AttrValue::Int(nesterov)},
                      {"weight_decay", AttrValue::Float(weight_decay)}});
  EXPECT_TRUE(sgd.ok()) << sgd.status();
  return Compile(std::move(g));
}

// Runs one step with gradient `grad` and checks p (and vel, unless `vel` is empty).
void SgdStep(Executable& exe, std::vector<float> grad, std::vector<float> p,
             std::vector<float> vel) {
  Set(exe, "g", Tensor::F32({2}, grad));
  RunStep(exe);
  ExpectValues(Get(exe, "p"), {2}, p);
  ExpectValues(Get(exe, "vel"), {2}, vel);
}

TEST(ApplySgd, Plain) {
  std::unique_ptr<Executable> exe = SgdGraph(0.1, 0.0, 0, 0.0);
  ASSERT_NE(exe, nullptr);
  Set(*exe, "p", Tensor::F32({2}, {1, -2}));
  Set(*exe, "vel", Tensor::F32({2}, {7, 7}));  // Untouched without momentum.
  SgdStep(*exe, {0.5f, 1}, {0.95f, -2.1f}, {7, 7});
  SgdStep(*exe, {1, -1}, {0.85f, -2.0f}, {7, 7});
}

TEST(ApplySgd, Momentum) {
  std::unique_ptr<Executable> exe = SgdGraph(0.1, 0.9, 0, 0.0);
  ASSERT_NE(exe, nullptr);
  Set(*exe, "p", Tensor::F32({2}, {1, 2}));
  // vel = -0.1 g; then 0.9 * vel - 0.1 g. p += vel.
  SgdStep(*exe, {1, -2}, {0.9f, 2.2f}, {-0.1f, 0.2f});
  SgdStep(*exe, {1, -2}, {0.71f, 2.58f}, {-0.19f, 0.38f});
}

TEST(ApplySgd, Nesterov) {
  std::unique_ptr<Executable> exe = SgdGraph(0.1, 0.9, 1, 0.0);
  ASSERT_NE(exe, nullptr);
  Set(*exe, "p", Tensor::F32({2}, {1, 2}));
  // p += 0.9 * vel - 0.1 g with the new vel: [-0.19, 0.38], then [-0.271, 0.542].
  SgdStep(*exe, {1, -2}, {0.81f, 2.38f}, {-0.1f, 0.2f});
  SgdStep(*exe, {1, -2}, {0.539f, 2.922f}, {-0.19f, 0.38f});
}

TEST(ApplySgd, WeightDecayIsDecoupledAndFirst) {
  std::unique_ptr<Executable> exe = SgdGraph(0.1, 0.0, 0, 0.01);
  ASSERT_NE(exe, nullptr);
  Set(*exe, "p", Tensor::F32({2}, {1, -2}));
  // p *= 1 - 0.01 * 0.1, then p -= 0.1 g.
  SgdStep(*exe, {0.5f, 1}, {0.949f, -2.098f}, {0, 0});
  SgdStep(*exe, {0.5f, 1}, {0.898051f, -2.195902f}, {0, 0});
  // With momentum the decay still comes first and does not enter the velocity.
  std::unique_ptr<Executable> mom = SgdGraph(0.1, 0.9, 0, 0.01);
  ASSERT_NE(mom, nullptr);
  Set(*mom, "p", Tensor::F32({2}, {1, -2}));
  SgdStep(*mom, {0.5f, 1}, {0.949f, -2.098f}, {-0.05f, -0.1f});
}

// Keras's RMSprop: ms = 0.9 ms + 0.1 g^2, p -= lr g / sqrt(ms + eps). By hand with lr 0.1,
// eps 1e-7 from ms = 0: step 1 ms = 0.1 g^2, so p moves by 0.1 g / (sqrt(0.1) |g|) = 0.316228
// sign(g); step 2 with the same g: ms = 0.19 g^2, a move of 0.1 / sqrt(0.19) = 0.229416.
TEST(ApplyRmsprop, TwoStepsByHand) {
  Graph g;
  NodeId p = *g.AddSource(OpKind::kParameter, "p", F32({2}));
  NodeId ms = *g.AddSource(OpKind::kParameter, "ms", F32({2}), {{"trainable", AttrValue::Int(0)}});
  NodeId grad = *g.AddSource(OpKind::kInput, "g", F32({2}));
  ASSERT_TRUE(g.AddOp(OpKind::kApplyRmsprop, "rmsprop", {p, ms, grad},
                      {{"lr", AttrValue::Float(0.1)},
                       {"rho", AttrValue::Float(0.9)},
                       {"epsilon", AttrValue::Float(1e-7)}})
                  .ok());
  std::unique_ptr<Executable> exe = Compile(std::move(g));
  ASSERT_NE(exe, nullptr);
  Set(*exe, "p", Tensor::F32({2}, {1, -2}));
  Set(*exe, "g", Tensor::F32({2}, {2, -0.5f}));
  RunStep(*exe);
  ExpectValues(Get(*exe, "ms"), {2}, {0.4f, 0.025f});
  ExpectValues(Get(*exe, "p"), {2}, {1 - 0.316228f, -2 + 0.316228f});
  RunStep(*exe);
  ExpectValues(Get(*exe, "ms"), {2}, {0.76f, 0.0475f});
  ExpectValues(Get(*exe, "p"), {2}, {1 - 0.316228f - 0.229416f, -2 + 0.316228f + 0.229416f});
}

TEST(ApplyAdam, TwoSteps) {
  Graph g;
  NodeId p = *g.AddSource(OpKind::kParameter, "p", F32({2}));
  NodeId m = *g.AddSource(OpKind::kParameter, "m", F32({2}), {{"trainable", AttrValue::Int(0)}});
  NodeId v = *g.AddSource(OpKind::kParameter, "v", F32({2}), {{"trainable", AttrValue::Int(0)}});
  NodeId t = *g.AddSource(OpKind::kInput, "t", F32({}));
  NodeId grad = *g.AddSource(OpKind::kInput, "g", F32({2}));
  ASSERT_TRUE(g.AddOp(OpKind::kApplyAdam, "adam", {p, m, v, t, grad},
                      {{"lr", AttrValue::Float(0.1)},
                       {"beta1", AttrValue::Float(0.9)},
                       {"beta2", AttrValue::Float(0.999)},
                       {"epsilon", AttrValue::Float(1e-7)}})
                  .ok());
  std::unique_ptr<Executable> exe = Compile(std::move(g));
  ASSERT_NE(exe, nullptr);
  Set(*exe, "p", Tensor::F32({2}, {1, 2}));
  // t = 1: m = 0.1 g, v = 0.001 g^2, alpha = 0.1 sqrt(0.001) / 0.1, so p moves by ~lr * sign(g).
  Set(*exe, "t", Tensor::F32({}, {1}));
  Set(*exe, "g", Tensor::F32({2}, {0.5f, -1}));
  RunStep(*exe);
  ExpectValues(Get(*exe, "m"), {2}, {0.05f, -0.1f});
  ExpectValues(Get(*exe, "v"), {2}, {0.00025f, 0.001f});
  ExpectValues(Get(*exe, "p"), {2}, {0.90000063f, 2.0999997f});
  // t = 2: m = 0.9 m + 0.1 g, v = 0.999 v + 0.001 g^2, alpha = 0.1 sqrt(1 - 0.999^2) / 0.19.
  Set(*exe, "t", Tensor::F32({}, {2}));
  Set(*exe, "g", Tensor::F32({2}, {-0.2f, 0.4f}));
  RunStep(*exe);
  ExpectValues(Get(*exe, "m"), {2}, {0.025f, -0.05f});
  ExpectValues(Get(*exe, "v"), {2}, {0.00028975f, 0.001159f});
  ExpectValues(Get(*exe, "p"), {2}, {0.86544025f, 2.1345602f});
}

// Updates run after every other node: readers of a Parameter see its value from before the step,
// even when the update op comes first in node order.
TEST(Updates, RunAfterReaders) {
  Graph g;
  NodeId p = *g.AddSource(OpKind::kParameter, "p", F32({2}));
  NodeId vel =
      *g.AddSource(OpKind::kParameter, "vel", F32({2}), {{"trainable", AttrValue::Int(0)}});
  NodeId count =
      *g.AddSource(OpKind::kParameter, "count", F32({}), {{"trainable", AttrValue::Int(0)}});
  NodeId one = *g.AddSource(OpKind::kConstant, "one", F32({}), {{"value", AttrValue::Floats({1})}});
  NodeId grad = *g.AddSource(OpKind::kInput, "g", F32({2}));
  ASSERT_TRUE(g.AddOp(OpKind::kApplySgd, "sgd", {p, vel, grad},
                      {{"lr", AttrValue::Float(0.5)},
                       {"momentum", AttrValue::Float(0)},
                       {"nesterov", AttrValue::Int(0)},
                       {"weight_decay", AttrValue::Float(0)}})
                  .ok());
  NodeId doubled = *g.AddOp(OpKind::kAdd, "doubled", {p, p});
  NodeId next = *g.AddOp(OpKind::kAdd, "next", {count, one});
  ASSERT_TRUE(g.AddOp(OpKind::kAssign, "incr", {count, next}).ok());
  g.AddOutput(doubled);
  g.AddOutput(next);
  std::unique_ptr<Executable> exe = Compile(std::move(g));
  ASSERT_NE(exe, nullptr);
  Set(*exe, "p", Tensor::F32({2}, {1, 2}));
  Set(*exe, "g", Tensor::F32({2}, {2, 2}));
  RunStep(*exe);
  ExpectValues(Get(*exe, "doubled"), {2}, {2, 4});  // The old p.
  ExpectValues(Get(*exe, "p"), {2}, {0, 1});
  ExpectValues(Get(*exe, "next"), {}, {1});
  ExpectValues(Get(*exe, "count"), {}, {1});
  RunStep(*exe);
  ExpectValues(Get(*exe, "doubled"), {2}, {0, 2});
  ExpectValues(Get(*exe, "p"), {2}, {-1, 0});
  ExpectValues(Get(*exe, "count"), {}, {2});
}

}  // namespace
}  // namespace kiln
