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
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <numeric>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "autodiff/differentiate.h"
#include "autodiff/gradcheck.h"
#include "gtest/gtest.h"
#include "ir/graph.h"
#include "ir/tensor.h"
#include "runtime/interpreter.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

constexpr double kTolerance = 2e-3;

TensorType F32(Dims dims) { return {DType::kF32, std::move(dims)}; }

int64_t Count(const Dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

using Rng = testing_util::SplitMix;

std::vector<float> Uniform(int64_t n, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(rng.Uniform(lo, hi));
  return v;
}

// Random sign times a magnitude in [lo, hi]: values kept away from zero.
std::vector<float> AwayFromZero(int64_t n, uint64_t seed, double lo, double hi) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) {
    const double mag = rng.Uniform(lo, hi);
    x = static_cast<float>(rng.Next() & 1 ? mag : -mag);
  }
  return v;
}

// A random permutation of n distinct values `spacing` apart, centred on zero: no ties, and every
// pair differs by far more than the finite-difference step.
std::vector<float> DistinctPermutation(int64_t n, uint64_t seed, double spacing = 0.01) {
  Rng rng(seed);
  std::vector<int64_t> rank(n);
  std::iota(rank.begin(), rank.end(), 0);
  for (int64_t i = n - 1; i > 0; --i) std::swap(rank[i], rank[rng.Next() % (i + 1)]);
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) {
    v[i] = static_cast<float>((static_cast<double>(rank[i]) - 0.5 * (n - 1)) * spacing);
  }
  return v;
}

// Largest error seen per op family, printed after all tests for the record.
std::map<std::string, double>& Worst() {
  static auto* worst = new std::map<std::string, double>();
  return *worst;
}

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

// Builds a gradient-check case: parameters with their values, the op(s) under test, then the
// random projection to a scalar loss.
class Case {
 public:
  explicit Case(std::string family, uint64_t seed = 1) : family_(std::move(family)), seed_(seed) {}

  Graph& graph() { return g_; }
  std::map<std::string, Tensor>& feeds() { return feeds_; }
  const std::vector<NodeId>& params() const { return params_; }

  NodeId Param(const std::string& name, const Dims& dims, std::vector<float> values = {}) {
    if (values.empty()) values = Uniform(Count(dims), ++seed_ * 7919);
    auto id = g_.AddSource(OpKind::kParameter, name, F32(dims), {{"trainable", AttrValue::Int(1)}});
    EXPECT_TRUE(id.ok()) << id.status();
    if (!id.ok()) return -1;
    feeds_[name] = Tensor::F32(dims, values);
    params_.push_back(*id);
    return *id;
  }

  NodeId Op(OpKind op, const std::string& name, std::vector<NodeId> inputs, Attrs attrs = {}) {
    auto id = g_.AddOp(op, name, std::move(inputs), std::move(attrs));
    EXPECT_TRUE(id.ok()) << id.status();
    return id.ok() ? *id : -1;
  }

  // loss = ReduceSum(Mul(y, R), all axes), R fixed pseudo-random in [-1, 1].
  NodeId Project(NodeId y) {
    const Dims dims = g_.node(y).type.dims;
    auto r = g_.AddSource(OpKind::kConstant, "R", F32(dims),
                          {{"value", AttrValue::Floats(Uniform(Count(dims), 0xC0FFEE + seed_))}});
    EXPECT_TRUE(r.ok()) << r.status();
    NodeId prod = Op(OpKind::kMul, "projected", {y, *r});
    std::vector<int64_t> axes(dims.size());
    std::iota(axes.begin(), axes.end(), 0);
    return Op(OpKind::kReduceSum, "loss", {prod},
              {{"axes", AttrValue::Ints(axes)}, {"keepdims", AttrValue::Int(0)}});
  }

  // Runs CheckGradients for every parameter against `loss` and expects errors below `tolerance`.
  void Check(NodeId loss, double epsilon = 1e-3, double tolerance = kTolerance) {
    ASSERT_GE(loss, 0);
    GradCheckOptions options;
    options.epsilon = epsilon;
    auto results = CheckGradients(g_, loss, params_, feeds_, options);
    ASSERT_TRUE(results.ok()) << results.status();
    ASSERT_EQ(results->size(), params_.size());
    for (const GradCheckResult& r : *results) {
      EXPECT_LT(r.max_relative_error, tolerance)
          << family_ << ": d loss / d " << r.parameter << " (" << r.checked
          << " elements, max |numeric| " << r.max_abs_numeric << ")";
      // A vanishing gradient would make the check vacuous.
      EXPECT_GT(r.max_abs_numeric, 1e-2) << family_ << ": " << r.parameter;
      // Inputs are kink-free, so (nearly) every element is compared. CheckGradients' kink test
      // (one-sided differences disagreeing by > 2% and > 1e-3) can still fire on a smooth op for a
      // small-gradient element, from float rounding of the loss alone; allow 2% of the elements.
      const int64_t n = feeds_.at(r.parameter).size();
      EXPECT_LE(r.skipped_kinks, std::max<int64_t>(1, n / 50)) << family_ << ": " << r.parameter;
      EXPECT_EQ(r.checked + r.skipped_kinks, n) << family_ << ": " << r.parameter;
      if (r.skipped_kinks > 0) {
        std::printf("[gradcheck] %s: %lld of %lld elements of %s skipped as kinks\n",
                    family_.c_str(), static_cast<long long>(r.skipped_kinks),
                    static_cast<long long>(n), r.parameter.c_str());
      }
      double& worst = Worst()[family_];
      worst = std::max(worst, r.max_relative_error);
    }
  }

  void ProjectAndCheck(NodeId y) { Check(Project(y)); }

 private:
  std::string family_;
  uint64_t seed_;
  Graph g_;
  std::map<std::string, Tensor> feeds_;
  std::vector<NodeId> params_;
};

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

// ---------------------------------------------------------------------------------------------
// Elementwise unary ops and softmax.

class UnaryGradTest : public ::testing::TestWithParam<OpKind> {};

TEST_P(UnaryGradTest, MatchesFiniteDifferences) {
  const OpKind op = GetParam();
  const Dims dims = {2, 3, 4};
  Case t(OpName(op), 61);
  // Relu: |x| >= 0.1, far from the kink at 0. Sigmoid and tanh: their curved range.
  NodeId x = t.Param("x", dims,
                     op == OpKind::kRelu ? AwayFromZero(Count(dims), 67, 0.1, 1.5)
                                         : Uniform(Count(dims), 71, -2.5, 2.5));
  NodeId y = t.Op(op, "unary", {x});
  ASSERT_GE(y, 0);
  t.ProjectAndCheck(y);
}

INSTANTIATE_TEST_SUITE_P(Ops, UnaryGradTest,
                         ::testing::Values(OpKind::kRelu, OpKind::kSigmoid, OpKind::kTanh),
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

// ---------------------------------------------------------------------------------------------
// Differentiate itself.

// Runs `graph` with `feeds` and returns node `name`.
Tensor Evaluate(Graph graph, const std::vector<NodeId>& outputs,
                const std::map<std::string, Tensor>& feeds, const std::string& name) {
  graph.set_outputs(outputs);
  auto exe = CreateInterpreter(std::move(graph));
  EXPECT_TRUE(exe.ok()) << exe.status();
  if (!exe.ok()) return Tensor();
  for (const auto& [n, v] : feeds) EXPECT_TRUE((*exe)->SetTensor(n, v).ok()) << n;
  EXPECT_TRUE((*exe)->Run().ok());
  auto t = (*exe)->GetTensor(name);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *t : Tensor();
}

TEST(Differentiate, FanInSumsGradients) {
  // y = x*x + x uses x three times; d sum(y) / dx = 2x + 1.
  Case t("FanIn");
  const std::vector<float> xs = {-1.5f, -0.25f, 0.0f, 0.5f, 2.0f};
  NodeId x = t.Param("x", {5}, xs);
  NodeId sq = t.Op(OpKind::kMul, "sq", {x, x});
  NodeId y = t.Op(OpKind::kAdd, "y", {sq, x});
  NodeId loss = t.Op(OpKind::kReduceSum, "loss", {y},
                     {{"axes", AttrValue::Ints({0})}, {"keepdims", AttrValue::Int(0)}});
  ASSERT_GE(loss, 0);
  Graph g = t.graph();
  auto grads = Differentiate(g, loss, {x});
  ASSERT_TRUE(grads.ok()) << grads.status();
  ASSERT_EQ(grads->size(), 1u);
  EXPECT_EQ(g.node((*grads)[0]).type, F32({5}));
  Tensor dx = Evaluate(g, {loss, (*grads)[0]}, t.feeds(), g.node((*grads)[0]).name);
  ASSERT_EQ(dx.size(), 5);
  for (int i = 0; i < 5; ++i) EXPECT_FLOAT_EQ(dx.f32()[i], 2.0f * xs[i] + 1.0f) << "x=" << xs[i];
  t.Check(loss);
}

TEST(Differentiate, FanInThroughTwoBranches) {
  // The same parameter reaching the loss through two different ops, and a projection.
  Case t("FanIn", 107);
  NodeId x = t.Param("x", {2, 3});
  NodeId s = t.Op(OpKind::kSigmoid, "s", {x});
  NodeId th = t.Op(OpKind::kTanh, "th", {x});
  NodeId y = t.Op(OpKind::kMul, "y", {s, th});
  ASSERT_GE(y, 0);
  t.ProjectAndCheck(y);
}

TEST(Differentiate, UnusedParameterGetsZeros) {
  Case t("Unused");
  NodeId x = t.Param("x", {3});
  NodeId unused = t.Param("unused", {2, 2});
  NodeId y = t.Op(OpKind::kTanh, "y", {x});
  NodeId loss = t.Op(OpKind::kReduceSum, "loss", {y},
                     {{"axes", AttrValue::Ints({0})}, {"keepdims", AttrValue::Int(0)}});
  ASSERT_GE(loss, 0);
  Graph g = t.graph();
  auto grads = Differentiate(g, loss, {x, unused});
  ASSERT_TRUE(grads.ok()) << grads.status();
  ASSERT_EQ(grads->size(), 2u);
  EXPECT_EQ(g.node((*grads)[1]).type, F32({2, 2}));
  Tensor dz = Evaluate(g, {loss, (*grads)[0], (*grads)[1]}, t.feeds(), g.node((*grads)[1]).name);
  ASSERT_EQ(dz.size(), 4);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(dz.f32()[i], 0.0f);
  Tensor dx = Evaluate(g, {loss, (*grads)[0], (*grads)[1]}, t.feeds(), g.node((*grads)[0]).name);
  const Tensor& xv = t.feeds().at("x");
  for (int i = 0; i < 3; ++i) {
    const float th = std::tanh(xv.f32()[i]);
    EXPECT_NEAR(dx.f32()[i], 1.0f - th * th, 1e-6);
  }
}

TEST(Differentiate, OpWithoutRuleNamesOpAndNode) {
  Graph g;
  NodeId x = *g.AddSource(OpKind::kParameter, "x", F32({2, 3}), {{"trainable", AttrValue::Int(1)}});
  auto max = g.AddOp(OpKind::kReduceMax, "row_max", {x},
                     {{"axes", AttrValue::Ints({1})}, {"keepdims", AttrValue::Int(0)}});
  ASSERT_TRUE(max.ok()) << max.status();
  auto loss = g.AddOp(OpKind::kReduceSum, "loss", {*max},
                      {{"axes", AttrValue::Ints({0})}, {"keepdims", AttrValue::Int(0)}});
  ASSERT_TRUE(loss.ok()) << loss.status();
  auto grads = Differentiate(g, *loss, {x});
  ASSERT_FALSE(grads.ok());
  EXPECT_NE(grads.status().message().find("ReduceMax"), std::string::npos) << grads.status();
  EXPECT_NE(grads.status().message().find("row_max"), std::string::npos) << grads.status();
}

TEST(Differentiate, OpWithoutRuleOffThePathIsFine) {
  // ReduceMax of an Input that no parameter reaches needs no rule.
  Graph g;
  NodeId x = *g.AddSource(OpKind::kParameter, "x", F32({3}), {{"trainable", AttrValue::Int(1)}});
  NodeId in = *g.AddSource(OpKind::kInput, "in", F32({3}));
  NodeId m = *g.AddOp(OpKind::kReduceMax, "m", {in},
                      {{"axes", AttrValue::Ints({0})}, {"keepdims", AttrValue::Int(0)}});
  NodeId y = *g.AddOp(OpKind::kMul, "y", {x, m});
  NodeId loss = *g.AddOp(OpKind::kReduceSum, "loss", {y},
                         {{"axes", AttrValue::Ints({0})}, {"keepdims", AttrValue::Int(0)}});
  auto grads = Differentiate(g, loss, {x});
  ASSERT_TRUE(grads.ok()) << grads.status();
  Tensor dx = Evaluate(g, {loss, (*grads)[0]},
                       {{"x", Tensor::F32({3}, {1, 2, 3})}, {"in", Tensor::F32({3}, {-1, 4, 2})}},
                       g.node((*grads)[0]).name);
  ASSERT_EQ(dx.size(), 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(dx.f32()[i], 4.0f);
}

TEST(Differentiate, RejectsNonScalarLoss) {
  Graph g;
  NodeId x = *g.AddSource(OpKind::kParameter, "x", F32({3}), {{"trainable", AttrValue::Int(1)}});
  NodeId y = *g.AddOp(OpKind::kTanh, "vector_loss", {x});
  auto grads = Differentiate(g, y, {x});
  ASSERT_FALSE(grads.ok());
  EXPECT_NE(grads.status().message().find("vector_loss"), std::string::npos) << grads.status();

  NodeId one = *g.AddOp(OpKind::kReduceSum, "one_element", {x},
                        {{"axes", AttrValue::Ints({0})}, {"keepdims", AttrValue::Int(1)}});
  ASSERT_EQ(g.node(one).type, F32({1}));
  EXPECT_FALSE(Differentiate(g, one, {x}).ok()) << "f32[1] is not a scalar";

  // CheckGradients rejects it too.
  auto checked = CheckGradients(g, y, {x}, {{"x", Tensor::F32({3}, {1, 2, 3})}});
  EXPECT_FALSE(checked.ok());
}

}  // namespace
}  // namespace kiln
