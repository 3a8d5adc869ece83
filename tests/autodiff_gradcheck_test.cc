// Every gradient rule checked against central finite differences on the interpreter.
//
// Each case builds a small graph whose differentiable float inputs are Parameters, followed by a
// fixed pseudo-random projection to a scalar: loss = ReduceSum(Mul(y, R), all axes) with R a
// Constant. Projecting with R (rather than summing y) gives every output element a different
// weight, so a rule that permutes, drops or misroutes gradient elements cannot pass.
//
// Tolerance: CheckGradients' max_relative_error (max |symbolic - numeric| over the checked
// elements, divided by the largest |numeric|) must stay below kTolerance = 2e-3, with the default
// epsilon of 1e-3. Float32 rounding of the loss limits the finite differences to about
// 1e-6 / 2e-3 = 5e-4 absolute at the loss magnitudes used here (|loss| <~ 30, gradients O(1)),
// so observed errors are a few 1e-4 at most; a wrong rule gives O(1). No case loosens this.
// Inputs are chosen away from kinks: Relu inputs have |x| >= 0.1, MaxPool inputs are a random
// permutation of distinct values spaced 0.01 apart (>> 2 epsilon, so no perturbation changes a
// window's maximum), Div denominators have |b| >= 0.5.
#include "tests/autodiff_gradcheck.h"

namespace kiln {
namespace {

using namespace gradcheck_test;  // NOLINT(build/namespaces)

class WorstErrorReport : public ::testing::Environment {
 public:
  void TearDown() override {
    if (Worst().empty()) return;
    std::printf("[gradcheck] largest max_relative_error per op family (tolerance %g):\n",
                kTolerance);
    for (const auto& [family, err] : Worst()) std::printf("  %-22s %.3g\n", family.c_str(), err);
  }
};
[[maybe_unused]] ::testing::Environment* const kReport =
    ::testing::AddGlobalTestEnvironment(new WorstErrorReport);

// ---------------------------------------------------------------------------------------------
// Conv2D.

struct ConvCase {
  std::string name;
  Dims x;                // NHWC.
  int64_t kh, kw, cout;  // Filter [kh, kw, Cin, cout].
  int64_t sh, sw;
  const char* padding;
  bool bias;
};
void PrintTo(const ConvCase& c, std::ostream* os) { *os << c.name; }

class Conv2DGradTest : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Conv2DGradTest, MatchesFiniteDifferences) {
  const ConvCase& c = GetParam();
  Case t("Conv2D", 11);
  NodeId x = t.Param("x", c.x);
  NodeId w = t.Param("w", {c.kh, c.kw, c.x[3], c.cout});
  std::vector<NodeId> inputs = {x, w};
  if (c.bias) inputs.push_back(t.Param("b", {c.cout}));
  NodeId y =
      t.Op(OpKind::kConv2D, "conv", inputs,
           {{"strides", AttrValue::Ints({c.sh, c.sw})}, {"padding", AttrValue::Str(c.padding)}});
  ASSERT_GE(y, 0);
  t.ProjectAndCheck(y);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, Conv2DGradTest,
    ::testing::Values(ConvCase{"Valid3x3S1Bias", {2, 5, 6, 2}, 3, 3, 3, 1, 1, "valid", true},
                      ConvCase{"Valid2x2S1NoBias", {1, 4, 4, 3}, 2, 2, 2, 1, 1, "valid", false},
                      ConvCase{"Valid3x3S2OddBias", {2, 7, 7, 2}, 3, 3, 2, 2, 2, "valid", true},
                      ConvCase{"Valid3x3S2EvenNoBias", {1, 8, 6, 2}, 3, 3, 3, 2, 2, "valid", false},
                      ConvCase{"Same3x3S1OddBias", {1, 5, 5, 2}, 3, 3, 3, 1, 1, "same", true},
                      ConvCase{"Same3x3S1EvenNoBias", {2, 4, 6, 1}, 3, 3, 2, 1, 1, "same", false},
                      ConvCase{"Same3x3S2EvenBias", {2, 6, 8, 1}, 3, 3, 2, 2, 2, "same", true},
                      ConvCase{"Same3x3S2OddNoBias", {1, 7, 5, 2}, 3, 3, 2, 2, 2, "same", false},
                      ConvCase{"Valid2x3S1Bias", {2, 5, 6, 2}, 2, 3, 3, 1, 1, "valid", true},
                      ConvCase{"Same2x3S1NoBias", {1, 4, 5, 2}, 2, 3, 2, 1, 1, "same", false},
                      ConvCase{"Valid2x3S1x2Bias", {1, 5, 7, 2}, 2, 3, 2, 1, 2, "valid", true},
                      ConvCase{"Same2x3S2Bias", {2, 5, 7, 3}, 2, 3, 2, 2, 2, "same", true}),
    [](const ::testing::TestParamInfo<ConvCase>& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// MaxPool2D and AvgPool2D.

struct PoolCase {
  std::string name;
  OpKind op;
  Dims x;
  int64_t ph, pw, sh, sw;
  const char* padding;
};
void PrintTo(const PoolCase& c, std::ostream* os) { *os << c.name; }

class PoolGradTest : public ::testing::TestWithParam<PoolCase> {};

TEST_P(PoolGradTest, MatchesFiniteDifferences) {
  const PoolCase& c = GetParam();
  Case t(OpName(c.op), 23);
  // Distinct, well-separated values: max pooling is smooth at every one of them.
  NodeId x = t.Param("x", c.x, DistinctPermutation(Count(c.x), 977));
  NodeId y = t.Op(c.op, "pool", {x},
                  {{"pool", AttrValue::Ints({c.ph, c.pw})},
                   {"strides", AttrValue::Ints({c.sh, c.sw})},
                   {"padding", AttrValue::Str(c.padding)}});
  ASSERT_GE(y, 0);
  t.ProjectAndCheck(y);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PoolGradTest,
    ::testing::Values(
        PoolCase{"MaxP2S2ValidEven", OpKind::kMaxPool2D, {2, 4, 6, 3}, 2, 2, 2, 2, "valid"},
        PoolCase{"MaxP2S2ValidOdd", OpKind::kMaxPool2D, {1, 5, 5, 2}, 2, 2, 2, 2, "valid"},
        PoolCase{"MaxP3S2ValidOverlap", OpKind::kMaxPool2D, {1, 7, 7, 2}, 3, 3, 2, 2, "valid"},
        PoolCase{"MaxP3S2SameOverlap", OpKind::kMaxPool2D, {2, 6, 5, 2}, 3, 3, 2, 2, "same"},
        PoolCase{"MaxP2S2SameOdd", OpKind::kMaxPool2D, {1, 5, 5, 1}, 2, 2, 2, 2, "same"},
        PoolCase{"MaxP3S1Same", OpKind::kMaxPool2D, {1, 4, 5, 2}, 3, 3, 1, 1, "same"},
        PoolCase{"AvgP2S2ValidEven", OpKind::kAvgPool2D, {2, 4, 6, 3}, 2, 2, 2, 2, "valid"},
        PoolCase{"AvgP3S2ValidOverlap", OpKind::kAvgPool2D, {1, 7, 7, 2}, 3, 3, 2, 2, "valid"},
        PoolCase{"AvgP3S2SameOverlap", OpKind::kAvgPool2D, {2, 6, 5, 2}, 3, 3, 2, 2, "same"},
        PoolCase{"AvgP2S2SameOdd", OpKind::kAvgPool2D, {1, 5, 5, 1}, 2, 2, 2, 2, "same"},
        PoolCase{"AvgP3S1Same", OpKind::kAvgPool2D, {1, 4, 5, 2}, 3, 3, 1, 1, "same"},
        PoolCase{"AvgP2x3S1x2Same", OpKind::kAvgPool2D, {1, 5, 7, 2}, 2, 3, 1, 2, "same"}),
    [](const ::testing::TestParamInfo<PoolCase>& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// Reshape, MatMul, BiasAdd.

TEST(ReshapeGrad, MatchesFiniteDifferences) {
  Case t("Reshape");
  NodeId x = t.Param("x", {2, 3, 4});
  NodeId y = t.Op(OpKind::kReshape, "reshape", {x}, {{"shape", AttrValue::Ints({6, 4})}});
  // A second op after the reshape, so the gradient flowing back is not just R reshaped.
  NodeId z = t.Op(OpKind::kTanh, "tanh", {y});
  ASSERT_GE(z, 0);
  t.ProjectAndCheck(z);
}

class MatMulGradTest : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(MatMulGradTest, MatchesFiniteDifferences) {
  const auto [ta, tb] = GetParam();
  const int64_t m = 3, k = 4, n = 5;
  Case t("MatMul", 31 + 2 * ta + tb);
  NodeId a = t.Param("a", ta ? Dims{k, m} : Dims{m, k});
  NodeId b = t.Param("b", tb ? Dims{n, k} : Dims{k, n});
  NodeId y = t.Op(OpKind::kMatMul, "matmul", {a, b},
                  {{"transpose_a", AttrValue::Int(ta)}, {"transpose_b", AttrValue::Int(tb)}});
  ASSERT_GE(y, 0);
  EXPECT_EQ(t.graph().node(y).type.dims, (Dims{m, n}));
  t.ProjectAndCheck(y);
}

INSTANTIATE_TEST_SUITE_P(AllTransposes, MatMulGradTest,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()),
                         [](const ::testing::TestParamInfo<std::tuple<bool, bool>>& info) {
                           return std::string(std::get<0>(info.param) ? "AT" : "A") + "_" +
                                  (std::get<1>(info.param) ? "BT" : "B");
                         });

class BiasAddGradTest : public ::testing::TestWithParam<Dims> {};

TEST_P(BiasAddGradTest, MatchesFiniteDifferences) {
  const Dims& dims = GetParam();
  Case t("BiasAdd", 41 + dims.size());
  NodeId x = t.Param("x", dims);
  NodeId b = t.Param("b", {dims.back()});
  NodeId y = t.Op(OpKind::kBiasAdd, "bias_add", {x, b});
  ASSERT_GE(y, 0);
  t.ProjectAndCheck(y);
}

INSTANTIATE_TEST_SUITE_P(Ranks, BiasAddGradTest, ::testing::Values(Dims{3, 5}, Dims{2, 3, 4, 3}),
                         [](const ::testing::TestParamInfo<Dims>& info) {
                           return "Rank" + std::to_string(info.param.size());
                         });

// ---------------------------------------------------------------------------------------------
// Elementwise binary ops: equal shapes, or a scalar on either side.

enum class Operands { kEqual, kScalarLeft, kScalarRight };

class BinaryGradTest : public ::testing::TestWithParam<std::tuple<OpKind, Operands>> {};

TEST_P(BinaryGradTest, MatchesFiniteDifferences) {
  const auto [op, operands] = GetParam();
  const Dims full = {3, 4};
  const Dims a_dims = operands == Operands::kScalarLeft ? Dims{} : full;
  const Dims b_dims = operands == Operands::kScalarRight ? Dims{} : full;
  Case t(OpName(op), 53 + static_cast<int>(operands));
  NodeId a = t.Param("a", a_dims);
  // Division: denominators at least 0.5 away from zero.
  NodeId b = op == OpKind::kDiv ? t.Param("b", b_dims, AwayFromZero(Count(b_dims), 59, 0.5, 1.5))
                                : t.Param("b", b_dims);
  NodeId y = t.Op(op, "binary", {a, b});
  ASSERT_GE(y, 0);
  EXPECT_EQ(t.graph().node(y).type.dims, full);
  t.ProjectAndCheck(y);
}

INSTANTIATE_TEST_SUITE_P(
    Ops, BinaryGradTest,
    ::testing::Combine(::testing::Values(OpKind::kAdd, OpKind::kSub, OpKind::kMul, OpKind::kDiv),
                       ::testing::Values(Operands::kEqual, Operands::kScalarLeft,
                                         Operands::kScalarRight)),
    [](const ::testing::TestParamInfo<std::tuple<OpKind, Operands>>& info) {
      const Operands o = std::get<1>(info.param);
      return std::string(OpName(std::get<0>(info.param))) + (o == Operands::kEqual ? "_Equal"
                                                             : o == Operands::kScalarLeft
                                                                 ? "_ScalarLeft"
                                                                 : "_ScalarRight");
    });

}  // namespace
}  // namespace kiln
