// Gradient, loss, metric and update kernels, run through the interpreter and checked against
// hand-computed values and, for the window ops, against the forward kernels by adjoint identities.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "ir/graph.h"
#include "ir/tensor.h"
#include "runtime/interpreter.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

using testing_util::ConvAttrs;
using testing_util::F32;
using testing_util::Feeds;
using testing_util::PoolAttrs;
Attrs With(Attrs attrs, const std::string& key, AttrValue value) {
  attrs[key] = std::move(value);
  return attrs;
}

std::unique_ptr<Executable> Compile(Graph g) {
  auto exe = CreateInterpreter(std::move(g));
  EXPECT_TRUE(exe.ok()) << exe.status();
  return exe.ok() ? *std::move(exe) : nullptr;
}

void Set(Executable& exe, const std::string& name, const Tensor& value) {
  absl::Status s = exe.SetTensor(name, value);
  EXPECT_TRUE(s.ok()) << s;
}

void RunStep(Executable& exe) {
  absl::Status s = exe.Run();
  EXPECT_TRUE(s.ok()) << s;
}

Tensor Get(const Executable& exe, const std::string& name) {
  auto t = exe.GetTensor(name);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *t : Tensor();
}

// Builds `op` over one Input per feed and evaluates it. Runs twice, so a kernel that relies on
// its output starting zeroed shows up as a difference between the runs.
Tensor EvalOp(OpKind op, const Feeds& feeds, Attrs attrs = {}) {
  Graph g;
  std::vector<NodeId> ids;
  for (const auto& [name, t] : feeds) ids.push_back(*g.AddSource(OpKind::kInput, name, t.type()));
  auto out = g.AddOp(op, "out", ids, std::move(attrs));
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return Tensor();
  g.AddOutput(*out);
  std::unique_ptr<Executable> exe = Compile(std::move(g));
  if (exe == nullptr) return Tensor();
  for (const auto& [name, value] : feeds) Set(*exe, name, value);
  RunStep(*exe);
  Tensor first = Get(*exe, "out");
  RunStep(*exe);
  Tensor second = Get(*exe, "out");
  EXPECT_TRUE(first.BitwiseEqual(second)) << OpName(op) << " differs between two runs";
  return first;
}

using testing_util::ExpectValues;
using testing_util::Iota;

// Deterministic values in [-1, 1): a small linear congruential generator.
std::vector<float> Pseudo(int64_t n, uint32_t seed) {
  std::vector<float> v(n);
  uint32_t s = seed;
  for (float& f : v) {
    s = s * 1664525u + 1013904223u;
    f = static_cast<float>(s >> 8) / static_cast<float>(1u << 23) - 1.0f;
  }
  return v;
}

Tensor PseudoTensor(Dims dims, uint32_t seed) {
  std::vector<float> v = Pseudo(NumElements(dims), seed);
  return Tensor::F32(std::move(dims), v);
}

// <a, b> in double.
double Dot(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.dims(), b.dims());
  double s = 0.0;
  for (int64_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    s += static_cast<double>(a.f32()[i]) * b.f32()[i];
  }
  return s;
}

double AbsSum(const Tensor& t) {
  double s = 0.0;
  for (float f : t.f32_span()) s += std::fabs(f);
  return s;
}

Tensor BackpropInput(const Tensor& dy, const Tensor& w, const Dims& x_shape, int64_t sh, int64_t sw,
                     const char* padding) {
  return EvalOp(OpKind::kConv2DBackpropInput, {{"dy", dy}, {"w", w}},
                With(ConvAttrs(sh, sw, padding), "input_shape", AttrValue::Ints(x_shape)));
}
Tensor BackpropFilter(const Tensor& x, const Tensor& dy, const Dims& w_shape, int64_t sh,
                      int64_t sw, const char* padding) {
  return EvalOp(OpKind::kConv2DBackpropFilter, {{"x", x}, {"dy", dy}},
                With(ConvAttrs(sh, sw, padding), "filter_shape", AttrValue::Ints(w_shape)));
}

TEST(ConvBackprop, ValidStride1) {
  Tensor w = Tensor::F32({2, 2, 1, 1}, {1, 2, 3, 4});
  Tensor ones = Tensor::F32({1, 2, 2, 1}, {1, 1, 1, 1});
  // dx sums the filter taps that covered each cell.
  ExpectValues(BackpropInput(ones, w, {1, 3, 3, 1}, 1, 1, "valid"), {1, 3, 3, 1},
               {1, 3, 2, 4, 10, 6, 3, 7, 4});
  // A single dy at (0,1) scatters the filter to rows 0-1, columns 1-2.
  Tensor one = Tensor::F32({1, 2, 2, 1}, {0, 1, 0, 0});
  ExpectValues(BackpropInput(one, w, {1, 3, 3, 1}, 1, 1, "valid"), {1, 3, 3, 1},
               {0, 1, 2, 0, 3, 4, 0, 0, 0});
  // dw[ky][kx] sums x over the 2x2 block at (ky, kx): x = [[1,2,3],[4,5,6],[7,8,9]].
  Tensor x = Tensor::F32({1, 3, 3, 1}, Iota(9, 1));
  ExpectValues(BackpropFilter(x, ones, {2, 2, 1, 1}, 1, 1, "valid"), {2, 2, 1, 1},
               {12, 16, 24, 28});
}

TEST(ConvBackprop, ValidStride2) {
  Tensor w = Tensor::F32({3, 3, 1, 1}, std::vector<float>(9, 1.0f));
  Tensor dy = Tensor::F32({1, 2, 2, 1}, {1, 2, 3, 4});
  // Rows/columns 0-1 are under window 0 only, 2 under both, 3-4 under window 1 only.
  ExpectValues(BackpropInput(dy, w, {1, 5, 5, 1}, 2, 2, "valid"), {1, 5, 5, 1},
               {1, 1, 3, 2, 2, 1, 1, 3, 2, 2, 4, 4, 10, 6, 6, 3, 3, 7, 4, 4, 3, 3, 7, 4, 4});
  // x[i][j] = 5i + j: dw[ky][kx] = sum dy * x[2oy+ky][2ox+kx] = 10 (5ky + kx) + 82.
  Tensor x = Tensor::F32({1, 5, 5, 1}, Iota(25));
  ExpectValues(BackpropFilter(x, dy, {3, 3, 1, 1}, 2, 2, "valid"), {3, 3, 1, 1},
               {82, 92, 102, 132, 142, 152, 182, 192, 202});
}

TEST(ConvBackprop, SamePadding) {
  // 3x3 "same" on 3x3 pads one cell on each side; with dy = 1 everywhere both gradients are
  // neighbourhood sums: of the taps w[ky][kx] = 3ky + kx + 1, and of x = [[1,2,3],...].
  Tensor ones = Tensor::F32({1, 3, 3, 1}, std::vector<float>(9, 1.0f));
  const std::vector<float> sums = {12, 21, 16, 27, 45, 33, 24, 39, 28};
  Tensor w = Tensor::F32({3, 3, 1, 1}, Iota(9, 1));
  ExpectValues(BackpropInput(ones, w, {1, 3, 3, 1}, 1, 1, "same"), {1, 3, 3, 1}, sums);
  Tensor x = Tensor::F32({1, 3, 3, 1}, Iota(9, 1));
  ExpectValues(BackpropFilter(x, ones, {3, 3, 1, 1}, 1, 1, "same"), {3, 3, 1, 1}, sums);
  // 4x4, 3x3 window, stride 2: out 2x2, one padding cell at the end, so window (oy,ox) covers
  // rows/columns 2oy..2oy+2 clipped to 3. dy = e(0,0) scatters w[0..2][0..2] to the top left.
  Tensor e00 = Tensor::F32({1, 2, 2, 1}, {1, 0, 0, 0});
  ExpectValues(BackpropInput(e00, w, {1, 4, 4, 1}, 2, 2, "same"), {1, 4, 4, 1},
               {1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0, 0, 0, 0, 0});
  // dy = e(1,1) sees only rows/columns 2-3 under taps 0-1.
  Tensor e11 = Tensor::F32({1, 2, 2, 1}, {0, 0, 0, 1});
  ExpectValues(BackpropInput(e11, w, {1, 4, 4, 1}, 2, 2, "same"), {1, 4, 4, 1},
               {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 4, 5});
  Tensor x4 = Tensor::F32({1, 4, 4, 1}, Iota(16, 1));
  ExpectValues(BackpropFilter(x4, e11, {3, 3, 1, 1}, 2, 2, "same"), {3, 3, 1, 1},
               {11, 12, 0, 15, 16, 0, 0, 0, 0});
}

// <conv(x, w), dy> == <x, BackpropInput(dy, w)> == <w, BackpropFilter(x, dy)>, multi-channel.
TEST(ConvBackprop, AdjointIdentity) {
  struct Case {
    Dims x, w;
    int64_t sh, sw;
    const char* padding;
  };
  const Case cases[] = {
      {{2, 5, 6, 3}, {2, 3, 3, 4}, 1, 1, "valid"}, {{2, 7, 6, 2}, {3, 2, 2, 3}, 2, 2, "valid"},
      {{1, 7, 8, 2}, {3, 3, 2, 2}, 2, 3, "valid"}, {{2, 5, 5, 3}, {3, 3, 3, 2}, 1, 1, "same"},
      {{2, 6, 7, 2}, {3, 3, 2, 3}, 2, 2, "same"},  {{1, 4, 5, 2}, {2, 2, 2, 2}, 1, 2, "same"},
      {{1, 5, 4, 1}, {4, 1, 1, 2}, 3, 1, "same"},
  };
  uint32_t seed = 1;
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << DimsToString(c.x) << " * " << DimsToString(c.w) << " s"
                                    << c.sh << "x" << c.sw << " " << c.padding);
    Tensor x = PseudoTensor(c.x, seed++);
    Tensor w = PseudoTensor(c.w, seed++);
    Tensor y = EvalOp(OpKind::kConv2D, {{"x", x}, {"w", w}}, ConvAttrs(c.sh, c.sw, c.padding));
    Tensor dy = PseudoTensor(y.dims(), seed++);
    Tensor dx = BackpropInput(dy, w, c.x, c.sh, c.sw, c.padding);
    Tensor dw = BackpropFilter(x, dy, c.w, c.sh, c.sw, c.padding);
    ASSERT_EQ(dx.dims(), c.x);
    ASSERT_EQ(dw.dims(), c.w);
    const double want = Dot(y, dy);
    const double tol = 1e-5 * (AbsSum(y) + AbsSum(dy) + 1.0);
    EXPECT_NEAR(Dot(x, dx), want, tol);
    EXPECT_NEAR(Dot(w, dw), want, tol);
  }
}

Tensor MaxPoolGrad(const Tensor& x, const Tensor& dy, int64_t size, int64_t stride,
                   const char* padding) {
  return EvalOp(OpKind::kMaxPool2DGrad, {{"x", x}, {"dy", dy}}, PoolAttrs(size, stride, padding));
}

TEST(MaxPoolGrad, RoutesToTheMax) {
  std::vector<float> v = {1, 2, 5, 6, 3, 4, 7, 8, 9, 10, 13, 14, 11, 12, 15, 16};
  Tensor dy = Tensor::F32({1, 2, 2, 1}, {1, 2, 3, 4});
  ExpectValues(MaxPoolGrad(Tensor::F32({1, 4, 4, 1}, v), dy, 2, 2, "valid"), {1, 4, 4, 1},
               {0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4});
  // Two channels, the second negated: its max is each window's smallest original value.
  std::vector<float> v2;
  for (float f : v) v2.insert(v2.end(), {f, -f});
  Tensor dy2 = Tensor::F32({1, 2, 2, 2}, {1, 10, 2, 20, 3, 30, 4, 40});
  std::vector<float> want(32, 0.0f);
  want[5 * 2] = 1, want[7 * 2] = 2, want[13 * 2] = 3, want[15 * 2] = 4;
  want[0 * 2 + 1] = 10, want[2 * 2 + 1] = 20, want[8 * 2 + 1] = 30, want[10 * 2 + 1] = 40;
  ExpectValues(MaxPoolGrad(Tensor::F32({1, 4, 4, 2}, v2), dy2, 2, 2, "valid"), {1, 4, 4, 2}, want);
}

TEST(MaxPoolGrad, OverlappingWindowsAccumulate) {
  Tensor dy = Tensor::F32({1, 2, 2, 1}, {1, 2, 3, 4});
  // Pool 3 stride 2 on 5x5: all four windows share the centre, which holds the max.
  std::vector<float> v = Iota(25);
  v[12] = 100;
  std::vector<float> want(25, 0.0f);
  want[12] = 10;
  ExpectValues(MaxPoolGrad(Tensor::F32({1, 5, 5, 1}, v), dy, 3, 2, "valid"), {1, 5, 5, 1}, want);
  // x = 5i + j: each window's max is its bottom-right cell.
  want.assign(25, 0.0f);
  want[12] = 1, want[14] = 2, want[22] = 3, want[24] = 4;
  ExpectValues(MaxPoolGrad(Tensor::F32({1, 5, 5, 1}, Iota(25)), dy, 3, 2, "valid"), {1, 5, 5, 1},
               want);
  // All ties: the first cell in row-major window order wins, as in the forward kernel.
  want.assign(25, 0.0f);
  want[0] = 1, want[2] = 2, want[10] = 3, want[12] = 4;
  ExpectValues(
      MaxPoolGrad(Tensor::F32({1, 5, 5, 1}, std::vector<float>(25, 7.0f)), dy, 3, 2, "valid"),
      {1, 5, 5, 1}, want);
}

TEST(MaxPoolGrad, SamePaddingIgnoresPaddedCells) {
  std::vector<float> v = Iota(9, 1);
  for (float& f : v) f = -f;  // All negative: a padded zero would win if it were counted.
  Tensor dy = Tensor::F32({1, 2, 2, 1}, {1, 2, 3, 4});
  ExpectValues(MaxPoolGrad(Tensor::F32({1, 3, 3, 1}, v), dy, 2, 2, "same"), {1, 3, 3, 1},
               {1, 0, 2, 0, 0, 0, 3, 0, 4});
  // 3x3 stride 1 same: the max of each clipped neighbourhood of -(3i+j+1) is its top-left cell.
  Tensor ones = Tensor::F32({1, 3, 3, 1}, std::vector<float>(9, 1.0f));
  ExpectValues(MaxPoolGrad(Tensor::F32({1, 3, 3, 1}, v), ones, 3, 1, "same"), {1, 3, 3, 1},
               {4, 2, 0, 2, 1, 0, 0, 0, 0});
}

// Each dy lands on a cell equal to its forward max: <x, dx> == <maxpool(x), dy>.
TEST(MaxPoolGrad, MatchesForwardMaxima) {
  uint32_t seed = 100;
  for (const char* padding : {"valid", "same"}) {
    SCOPED_TRACE(padding);
    Tensor x = PseudoTensor({2, 7, 6, 3}, seed++);
    Tensor y = EvalOp(OpKind::kMaxPool2D, {{"x", x}}, PoolAttrs(3, 2, padding));
    Tensor dy = PseudoTensor(y.dims(), seed++);
    Tensor dx = MaxPoolGrad(x, dy, 3, 2, padding);
    EXPECT_NEAR(Dot(x, dx), Dot(y, dy), 1e-5 * (AbsSum(y) + AbsSum(dy)));
  }
}

// The routes FusedConv2DMaxPool keeps stand in for y: the same gradient as FusedMaxPool2DGrad.
TEST(RoutedMaxPoolGrad, HandValuesAndUncoveredCells) {
  // 3x5 input, 2x2 windows: row 2 and column 4 are outside every window and get 0. Routes name
  // cells row-major within the window; -1 drops the gradient (the ReLU mask).
  Tensor routes = Tensor::F32({1, 1, 2, 1}, {3, -1});
  Tensor dpool = Tensor::F32({1, 1, 2, 1}, {5, 7});
  Attrs attrs = {{"pool", AttrValue::Ints({2, 2})}, {"input_shape", AttrValue::Ints({1, 3, 5, 1})}};
  ExpectValues(EvalOp(OpKind::kRoutedMaxPool2DGrad, {{"r", routes}, {"dp", dpool}}, attrs),
               {1, 3, 5, 1}, {0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0});
  routes = Tensor::F32({1, 1, 2, 1}, {0, 2});
  ExpectValues(EvalOp(OpKind::kRoutedMaxPool2DGrad, {{"r", routes}, {"dp", dpool}}, attrs),
               {1, 3, 5, 1}, {5, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0});
}

TEST(RoutedMaxPoolGrad, MatchesFusedMaxPoolGradOnKeptRoutes) {
  uint32_t seed = 200;
  Tensor x = PseudoTensor({2, 7, 5, 3}, seed++);
  Tensor w = PseudoTensor({2, 2, 3, 4}, seed++);
  Attrs conv = ConvAttrs(1, 1, "valid");
  Attrs fused = conv;
  fused["epilogue"] = AttrValue::Str("in0 relu");
  Tensor y = EvalOp(OpKind::kFusedConv2D, {{"x", x}, {"w", w}}, fused);  // [2, 6, 4, 4]
  conv["activation"] = AttrValue::Str("relu");
  Attrs fwd = conv;
  fwd["pool"] = AttrValue::Ints({2, 2});
  fwd["keep"] = AttrValue::Str("routes");
  Tensor kept = EvalOp(OpKind::kFusedConv2DMaxPool, {{"x", x}, {"w", w}}, fwd);
  const int64_t pooled = 2 * 3 * 2 * 4;
  ASSERT_EQ(kept.size(), 2 * pooled);
  Tensor routes(TensorType{DType::kF32, {2, 3, 2, 4}});
  std::copy(kept.f32() + pooled, kept.f32() + 2 * pooled, routes.f32());
  Tensor dpool = PseudoTensor({2, 3, 2, 4}, seed++);
  Tensor want =
      EvalOp(OpKind::kFusedMaxPool2DGrad, {{"y", y}, {"dp", dpool}}, PoolAttrs(2, 2, "valid"));
  Tensor got =
      EvalOp(OpKind::kRoutedMaxPool2DGrad, {{"r", routes}, {"dp", dpool}},
             {{"pool", AttrValue::Ints({2, 2})}, {"input_shape", AttrValue::Ints(y.dims())}});
  ExpectValues(got, want.dims(), std::vector<float>(want.f32(), want.f32() + want.size()));
}

Tensor AvgPoolGrad(const Tensor& dy, const Dims& x_shape, int64_t size, int64_t stride,
                   const char* padding) {
  return EvalOp(OpKind::kAvgPool2DGrad, {{"dy", dy}},
                With(PoolAttrs(size, stride, padding), "input_shape", AttrValue::Ints(x_shape)));
}

TEST(AvgPoolGrad, SpreadsOverInBoundsCells) {
  ExpectValues(AvgPoolGrad(Tensor::F32({1, 2, 2, 1}, {4, 8, 12, 16}), {1, 4, 4, 1}, 2, 2, "valid"),
               {1, 4, 4, 1}, {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  // Same on 3x3, pool 2 stride 2: windows hold 4, 2, 2 and 1 in-bounds cells.
  ExpectValues(AvgPoolGrad(Tensor::F32({1, 2, 2, 1}, {4, 2, 6, 1}), {1, 3, 3, 1}, 2, 2, "same"),
               {1, 3, 3, 1}, {1, 1, 1, 1, 1, 1, 3, 3, 1});
  // Same 3x3 stride 1 on 3x3, dy = 1: windows hold 4 (corner), 6 (edge) or 9 (centre) cells.
  const float c = 1.0f / 4, e = 1.0f / 6, m = 1.0f / 9;
  ExpectValues(
      AvgPoolGrad(Tensor::F32({1, 3, 3, 1}, std::vector<float>(9, 1.0f)), {1, 3, 3, 1}, 3, 1,
                  "same"),
      {1, 3, 3, 1},
      {c + 2 * e + m, 2 * c + 3 * e + m, c + 2 * e + m, 2 * c + 3 * e + m, 4 * c + 4 * e + m,
       2 * c + 3 * e + m, c + 2 * e + m, 2 * c + 3 * e + m, c + 2 * e + m});
}

// AvgPoolGrad is the adjoint of AvgPool2D: <avgpool(x), dy> == <x, dx>.
TEST(AvgPoolGrad, AdjointIdentity) {
  uint32_t seed = 200;
  for (const char* padding : {"valid", "same"}) {
    for (int64_t stride : {1, 2}) {
      SCOPED_TRACE(testing::Message() << padding << " stride " << stride);
      Tensor x = PseudoTensor({2, 6, 7, 2}, seed++);
      Tensor y = EvalOp(OpKind::kAvgPool2D, {{"x", x}}, PoolAttrs(3, stride, padding));
      Tensor dy = PseudoTensor(y.dims(), seed++);
      Tensor dx = AvgPoolGrad(dy, x.dims(), 3, stride, padding);
      EXPECT_NEAR(Dot(x, dx), Dot(y, dy), 1e-5 * (AbsSum(y) + AbsSum(dy)));
    }
  }
}

TEST(ActivationGrad, ReluSigmoidTanh) {
  auto grad = [](OpKind op, std::vector<float> y, std::vector<float> dy) {
    const Dims dims = {static_cast<int64_t>(y.size())};
    return EvalOp(op, {{"y", Tensor::F32(dims, y)}, {"dy", Tensor::F32(dims, dy)}});
  };
  ExpectValues(grad(OpKind::kReluGrad, {0, 0.5f, 2, 0}, {5, 6, 7, 8}), {4}, {0, 6, 7, 0});
  ExpectValues(grad(OpKind::kSigmoidGrad, {0.5f, 0.25f, 1, 0}, {2, 4, 3, 3}), {4},
               {0.5f, 0.75f, 0, 0});
  ExpectValues(grad(OpKind::kTanhGrad, {0, 0.5f, -0.5f, 1}, {2, 4, 4, 3}), {4}, {2, 3, 3, 0});
}

TEST(ActivationGrad, SoftmaxHandValue) {
  // y = [0.5, 0.5], dy = [1, 0]: sum(dy*y) = 0.5, dx = y * (dy - 0.5).
  Tensor y = Tensor::F32({1, 2}, {0.5f, 0.5f});
  Tensor dy = Tensor::F32({1, 2}, {1, 0});
  ExpectValues(EvalOp(OpKind::kSoftmaxGrad, {{"y", y}, {"dy", dy}}, {{"axis", AttrValue::Int(1)}}),
               {1, 2}, {0.25f, -0.25f});
}

// dx = J^T dy with J[i][j] = y_i (delta_ij - y_j) the softmax Jacobian along the axis.
TEST(ActivationGrad, SoftmaxMatchesJacobianVectorProduct) {
  struct Case {
    Dims dims;
    int64_t axis;
  };
  uint32_t seed = 300;
  for (const Case& c : {Case{{2, 3}, -1}, Case{{2, 3}, 0}, Case{{2, 3, 2}, 1}, Case{{4}, 0}}) {
    SCOPED_TRACE(testing::Message() << DimsToString(c.dims) << " axis " << c.axis);
    const int rank = static_cast<int>(c.dims.size());
    const int axis = static_cast<int>(c.axis < 0 ? c.axis + rank : c.axis);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; ++d) outer *= c.dims[d];
    for (int d = axis + 1; d < rank; ++d) inner *= c.dims[d];
    const int64_t len = c.dims[axis];
    std::vector<float> logits = Pseudo(NumElements(c.dims), seed++);
    std::vector<float> dy = Pseudo(NumElements(c.dims), seed++);
    std::vector<float> y(logits.size());
    std::vector<float> want(logits.size());
    for (int64_t p = 0; p < outer; ++p) {
      for (int64_t q = 0; q < inner; ++q) {
        auto at = [&](int64_t j) { return (p * len + j) * inner + q; };
        double sum = 0;
        for (int64_t j = 0; j < len; ++j) sum += std::exp(logits[at(j)]);
        for (int64_t j = 0; j < len; ++j)
          y[at(j)] = static_cast<float>(std::exp(logits[at(j)]) / sum);
        for (int64_t i = 0; i < len; ++i) {
          double s = 0;
          for (int64_t j = 0; j < len; ++j) {
            const double jac = static_cast<double>(y[at(j)]) * ((i == j) - y[at(i)]);  // J[j][i]
            s += jac * dy[at(j)];
          }
          want[at(i)] = static_cast<float>(s);
        }
      }
    }
    Tensor got = EvalOp(OpKind::kSoftmaxGrad,
                        {{"y", Tensor::F32(c.dims, y)}, {"dy", Tensor::F32(c.dims, dy)}},
                        {{"axis", AttrValue::Int(c.axis)}});
    ExpectValues(got, c.dims, want);
  }
}

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
