// Gradient checks of the unary ops, softmax, reductions, broadcast and the loss.
#include "gmock/gmock.h"
#include "tests/autodiff_gradcheck.h"

namespace kiln {
namespace {

using namespace gradcheck_test;  // NOLINT(build/namespaces)

// ---------------------------------------------------------------------------------------------
// Elementwise unary ops and softmax.

class UnaryGradTest : public ::testing::TestWithParam<OpKind> {};

TEST_P(UnaryGradTest, MatchesFiniteDifferences) {
  const OpKind op = GetParam();
  const Dims dims = {2, 3, 4};
  Case t(OpName(op), 61);
  // |x| in [0.1, 2.5]: the curved range of each, away from the kinks at 0 (relu, leaky_relu,
  // elu's second derivative).
  NodeId x = t.Param("x", dims, AwayFromZero(Count(dims), 67, 0.1, 2.5));
  NodeId y = t.Op(op, "unary", {x});
  ASSERT_GE(y, 0);
  t.ProjectAndCheck(y);
}

// Every activation row of ops.def: a new one is checked with no edit here.
std::vector<OpKind> Activations() {
  std::vector<OpKind> ops;
  for (int k = 0; k < kNumOpKinds; ++k) {
    const OpKind op = static_cast<OpKind>(k);
    if (GetOpInfo(op).category == ElementwiseCategory::kActivation) ops.push_back(op);
  }
  return ops;
}

INSTANTIATE_TEST_SUITE_P(Ops, UnaryGradTest, ::testing::ValuesIn(Activations()),
                         [](const ::testing::TestParamInfo<OpKind>& info) {
                           return std::string(OpName(info.param));
                         });

// The general softmax Jacobian: the projection R is arbitrary, not a cross-entropy's one-hot.
struct SoftmaxCase {
  std::string name;
  Dims x;
  int64_t axis;
};
void PrintTo(const SoftmaxCase& c, std::ostream* os) { *os << c.name; }

class SoftmaxGradTest : public ::testing::TestWithParam<SoftmaxCase> {};

TEST_P(SoftmaxGradTest, MatchesFiniteDifferences) {
  const SoftmaxCase& c = GetParam();
  Case t("Softmax", 73);
  NodeId x = t.Param("x", c.x, Uniform(Count(c.x), 79, -2.0, 2.0));
  NodeId y = t.Op(OpKind::kSoftmax, "softmax", {x}, {{"axis", AttrValue::Int(c.axis)}});
  ASSERT_GE(y, 0);
  t.ProjectAndCheck(y);
}

INSTANTIATE_TEST_SUITE_P(Axes, SoftmaxGradTest,
                         ::testing::Values(SoftmaxCase{"Rank2AxisMinus1", {3, 5}, -1},
                                           SoftmaxCase{"Rank2Axis0", {4, 3}, 0},
                                           SoftmaxCase{"Rank3Axis1", {2, 4, 3}, 1},
                                           SoftmaxCase{"Rank3Axis0", {3, 2, 4}, 0},
                                           SoftmaxCase{"Rank3AxisMinus1", {2, 3, 4}, -1}),
                         [](const ::testing::TestParamInfo<SoftmaxCase>& info) {
                           return info.param.name;
                         });

// ---------------------------------------------------------------------------------------------
// Reductions and Broadcast.

struct ReduceCase {
  std::string name;
  OpKind op;
  std::vector<int64_t> axes;
  int64_t keepdims;
};
void PrintTo(const ReduceCase& c, std::ostream* os) { *os << c.name; }

class ReduceGradTest : public ::testing::TestWithParam<ReduceCase> {};

TEST_P(ReduceGradTest, MatchesFiniteDifferences) {
  const ReduceCase& c = GetParam();
  Case t(OpName(c.op), 83);
  NodeId x = t.Param("x", {2, 3, 4});
  NodeId y = t.Op(c.op, "reduce", {x},
                  {{"axes", AttrValue::Ints(c.axes)}, {"keepdims", AttrValue::Int(c.keepdims)}});
  ASSERT_GE(y, 0);
  // A nonlinearity after the reduction, so its gradient is not uniform along the kept axes.
  NodeId z = t.Op(OpKind::kTanh, "tanh", {y});
  ASSERT_GE(z, 0);
  t.ProjectAndCheck(z);
}

std::vector<ReduceCase> ReduceCases() {
  std::vector<ReduceCase> cases;
  const std::vector<std::pair<std::string, std::vector<int64_t>>> axes = {
      {"Axis0", {0}},     {"Axis1", {1}},     {"AxisMinus1", {-1}},
      {"Axes02", {0, 2}}, {"Axes12", {1, 2}}, {"AllAxes", {0, 1, 2}}};
  for (OpKind op : {OpKind::kReduceSum, OpKind::kReduceMean}) {
    for (const auto& [name, a] : axes) {
      for (int64_t keep : {0, 1}) {
        cases.push_back(
            {std::string(OpName(op)) + "_" + name + "_Keep" + std::to_string(keep), op, a, keep});
      }
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Cases, ReduceGradTest, ::testing::ValuesIn(ReduceCases()),
                         [](const ::testing::TestParamInfo<ReduceCase>& info) {
                           return info.param.name;
                         });

struct BroadcastCase {
  std::string name;
  Dims x;
  Dims shape;
  std::vector<int64_t> axes;
};
void PrintTo(const BroadcastCase& c, std::ostream* os) { *os << c.name; }

class BroadcastGradTest : public ::testing::TestWithParam<BroadcastCase> {};

TEST_P(BroadcastGradTest, MatchesFiniteDifferences) {
  const BroadcastCase& c = GetParam();
  Case t("Broadcast", 89);
  NodeId x = t.Param("x", c.x);
  NodeId y = t.Op(OpKind::kBroadcast, "broadcast", {x},
                  {{"shape", AttrValue::Ints(c.shape)}, {"axes", AttrValue::Ints(c.axes)}});
  ASSERT_GE(y, 0);
  EXPECT_EQ(t.graph().node(y).type.dims, c.shape);
  t.ProjectAndCheck(y);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BroadcastGradTest,
    ::testing::Values(BroadcastCase{"MiddleAxis", {3, 4}, {3, 2, 4}, {1}},
                      BroadcastCase{"LeadingAxes", {4}, {2, 3, 4}, {0, 1}},
                      BroadcastCase{"LastAxisNegative", {3, 2}, {3, 2, 5}, {-1}},
                      BroadcastCase{"FromScalar", {}, {2, 3}, {0, 1}}),
    [](const ::testing::TestParamInfo<BroadcastCase>& info) { return info.param.name; });

// ReduceMax (GlobalMaxPooling2D): distinct values, so the max moves smoothly under small steps.
TEST(ReduceMaxGrad, MatchesFiniteDifferencesWithoutTies) {
  Case t("ReduceMax", 139);
  std::vector<float> x(2 * 3 * 4 * 5);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::fmod(0.618034f * (i + 1), 1.0f) * 4 - 2;
  t.ProjectAndCheck(t.Op(OpKind::kReduceMax, "max", {t.Param("x", {2, 3, 4, 5}, x)},
                         {{"axes", AttrValue::Ints({1, 2})}, {"keepdims", AttrValue::Int(0)}}));
}

// Tied maxima share the gradient equally, as TensorFlow's reduce_max gradient does.
TEST(ReduceMaxGrad, TiesShareTheGradient) {
  Graph g;
  NodeId x = *g.AddSource(OpKind::kParameter, "x", F32({1, 4}), {{"trainable", AttrValue::Int(1)}});
  NodeId m = *g.AddOp(OpKind::kReduceMax, "m", {x},
                      {{"axes", AttrValue::Ints({1})}, {"keepdims", AttrValue::Int(0)}});
  NodeId loss = *g.AddOp(OpKind::kReduceSum, "loss", {m},
                         {{"axes", AttrValue::Ints({0})}, {"keepdims", AttrValue::Int(0)}});
  auto grads = Differentiate(g, loss, {x});
  ASSERT_TRUE(grads.ok()) << grads.status();
  g.set_outputs({(*grads)[0]});
  auto exe = CreateInterpreter(g);
  ASSERT_TRUE(exe.ok());
  ASSERT_TRUE((*exe)->SetTensor("x", Tensor::F32({1, 4}, {1, 3, 3, -2})).ok());
  ASSERT_TRUE((*exe)->Run().ok());
  auto dx = (*exe)->GetTensor(g.node((*grads)[0]).name);
  ASSERT_TRUE(dx.ok());
  EXPECT_THAT(std::vector<float>(dx->f32(), dx->f32() + 4), testing::ElementsAre(0, 0.5f, 0.5f, 0));
}

// Rsqrt (batch normalization's scale) on positive inputs, where it is defined.
TEST(RsqrtGrad, MatchesFiniteDifferences) {
  Case t("Rsqrt", 137);
  std::vector<float> x(24);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.2f + 0.15f * static_cast<float>(i);
  t.ProjectAndCheck(t.Op(OpKind::kRsqrt, "rsqrt", {t.Param("x", {4, 6}, x)}));
}

// ---------------------------------------------------------------------------------------------
// Dropout: the training form x * DropoutMask(step) with the step fixed (so the function is
// deterministic and differentiable in x), and the identity Dropout is outside training.

TEST(DropoutGrad, TrainingFormMatchesFiniteDifferences) {
  Case t("Dropout", 113);
  NodeId x = t.Param("x", {6, 40});
  auto step = t.graph().AddSource(OpKind::kInput, "step", {DType::kF32, {}});
  ASSERT_TRUE(step.ok()) << step.status();
  t.feeds()["step"] = Tensor::F32({}, {5});
  NodeId mask = t.Op(OpKind::kDropoutMask, "mask", {*step},
                     {{"rate", AttrValue::Float(0.4)},
                      {"seed", AttrValue::Int(9)},
                      {"shape", AttrValue::Ints({6, 40})}});
  t.ProjectAndCheck(t.Op(OpKind::kMul, "dropped", {x, mask}));
}

TEST(DropoutGrad, OutsideTrainingIsTheIdentity) {
  Case t("Dropout", 127);
  NodeId x = t.Param("x", {3, 5});
  t.ProjectAndCheck(t.Op(OpKind::kDropout, "dropout", {x},
                         {{"rate", AttrValue::Float(0.5)}, {"seed", AttrValue::Int(2)}}));
}

// ---------------------------------------------------------------------------------------------
// SoftmaxCrossEntropy: the loss is the op itself; labels are an i32 Input.

TEST(SoftmaxCrossEntropyGrad, MatchesFiniteDifferences) {
  Case t("SoftmaxCrossEntropy", 97);
  NodeId logits = t.Param("logits", {4, 5}, Uniform(20, 101, -2.0, 2.0));
  auto labels = t.graph().AddSource(OpKind::kInput, "labels", {DType::kI32, {4}});
  ASSERT_TRUE(labels.ok()) << labels.status();
  t.feeds()["labels"] = Tensor::I32({4}, {3, 0, 4, 1});
  NodeId loss = t.Op(OpKind::kSoftmaxCrossEntropy, "loss", {logits, *labels});
  t.Check(loss);
}

TEST(SoftmaxCrossEntropyGrad, AfterAChainOfOps) {
  // logits = x W + b feeding the loss: the cross-entropy gradient composed with MatMul/BiasAdd.
  Case t("SoftmaxCrossEntropy", 103);
  NodeId x = t.Param("x", {3, 4});
  NodeId w = t.Param("w", {4, 6});
  NodeId b = t.Param("b", {6});
  NodeId mm = t.Op(OpKind::kMatMul, "mm", {x, w},
                   {{"transpose_a", AttrValue::Int(0)}, {"transpose_b", AttrValue::Int(0)}});
  NodeId logits = t.Op(OpKind::kBiasAdd, "logits", {mm, b});
  auto labels = t.graph().AddSource(OpKind::kInput, "labels", {DType::kI32, {3}});
  ASSERT_TRUE(labels.ok()) << labels.status();
  t.feeds()["labels"] = Tensor::I32({3}, {5, 2, 2});
  t.Check(t.Op(OpKind::kSoftmaxCrossEntropy, "loss", {logits, *labels}));
}

}  // namespace
}  // namespace kiln
