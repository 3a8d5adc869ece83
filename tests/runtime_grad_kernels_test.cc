// Gradient kernels of the window ops and activations, run through the interpreter and checked
// against hand-computed values and against the forward kernels by adjoint identities.
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
  fused["keep"] = AttrValue::Int(0);
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

}  // namespace
}  // namespace kiln
