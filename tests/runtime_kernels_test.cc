// Reference kernels, run through the interpreter and checked against hand-computed values.
#include <algorithm>
#include <cmath>
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

// Adds an Input per feed (named and typed after it) to `g`; returns their ids in order.
std::vector<NodeId> AddInputs(Graph& g, const Feeds& feeds) {
  std::vector<NodeId> ids;
  for (const auto& [name, t] : feeds) ids.push_back(*g.AddSource(OpKind::kInput, name, t.type()));
  return ids;
}

// Runs `g` with `feeds` through the interpreter and returns node `out`'s value.
Tensor Eval(Graph g, const Feeds& feeds, NodeId out) {
  const std::string name = g.node(out).name;
  g.AddOutput(out);
  auto exe = CreateInterpreter(std::move(g));
  EXPECT_TRUE(exe.ok()) << exe.status();
  if (!exe.ok()) return Tensor();
  for (const auto& [input, value] : feeds) {
    absl::Status s = (*exe)->SetTensor(input, value);
    EXPECT_TRUE(s.ok()) << s;
  }
  absl::Status run = (*exe)->Run();
  EXPECT_TRUE(run.ok()) << run;
  auto t = (*exe)->GetTensor(name);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *t : Tensor();
}

// Builds `op` over one Input per feed and evaluates it.
Tensor EvalOp(OpKind op, const Feeds& feeds, Attrs attrs = {}) {
  Graph g;
  std::vector<NodeId> ids = AddInputs(g, feeds);
  auto y = g.AddOp(op, "y", ids, std::move(attrs));
  EXPECT_TRUE(y.ok()) << y.status();
  if (!y.ok()) return Tensor();
  return Eval(std::move(g), feeds, *y);
}

using testing_util::ExpectValues;
using testing_util::Iota;

Tensor Conv(const Tensor& x, const Tensor& w, int64_t stride, const char* padding) {
  return EvalOp(OpKind::kConv2D, {{"x", x}, {"w", w}}, ConvAttrs(stride, stride, padding));
}

TEST(Conv2DKernel, ValidStride1WithBias) {
  Tensor x = Tensor::F32({1, 3, 3, 1}, Iota(9, 1));  // [[1,2,3],[4,5,6],[7,8,9]]
  Tensor w = Tensor::F32({2, 2, 1, 1}, {1, 2, 3, 4});
  Tensor b = Tensor::F32({1}, {0.5f});
  Tensor y = EvalOp(OpKind::kConv2D, {{"x", x}, {"w", w}, {"b", b}}, ConvAttrs(1, 1, "valid"));
  // 1*1+2*2+4*3+5*4 = 37, 2+6+15+24 = 47, 4+10+21+32 = 67, 5+12+24+36 = 77; plus 0.5.
  ExpectValues(y, {1, 2, 2, 1}, {37.5f, 47.5f, 67.5f, 77.5f});
}

TEST(Conv2DKernel, ValidStride2) {
  Tensor x = Tensor::F32({1, 5, 5, 1}, Iota(25));  // x[i][j] = 5i + j.
  Tensor w = Tensor::F32({3, 3, 1, 1}, std::vector<float>(9, 1.0f));
  // Window at (r, c) sums to 9 * (5r + c) + 54.
  ExpectValues(Conv(x, w, 2, "valid"), {1, 2, 2, 1}, {54, 72, 144, 162});
}

TEST(Conv2DKernel, SamePaddingOddInput) {
  Tensor x = Tensor::F32({1, 3, 3, 1}, Iota(9, 1));
  Tensor w = Tensor::F32({3, 3, 1, 1}, std::vector<float>(9, 1.0f));
  // Each output is the sum of the 3x3 neighbourhood, zero outside.
  ExpectValues(Conv(x, w, 1, "same"), {1, 3, 3, 1}, {12, 21, 16, 27, 45, 33, 24, 39, 28});
}

TEST(Conv2DKernel, SamePaddingEvenInputPadsAtTheEnd) {
  Tensor x = Tensor::F32({1, 4, 4, 1}, Iota(16, 1));  // [[1..4],[5..8],[9..12],[13..16]]
  // 2x2 window, stride 1: one padding cell, placed after (TF/Keras), so out[i][j] sums
  // x[i..i+1][j..j+1].
  Tensor w2 = Tensor::F32({2, 2, 1, 1}, {1, 1, 1, 1});
  ExpectValues(Conv(x, w2, 1, "same"), {1, 4, 4, 1},
               {14, 18, 22, 12, 30, 34, 38, 20, 46, 50, 54, 28, 27, 29, 31, 16});
  // 3x3 window, stride 2: out 2x2, again one padding cell, at the end.
  Tensor w3 = Tensor::F32({3, 3, 1, 1}, std::vector<float>(9, 1.0f));
  ExpectValues(Conv(x, w3, 2, "same"), {1, 2, 2, 1}, {54, 45, 72, 54});
}

TEST(Conv2DKernel, MultiChannelMatchesNaiveLoop) {
  const int64_t n = 2, h = 4, wd = 5, cin = 2, kh = 2, kw = 3, cout = 2;
  std::vector<float> xv(n * h * wd * cin), wv(kh * kw * cin * cout), bv = {0.25f, -1.5f};
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = static_cast<float>((i * 37) % 11) / 4 - 1.0f;
  for (size_t i = 0; i < wv.size(); ++i) wv[i] = static_cast<float>((i * 13) % 7) / 2 - 1.5f;
  Tensor x = Tensor::F32({n, h, wd, cin}, xv);
  Tensor w = Tensor::F32({kh, kw, cin, cout}, wv);
  Tensor b = Tensor::F32({cout}, bv);
  struct Case {
    const char* padding;
    int64_t sh, sw, oh, ow, pad_top, pad_left;
  };
  // Same: H: out 4, total pad 1 -> top 0. W: out ceil(5/2) = 3, total 2*2+3-5 = 2 -> left 1.
  for (const Case& c : {Case{"valid", 1, 2, 3, 2, 0, 0}, Case{"same", 1, 2, 4, 3, 0, 1}}) {
    SCOPED_TRACE(c.padding);
    std::vector<float> want;
    for (int64_t bi = 0; bi < n; ++bi) {
      for (int64_t oy = 0; oy < c.oh; ++oy) {
        for (int64_t ox = 0; ox < c.ow; ++ox) {
          for (int64_t co = 0; co < cout; ++co) {
            double s = bv[co];
            for (int64_t ky = 0; ky < kh; ++ky) {
              for (int64_t kx = 0; kx < kw; ++kx) {
                int64_t iy = oy * c.sh + ky - c.pad_top, ix = ox * c.sw + kx - c.pad_left;
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                for (int64_t ci = 0; ci < cin; ++ci) {
                  s += xv[((bi * h + iy) * wd + ix) * cin + ci] *
                       wv[((ky * kw + kx) * cin + ci) * cout + co];
                }
              }
            }
            want.push_back(static_cast<float>(s));
          }
        }
      }
    }
    Tensor y =
        EvalOp(OpKind::kConv2D, {{"x", x}, {"w", w}, {"b", b}}, ConvAttrs(c.sh, c.sw, c.padding));
    ExpectValues(y, {n, c.oh, c.ow, cout}, want);
  }
}

TEST(Conv2DKernel, CourseEdgeFilters) {
  std::vector<float> img(25, 0.0f);
  for (int r = 0; r < 5; ++r) img[r * 5 + 2] = 1.0f;  // A vertical line in column 2.
  Tensor x = Tensor::F32({1, 5, 5, 1}, img);
  Tensor vertical = Tensor::F32({3, 3, 1, 1}, {-1, 0, 1, -2, 0, 2, -1, 0, 1});
  Tensor horizontal = Tensor::F32({3, 3, 1, 1}, {-1, -2, -1, 0, 0, 0, 1, 2, 1});
  ExpectValues(Conv(x, vertical, 1, "valid"), {1, 3, 3, 1}, {4, 0, -4, 4, 0, -4, 4, 0, -4});
  ExpectValues(Conv(x, horizontal, 1, "valid"), {1, 3, 3, 1}, std::vector<float>(9, 0.0f));
  // With "same" padding the horizontal filter fires only on the top and bottom borders.
  std::vector<float> want(25, 0.0f);
  for (int j = 1; j <= 3; ++j) {
    want[j] = (j == 2) ? 2.0f : 1.0f;
    want[20 + j] = -want[j];
  }
  ExpectValues(Conv(x, horizontal, 1, "same"), {1, 5, 5, 1}, want);
}

TEST(PoolKernels, MaxPool2x2) {
  std::vector<float> v = {1, 2, 5, 6, 3, 4, 7, 8, 9, 10, 13, 14, 11, 12, 15, 16};
  Tensor x = Tensor::F32({1, 4, 4, 1}, v);
  ExpectValues(EvalOp(OpKind::kMaxPool2D, {{"x", x}}, PoolAttrs(2, 2, "valid")), {1, 2, 2, 1},
               {4, 8, 12, 16});
  // Two channels, the second negated: channels pool independently, max of negatives works.
  std::vector<float> v2;
  for (float f : v) v2.insert(v2.end(), {f, -f});
  Tensor x2 = Tensor::F32({1, 4, 4, 2}, v2);
  ExpectValues(EvalOp(OpKind::kMaxPool2D, {{"x", x2}}, PoolAttrs(2, 2, "valid")), {1, 2, 2, 2},
               {4, -1, 8, -5, 12, -9, 16, -13});
}

TEST(PoolKernels, MaxPoolSameIgnoresPadding) {
  std::vector<float> v = Iota(9, 1);
  for (float& f : v) f = -f;  // All negative: a padded zero would win if it were counted.
  Tensor x = Tensor::F32({1, 3, 3, 1}, v);
  // Out 2x2, one padding cell at the end of each axis.
  ExpectValues(EvalOp(OpKind::kMaxPool2D, {{"x", x}}, PoolAttrs(2, 2, "same")), {1, 2, 2, 1},
               {-1, -3, -7, -9});
}

TEST(PoolKernels, AvgPool) {
  std::vector<float> v = {1, 2, 5, 6, 3, 4, 7, 8, 9, 10, 13, 14, 11, 12, 15, 16};
  Tensor x = Tensor::F32({1, 4, 4, 1}, v);
  ExpectValues(EvalOp(OpKind::kAvgPool2D, {{"x", x}}, PoolAttrs(2, 2, "valid")), {1, 2, 2, 1},
               {2.5f, 6.5f, 10.5f, 14.5f});
  // Same padding divides by the in-bounds count: (1+2+4+5)/4, (3+6)/2, (7+8)/2, 9/1.
  Tensor x3 = Tensor::F32({1, 3, 3, 1}, Iota(9, 1));
  ExpectValues(EvalOp(OpKind::kAvgPool2D, {{"x", x3}}, PoolAttrs(2, 2, "same")), {1, 2, 2, 1},
               {3, 4.5f, 7.5f, 9});
  // 3x3 stride 1 same: corners average 4 cells, edges 6, the centre 9.
  ExpectValues(EvalOp(OpKind::kAvgPool2D, {{"x", x3}}, PoolAttrs(3, 1, "same")), {1, 3, 3, 1},
               {3, 3.5f, 4, 4.5f, 5, 5.5f, 6, 6.5f, 7});
}

Tensor MatMul(const Tensor& a, const Tensor& b, int ta, int tb) {
  return EvalOp(OpKind::kMatMul, {{"a", a}, {"b", b}},
                {{"transpose_a", AttrValue::Int(ta)}, {"transpose_b", AttrValue::Int(tb)}});
}

TEST(DenseKernels, MatMulAllTransposeCombinations) {
  Tensor a = Tensor::F32({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor at = Tensor::F32({3, 2}, {1, 4, 2, 5, 3, 6});
  Tensor b = Tensor::F32({3, 2}, {7, 8, 9, 10, 11, 12});
  Tensor bt = Tensor::F32({2, 3}, {7, 9, 11, 8, 10, 12});
  const std::vector<float> want = {58, 64, 139, 154};
  ExpectValues(MatMul(a, b, 0, 0), {2, 2}, want);
  ExpectValues(MatMul(at, b, 1, 0), {2, 2}, want);
  ExpectValues(MatMul(a, bt, 0, 1), {2, 2}, want);
  ExpectValues(MatMul(at, bt, 1, 1), {2, 2}, want);
  // M != N: [1,2] x [2,3].
  Tensor r = Tensor::F32({1, 2}, {1, 2});
  Tensor c = Tensor::F32({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor ct = Tensor::F32({3, 2}, {1, 4, 2, 5, 3, 6});
  ExpectValues(MatMul(r, c, 0, 0), {1, 3}, {9, 12, 15});
  ExpectValues(MatMul(Tensor::F32({2, 1}, {1, 2}), ct, 1, 1), {1, 3}, {9, 12, 15});
}

TEST(DenseKernels, BiasAdd) {
  Tensor x = Tensor::F32({2, 3}, Iota(6, 1));
  Tensor b = Tensor::F32({3}, {10, 20, 30});
  ExpectValues(EvalOp(OpKind::kBiasAdd, {{"x", x}, {"b", b}}), {2, 3}, {11, 22, 33, 14, 25, 36});
  Tensor x4 = Tensor::F32({1, 2, 1, 2}, {1, 2, 3, 4});
  Tensor b2 = Tensor::F32({2}, {-1, 1});
  ExpectValues(EvalOp(OpKind::kBiasAdd, {{"x", x4}, {"b", b2}}), {1, 2, 1, 2}, {0, 3, 2, 5});
}

TEST(DenseKernels, BinaryOpsAndScalarBroadcast) {
  Tensor a = Tensor::F32({2, 2}, {1, 2, 3, 4});
  Tensor b = Tensor::F32({2, 2}, {5, 6, 7, 8});
  Tensor s = Tensor::F32({}, {2});
  ExpectValues(EvalOp(OpKind::kAdd, {{"a", a}, {"b", b}}), {2, 2}, {6, 8, 10, 12});
  ExpectValues(EvalOp(OpKind::kSub, {{"a", a}, {"b", b}}), {2, 2}, {-4, -4, -4, -4});
  ExpectValues(EvalOp(OpKind::kMul, {{"a", a}, {"b", b}}), {2, 2}, {5, 12, 21, 32});
  ExpectValues(EvalOp(OpKind::kDiv, {{"a", a}, {"b", b}}), {2, 2},
               {1.0f / 5, 2.0f / 6, 3.0f / 7, 4.0f / 8});
  ExpectValues(EvalOp(OpKind::kAdd, {{"a", a}, {"s", s}}), {2, 2}, {3, 4, 5, 6});
  ExpectValues(EvalOp(OpKind::kSub, {{"a", a}, {"s", s}}), {2, 2}, {-1, 0, 1, 2});
  ExpectValues(EvalOp(OpKind::kSub, {{"s", s}, {"a", a}}), {2, 2}, {1, 0, -1, -2});
  ExpectValues(EvalOp(OpKind::kMul, {{"s", s}, {"a", a}}), {2, 2}, {2, 4, 6, 8});
  ExpectValues(EvalOp(OpKind::kDiv, {{"s", s}, {"a", a}}), {2, 2}, {2, 1, 2.0f / 3, 0.5f});
  ExpectValues(EvalOp(OpKind::kDiv, {{"a", a}, {"s", s}}), {2, 2}, {0.5f, 1, 1.5f, 2});
  Tensor t = Tensor::F32({}, {3});
  ExpectValues(EvalOp(OpKind::kMul, {{"s", s}, {"t", t}}), {}, {6});
}

TEST(DenseKernels, BinaryI32) {
  Tensor a = Tensor::I32({3}, {7, -7, 9});
  Tensor b = Tensor::I32({3}, {2, 2, 0});
  Tensor sum = EvalOp(OpKind::kAdd, {{"a", a}, {"b", b}});
  ASSERT_EQ(sum.dtype(), DType::kI32);
  EXPECT_EQ(std::vector<int32_t>(sum.i32(), sum.i32() + 3), (std::vector<int32_t>{9, -5, 9}));
  Tensor q = EvalOp(OpKind::kDiv, {{"a", a}, {"b", b}});
  // Truncating division; division by zero yields 0 rather than trapping.
  EXPECT_EQ(std::vector<int32_t>(q.i32(), q.i32() + 3), (std::vector<int32_t>{3, -3, 0}));
}

TEST(DenseKernels, UnaryOps) {
  Tensor x = Tensor::F32({6}, {-100, -2, -0.5f, 0, 1, 2});
  ExpectValues(EvalOp(OpKind::kRelu, {{"x", x}}), {6}, {0, 0, 0, 0, 1, 2});
  Tensor sig = EvalOp(OpKind::kSigmoid, {{"x", x}});
  ExpectValues(sig, {6}, {0, 0.11920292f, 0.37754067f, 0.5f, 0.73105858f, 0.88079708f});
  EXPECT_TRUE(std::isfinite(sig.f32()[0]));
  EXPECT_GE(sig.f32()[0], 0.0f);
  EXPECT_LT(sig.f32()[0], 1e-40f);
  Tensor big = Tensor::F32({2}, {100, 1000});
  ExpectValues(EvalOp(OpKind::kSigmoid, {{"x", big}}), {2}, {1, 1});
  ExpectValues(EvalOp(OpKind::kTanh, {{"x", x}}), {6},
               {-1, -0.96402758f, -0.46211716f, 0, 0.76159416f, 0.96402758f});
}

TEST(DenseKernels, SoftmaxKnownValuesAndStability) {
  Attrs last = {{"axis", AttrValue::Int(-1)}};
  Tensor x = Tensor::F32({2, 3}, {1, 2, 3, 1000, 1001, 1002});
  Tensor y = EvalOp(OpKind::kSoftmax, {{"x", x}}, last);
  const std::vector<float> row = {0.09003057f, 0.24472847f, 0.66524096f};
  ExpectValues(y, {2, 3}, {row[0], row[1], row[2], row[0], row[1], row[2]});
  for (int r = 0; r < 2; ++r) {
    EXPECT_NEAR(y.f32()[3 * r] + y.f32()[3 * r + 1] + y.f32()[3 * r + 2], 1.0f, 1e-6f);
  }
  ExpectValues(EvalOp(OpKind::kSoftmax, {{"x", Tensor::F32({2}, {1000, 1001})}}, last), {2},
               {0.26894142f, 0.73105858f});
  // Axis 0 normalizes columns.
  Tensor c = Tensor::F32({2, 3}, {0, 1, 2, 1, 1, -1000});
  ExpectValues(EvalOp(OpKind::kSoftmax, {{"x", c}}, {{"axis", AttrValue::Int(0)}}), {2, 3},
               {0.26894142f, 0.5f, 1, 0.73105858f, 0.5f, 0});
  // Middle axis of a rank-3 tensor: every (i, k) fibre sums to 1.
  Tensor m = Tensor::F32({2, 3, 2}, Iota(12));
  Tensor ym = EvalOp(OpKind::kSoftmax, {{"x", m}}, {{"axis", AttrValue::Int(1)}});
  ASSERT_EQ(ym.dims(), (Dims{2, 3, 2}));
  for (int i = 0; i < 2; ++i) {
    for (int k = 0; k < 2; ++k) {
      float s = 0;
      for (int j = 0; j < 3; ++j) s += ym.f32()[(i * 3 + j) * 2 + k];
      EXPECT_NEAR(s, 1.0f, 1e-6f);
      // Logits along the fibre are 2 apart: softmax([0, 2, 4]).
      EXPECT_NEAR(ym.f32()[(i * 3 + 2) * 2 + k], 0.86681333f, 1e-6f);
    }
  }
}

Tensor Reduce(OpKind op, const Tensor& x, std::vector<int64_t> axes, int keepdims) {
  return EvalOp(
      op, {{"x", x}},
      {{"axes", AttrValue::Ints(std::move(axes))}, {"keepdims", AttrValue::Int(keepdims)}});
}

TEST(ReduceKernels, SumMeanMaxOverVariousAxes) {
  Tensor x = Tensor::F32({2, 3, 4}, Iota(24));  // x[a][b][c] = 12a + 4b + c.
  // Sum over b: 36a + 12 + 3c.
  ExpectValues(Reduce(OpKind::kReduceSum, x, {1}, 0), {2, 4}, {12, 15, 18, 21, 48, 51, 54, 57});
  // Sum over a and c: 60 + 32b.
  ExpectValues(Reduce(OpKind::kReduceSum, x, {0, -1}, 1), {1, 3, 1}, {60, 92, 124});
  ExpectValues(Reduce(OpKind::kReduceSum, x, {0, 1, 2}, 0), {}, {276});
  ExpectValues(Reduce(OpKind::kReduceSum, x, {}, 0), {2, 3, 4}, Iota(24));
  // Mean over c: 12a + 4b + 1.5.
  ExpectValues(Reduce(OpKind::kReduceMean, x, {-1}, 0), {2, 3},
               {1.5f, 5.5f, 9.5f, 13.5f, 17.5f, 21.5f});
  ExpectValues(Reduce(OpKind::kReduceMean, x, {2, 0, 1}, 1), {1, 1, 1}, {11.5f});
  // Mean over a: 6 + 4b + c.
  ExpectValues(Reduce(OpKind::kReduceMean, x, {0}, 1), {1, 3, 4}, Iota(12, 6));
  // Max over a and b: 20 + c.
  ExpectValues(Reduce(OpKind::kReduceMax, x, {0, 1}, 0), {4}, {20, 21, 22, 23});
  std::vector<float> neg = Iota(24);
  for (float& f : neg) f = -f;
  // Max over c of -(12a + 4b + c) is -(12a + 4b).
  ExpectValues(Reduce(OpKind::kReduceMax, Tensor::F32({2, 3, 4}, neg), {2}, 1), {2, 3, 1},
               {0, -4, -8, -12, -16, -20});
}

TEST(ReduceKernels, ArgMaxFirstOnTies) {
  Tensor x = Tensor::F32({2, 4}, {1, 3, 3, 2, 5, 5, 5, 5});
  Tensor y = EvalOp(OpKind::kArgMax, {{"x", x}}, {{"axis", AttrValue::Int(-1)}});
  ASSERT_EQ(y.dtype(), DType::kI32);
  ASSERT_EQ(y.dims(), (Dims{2}));
  EXPECT_EQ(y.i32()[0], 1);
  EXPECT_EQ(y.i32()[1], 0);
  Tensor z = EvalOp(OpKind::kArgMax, {{"x", x}}, {{"axis", AttrValue::Int(0)}});
  ASSERT_EQ(z.dims(), (Dims{4}));
  EXPECT_EQ(std::vector<int32_t>(z.i32(), z.i32() + 4), (std::vector<int32_t>{1, 1, 1, 1}));
  Tensor w = Tensor::F32({2, 2}, {-1, 7, -2, 7});
  Tensor zw = EvalOp(OpKind::kArgMax, {{"x", w}}, {{"axis", AttrValue::Int(0)}});
  EXPECT_EQ(std::vector<int32_t>(zw.i32(), zw.i32() + 2), (std::vector<int32_t>{0, 0}));
  // i32 input; middle axis of rank 3.
  Tensor xi = Tensor::I32({1, 3, 2}, {4, 9, 8, 9, 8, 1});
  Tensor zi = EvalOp(OpKind::kArgMax, {{"x", xi}}, {{"axis", AttrValue::Int(1)}});
  ASSERT_EQ(zi.dims(), (Dims{1, 2}));
  EXPECT_EQ(std::vector<int32_t>(zi.i32(), zi.i32() + 2), (std::vector<int32_t>{1, 0}));
}

TEST(Interpreter, ReshapeThenOps) {
  Graph g;
  NodeId x = *g.AddSource(OpKind::kInput, "x", F32({2, 3}));
  NodeId r = *g.AddOp(OpKind::kReshape, "r", {x}, {{"shape", AttrValue::Ints({3, 2})}});
  NodeId y = *g.AddOp(OpKind::kRelu, "y", {r});
  Tensor out = Eval(std::move(g), {{"x", Tensor::F32({2, 3}, {-1, 2, -3, 4, -5, 6})}}, y);
  ExpectValues(out, {3, 2}, {0, 2, 0, 4, 0, 6});
}

// A tiny CNN end to end: conv -> relu -> max pool -> reshape -> matmul -> softmax.
TEST(Interpreter, SmallPipeline) {
  Graph g;
  NodeId x = *g.AddSource(OpKind::kInput, "x", F32({1, 4, 4, 1}));
  NodeId w = *g.AddSource(OpKind::kInput, "w", F32({1, 1, 1, 1}));
  NodeId c = *g.AddOp(OpKind::kConv2D, "c", {x, w}, ConvAttrs(1, 1, "valid"));
  NodeId a = *g.AddOp(OpKind::kRelu, "a", {c});
  NodeId p = *g.AddOp(OpKind::kMaxPool2D, "p", {a}, PoolAttrs(2, 2, "valid"));
  NodeId f = *g.AddOp(OpKind::kReshape, "f", {p}, {{"shape", AttrValue::Ints({1, 4})}});
  NodeId d = *g.AddSource(OpKind::kInput, "d", F32({4, 2}));
  NodeId m = *g.AddOp(OpKind::kMatMul, "m", {f, d},
                      {{"transpose_a", AttrValue::Int(0)}, {"transpose_b", AttrValue::Int(0)}});
  NodeId s = *g.AddOp(OpKind::kSoftmax, "s", {m}, {{"axis", AttrValue::Int(1)}});
  std::vector<float> img = {1, 2, 5, 6, 3, 4, 7, 8, 9, 10, 13, 14, 11, 12, 15, 16};
  Feeds feeds = {{"x", Tensor::F32({1, 4, 4, 1}, img)},
                 {"w", Tensor::F32({1, 1, 1, 1}, {2})},
                 {"d", Tensor::F32({4, 2}, {1, 0, 0, 1, 0, 0, 0, 0})}};
  // Conv doubles, relu keeps, pool gives [8, 16, 24, 32], the matmul picks [8, 16]; softmax of
  // that is [sigmoid(-8), sigmoid(8)].
  ExpectValues(Eval(std::move(g), feeds, s), {1, 2}, {0.00033535013f, 0.99966465f});
}

}  // namespace
}  // namespace kiln
