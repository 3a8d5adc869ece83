// The JIT against the reference interpreter: every op with a codegen emitter, over a spread of
// shapes and attributes, on the same pseudo-random inputs; plus bitwise thread-count independence.
//
// Tolerances (per compared tensor, ref = interpreter output):
//   max_i |jit_i - ref_i| <= tol * max(1, max_i |ref_i|)
// with tol = 1e-6 for elementwise ops, broadcast and the optimizer updates (same float formulas;
// only exp/tanh/sqrt rounding may differ by an ulp), 1e-5 for reductions, softmax and the losses
// (float accumulation vs the interpreter's double), 1e-4 for convolutions, matmuls and large
// reductions (long float dot products summed in a different order). NaN must be NaN in both,
// infinities must be equal, i32 outputs must be identical.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "codegen/jit.h"
#include "gtest/gtest.h"
#include "ir/graph.h"
#include "ir/tensor.h"
#include "runtime/interpreter.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

constexpr double kElementwise = 1e-6, kReduction = 1e-5, kDense = 1e-4;

// Test data from testing_util::SplitMix, so every run feeds the same data: floats with 24
// random bits, and integers in a range.
class Rng {
 public:
  explicit Rng(uint64_t seed) : bits_(seed) {}
  float Uniform(float lo, float hi) {
    return lo + (hi - lo) * static_cast<float>(bits_.Next() >> 40) / static_cast<float>(1 << 24);
  }
  int32_t Int(int32_t lo, int32_t hi) {  // [lo, hi]
    return lo + static_cast<int32_t>(bits_.Next() % static_cast<uint64_t>(hi - lo + 1));
  }

 private:
  testing_util::SplitMix bits_;
};

using Feeds = std::vector<std::pair<std::string, Tensor>>;

// Builds one test graph: sources with random feeds, ops, and the tensors to compare.
class Builder {
 public:
  explicit Builder(uint64_t seed) : rng_(seed) {}

  // An f32 Input (or Parameter) uniform in [lo, hi]; `ints` rounds to integers (to force ties).
  NodeId F32(const std::string& name, Dims dims, float lo = -1, float hi = 1, bool ints = false,
             OpKind kind = OpKind::kInput) {
    Tensor t(TensorType{DType::kF32, dims});
    for (int64_t i = 0; i < t.size(); ++i) {
      const float v = rng_.Uniform(lo, hi);
      t.f32()[i] = ints ? std::round(v) : v;
    }
    return Source(name, std::move(t), kind);
  }
  NodeId Param(const std::string& name, Dims dims, float lo = -1, float hi = 1) {
    return F32(name, std::move(dims), lo, hi, false, OpKind::kParameter);
  }
  NodeId I32(const std::string& name, Dims dims, int32_t lo, int32_t hi) {
    Tensor t(TensorType{DType::kI32, dims});
    for (int64_t i = 0; i < t.size(); ++i) t.i32()[i] = rng_.Int(lo, hi);
    return Source(name, std::move(t), OpKind::kInput);
  }
  NodeId Source(const std::string& name, Tensor t, OpKind kind) {
    Attrs attrs;
    if (kind == OpKind::kParameter) attrs["trainable"] = AttrValue::Int(1);
    auto id = g.AddSource(kind, name, t.type(), std::move(attrs));
    EXPECT_TRUE(id.ok()) << id.status();
    feeds.push_back({name, std::move(t)});
    return *id;
  }
  // Overwrites element `i` of feed `name` (to plant NaN and infinities).
  void Set(const std::string& name, int64_t i, float v) {
    for (auto& [n, t] : feeds) {
      if (n == name) t.f32()[i] = v;
    }
  }
  // Adds an op; when `output`, it becomes a graph output that the test compares.
  NodeId Op(OpKind op, std::vector<NodeId> inputs, Attrs attrs = {}, bool output = true) {
    auto id = g.AddOp(op, g.UniqueName("y"), std::move(inputs), std::move(attrs));
    EXPECT_TRUE(id.ok()) << id.status();
    if (!id.ok()) return -1;
    if (output) {
      g.AddOutput(*id);
      compare.push_back(g.node(*id).name);
    }
    return *id;
  }

  Graph g;
  Feeds feeds;
  std::vector<std::string> compare;
  int steps = 1;
  // Feeds replaced before step s > 0 (e.g. Adam's step counter).
  std::function<void(int, Feeds&)> per_step;

 private:
  Rng rng_;
};

struct Case {
  std::string name;
  double tol;
  std::function<void(Builder&)> build;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

// Every element within tol * max(1, max|ref|); NaN where ref is NaN; equal infinities.
testing::AssertionResult Agree(const Tensor& ref, const Tensor& got, double tol) {
  if (ref.type() != got.type()) {
    return testing::AssertionFailure()
           << "types differ: " << TypeToString(ref.type()) << " vs " << TypeToString(got.type());
  }
  if (ref.dtype() == DType::kI32) {
    for (int64_t i = 0; i < ref.size(); ++i) {
      if (ref.i32()[i] != got.i32()[i]) {
        return testing::AssertionFailure()
               << "at " << i << ": ref " << ref.i32()[i] << " jit " << got.i32()[i];
      }
    }
    return testing::AssertionSuccess();
  }
  double scale = 1.0;
  for (int64_t i = 0; i < ref.size(); ++i) {
    if (std::isfinite(ref.f32()[i])) scale = std::max(scale, std::fabs((double)ref.f32()[i]));
  }
  double worst = 0;
  int64_t worst_at = -1;
  for (int64_t i = 0; i < ref.size(); ++i) {
    const float r = ref.f32()[i], j = got.f32()[i];
    if (std::isnan(r) || std::isnan(j) || std::isinf(r) || std::isinf(j)) {
      if (std::isnan(r) && std::isnan(j)) continue;
      if (r == j) continue;
      return testing::AssertionFailure() << "at " << i << ": ref " << r << " jit " << j;
    }
    const double d = std::fabs(static_cast<double>(r) - j);
    if (d > worst) worst = d, worst_at = i;
  }
  if (worst > tol * scale) {
    return testing::AssertionFailure()
           << "max |diff| " << worst << " at " << worst_at << " (ref " << ref.f32()[worst_at]
           << ", jit " << got.f32()[worst_at] << ") > " << tol << " * " << scale;
  }
  return testing::AssertionSuccess();
}

void Feed(Executable& exe, const Feeds& feeds) {
  for (const auto& [name, t] : feeds) ASSERT_TRUE(exe.SetTensor(name, t).ok()) << name;
}

// Runs `b`'s graph `b.steps` times on the interpreter and the JIT and compares b.compare.
void RunAndCompare(Builder& b, double tol, int threads, int lanes = 0) {
  auto ref = CreateInterpreter(b.g);
  ASSERT_TRUE(ref.ok()) << ref.status();
  JitOptions options{threads};
  options.vector_lanes = lanes;
  options.guard_pages = true;  // A read or write past any buffer's end faults.
  auto jit = CreateJit(b.g, options);
  ASSERT_TRUE(jit.ok()) << jit.status();
  for (int step = 0; step < b.steps; ++step) {
    if (step > 0 && b.per_step) b.per_step(step, b.feeds);
    Feed(**ref, b.feeds);
    Feed(**jit, b.feeds);
    ASSERT_TRUE((*ref)->Run().ok());
    ASSERT_TRUE((*jit)->Run().ok());
  }
  for (const std::string& name : b.compare) {
    auto r = (*ref)->GetTensor(name);
    auto j = (*jit)->GetTensor(name);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(j.ok()) << j.status();
    EXPECT_TRUE(Agree(*r, *j, tol)) << name;
  }
}

// ---- Attribute helpers and per-family case builders.

Attrs Window(Dims strides, const char* padding) {
  return {{"strides", AttrValue::Ints(std::move(strides))}, {"padding", AttrValue::Str(padding)}};
}
Attrs Pool(Dims pool, Dims strides, const char* padding) {
  Attrs a = Window(std::move(strides), padding);
  a["pool"] = AttrValue::Ints(std::move(pool));
  return a;
}
int64_t OutSize(int64_t in, int64_t win, int64_t stride, const char* padding) {
  return *WindowOutputSize(in, win, stride, padding);
}

struct ConvShape {
  const char* name;
  int64_t n, h, w, cin, kh, kw, cout, stride;
  const char* padding;
  bool bias;
};

std::vector<ConvShape> ConvShapes() {
  return {
      {"Valid3x3_Cin3_Cout5", 2, 9, 9, 3, 3, 3, 5, 1, "valid", false},
      {"Valid3x3_Cin3_Cout5_Bias", 2, 9, 9, 3, 3, 3, 5, 1, "valid", true},
      {"Same3x3_Cin3_Cout20_Bias", 2, 8, 7, 3, 3, 3, 20, 1, "same", true},
      {"Same3x3_Stride2_Cin5_Cout20", 2, 9, 10, 5, 3, 3, 20, 2, "same", false},
      {"Valid3x3_Stride2_Cin16_Cout32_Bias", 2, 11, 11, 16, 3, 3, 32, 2, "valid", true},
      {"Same2x2_Even_Cin4_Cout7", 1, 6, 5, 4, 2, 2, 7, 1, "same", true},
      {"Valid5x5_Cin1_Cout16", 3, 12, 12, 1, 5, 5, 16, 1, "valid", true},
      {"Same1x1_Cin17_Cout3", 2, 5, 5, 17, 1, 1, 3, 1, "same", false},
      {"SeedLayer_Cin32_Cout64", 2, 13, 13, 32, 3, 3, 64, 1, "valid", true},
      // Wide rows: pixel blocks in the padding at both ends, a loop of inside blocks between.
      {"Same3x3_Wide_Cin3_Cout64", 1, 4, 31, 3, 3, 3, 64, 1, "same", true},
      {"Same5x5_Stride2_Wide_Cin2_Cout16", 1, 5, 40, 2, 5, 5, 16, 2, "same", false},
      // Input gradients by stride phases: phases no tap reaches (kernel smaller than the
      // stride), rows and columns past the last window, odd sizes (padding before the first).
      {"Valid1x1_Stride2_Cin8_Cout12_Bias", 2, 9, 8, 8, 1, 1, 12, 2, "valid", true},
      {"Same2x2_Stride3_Cin3_Cout5", 2, 10, 11, 3, 2, 2, 5, 3, "same", false},
      {"Same3x3_Stride2_Odd_Cin4_Cout24_Bias", 2, 7, 9, 4, 3, 3, 24, 2, "same", true},
      {"Valid4x4_Stride2_Cin6_Cout40", 1, 12, 13, 6, 4, 4, 40, 2, "valid", false},
  };
}

void AddConvCases(std::vector<Case>& cases) {
  // A batch big enough for the filter gradient to split it into L2-sized blocks of images (19
  // and a ragged 11 here), summed in order.
  cases.push_back({"Conv2DBackpropFilter_BatchBlocks", kDense, [=](Builder& b) {
                     Attrs a = Window({1, 1}, "valid");
                     a["filter_shape"] = AttrValue::Ints({3, 3, 32, 64});
                     b.Op(OpKind::kConv2DBackpropFilter,
                          {b.F32("x", {30, 13, 13, 32}), b.F32("dy", {30, 11, 11, 64})}, a);
                   }});
  for (const ConvShape& s : ConvShapes()) {
    const int64_t oh = OutSize(s.h, s.kh, s.stride, s.padding);
    const int64_t ow = OutSize(s.w, s.kw, s.stride, s.padding);
    cases.push_back({std::string("Conv2D_") + s.name, kDense, [=](Builder& b) {
                       std::vector<NodeId> in = {b.F32("x", {s.n, s.h, s.w, s.cin}),
                                                 b.F32("w", {s.kh, s.kw, s.cin, s.cout})};
                       if (s.bias) in.push_back(b.F32("bias", {s.cout}));
                       b.Op(OpKind::kConv2D, in, Window({s.stride, s.stride}, s.padding));
                     }});
    cases.push_back(
        {std::string("Conv2DBackpropInput_") + s.name, kDense, [=](Builder& b) {
           Attrs a = Window({s.stride, s.stride}, s.padding);
           a["input_shape"] = AttrValue::Ints({s.n, s.h, s.w, s.cin});
           b.Op(OpKind::kConv2DBackpropInput,
                {b.F32("dy", {s.n, oh, ow, s.cout}), b.F32("w", {s.kh, s.kw, s.cin, s.cout})}, a);
         }});
    cases.push_back(
        {std::string("Conv2DBackpropFilter_") + s.name, kDense, [=](Builder& b) {
           Attrs a = Window({s.stride, s.stride}, s.padding);
           a["filter_shape"] = AttrValue::Ints({s.kh, s.kw, s.cin, s.cout});
           b.Op(OpKind::kConv2DBackpropFilter,
                {b.F32("x", {s.n, s.h, s.w, s.cin}), b.F32("dy", {s.n, oh, ow, s.cout})}, a);
         }});
  }
}

void AddMatMulCases(std::vector<Case>& cases) {
  struct Mm {
    const char* name;
    int64_t m, k, n;
  };
  for (const Mm& s : {Mm{"7x13x5", 7, 13, 5}, Mm{"64x1600x128", 64, 1600, 128},
                      Mm{"1x10x1", 1, 10, 1}, Mm{"33x17x40", 33, 17, 40},
                      Mm{"9x11x80", 9, 11, 80}}) {  // 80: a partial last block of vectors.
    for (int ta = 0; ta < 2; ++ta) {
      for (int tb = 0; tb < 2; ++tb) {
        const std::string name =
            std::string("MatMul_") + s.name + "_T" + std::to_string(ta) + std::to_string(tb);
        cases.push_back(
            {name, kDense, [=](Builder& b) {
               NodeId a = b.F32("a", ta ? Dims{s.k, s.m} : Dims{s.m, s.k});
               NodeId c = b.F32("b", tb ? Dims{s.n, s.k} : Dims{s.k, s.n});
               b.Op(OpKind::kMatMul, {a, c},
                    {{"transpose_a", AttrValue::Int(ta)}, {"transpose_b", AttrValue::Int(tb)}});
             }});
      }
    }
  }
}

struct PoolShape {
  const char* name;
  int64_t n, h, w, c, ph, pw, sh, sw;
  const char* padding;
};

void AddPoolCases(std::vector<Case>& cases) {
  const PoolShape shapes[] = {
      {"2x2_S2_Valid_C5", 2, 8, 8, 5, 2, 2, 2, 2, "valid"},
      {"3x3_S2_Valid_Overlap_C20", 2, 9, 9, 20, 3, 3, 2, 2, "valid"},
      {"3x3_S1_Same_C17", 2, 7, 7, 17, 3, 3, 1, 1, "same"},
      {"2x2_S2_Same_Odd_C16", 2, 7, 7, 16, 2, 2, 2, 2, "same"},
      {"2x3_S1x2_Same_C3", 1, 6, 7, 3, 2, 3, 1, 2, "same"},
      {"3x3_S2_Same_Overlap_C64", 2, 10, 9, 64, 3, 3, 2, 2, "same"},
      {"Seed26_2x2_S2_C64", 4, 26, 26, 64, 2, 2, 2, 2, "valid"},
      {"Seed11_2x2_S2_C64", 4, 11, 11, 64, 2, 2, 2, 2, "valid"},
  };
  for (const PoolShape& s : shapes) {
    const int64_t oh = OutSize(s.h, s.ph, s.sh, s.padding);
    const int64_t ow = OutSize(s.w, s.pw, s.sw, s.padding);
    const Attrs a = Pool({s.ph, s.pw}, {s.sh, s.sw}, s.padding);
    for (bool ties : {false, true}) {
      const std::string suffix = std::string(s.name) + (ties ? "_Ties" : "");
      // Small integers force ties: the first strict max must win in both backends.
      const float lo = ties ? -2 : -1, hi = ties ? 2 : 1;
      cases.push_back(
          {"MaxPool2D_" + suffix, kElementwise, [=](Builder& b) {
             b.Op(OpKind::kMaxPool2D, {b.F32("x", {s.n, s.h, s.w, s.c}, lo, hi, ties)}, a);
           }});
      cases.push_back(
          {"MaxPool2DGrad_" + suffix, kElementwise, [=](Builder& b) {
             b.Op(OpKind::kMaxPool2DGrad,
                  {b.F32("x", {s.n, s.h, s.w, s.c}, lo, hi, ties), b.F32("dy", {s.n, oh, ow, s.c})},
                  a);
           }});
      if (ties) continue;
      cases.push_back({"AvgPool2D_" + suffix, kElementwise, [=](Builder& b) {
                         b.Op(OpKind::kAvgPool2D, {b.F32("x", {s.n, s.h, s.w, s.c})}, a);
                       }});
      cases.push_back({"AvgPool2DGrad_" + suffix, kElementwise, [=](Builder& b) {
                         Attrs ga = a;
                         ga["input_shape"] = AttrValue::Ints({s.n, s.h, s.w, s.c});
                         b.Op(OpKind::kAvgPool2DGrad, {b.F32("dy", {s.n, oh, ow, s.c})}, ga);
                       }});
    }
  }
}

Attrs Axes(Dims axes, int keepdims) {
  return {{"axes", AttrValue::Ints(std::move(axes))}, {"keepdims", AttrValue::Int(keepdims)}};
}

void AddReduceCases(std::vector<Case>& cases) {
  struct R {
    const char* name;
    Dims dims;
    Dims axes;
    int keep;
    double tol;
  };
  const R shapes[] = {
      {"BiasGrad4D", {4, 6, 6, 20}, {0, 1, 2}, 0, kReduction},
      {"BiasGradSeed", {16, 24, 24, 64}, {0, 1, 2}, 0, kDense},
      {"BiasGrad2D", {64, 10}, {0}, 0, kReduction},
      {"Cols1600", {9, 1600}, {0}, 1, kReduction},
      {"LastAxis", {7, 13}, {-1}, 0, kReduction},
      {"LastAxisLong", {3, 1000}, {1}, 1, kReduction},
      {"Middle", {3, 5, 4}, {1}, 0, kReduction},
      {"FirstAndLast", {3, 5, 4}, {0, -1}, 1, kReduction},
      {"All", {6, 7, 8}, {0, 1, 2}, 0, kReduction},
      {"AllKeep", {37}, {0}, 1, kReduction},
      {"NoAxes", {4, 5}, {}, 0, kReduction},
      {"SizeOneAxes", {4, 1, 5, 1}, {1, 3}, 0, kReduction},
  };
  for (OpKind op : {OpKind::kReduceSum, OpKind::kReduceMean, OpKind::kReduceMax}) {
    for (const R& s : shapes) {
      const std::string name = std::string(OpName(op)) + "_" + s.name;
      cases.push_back({name, s.tol, [=](Builder& b) {
                         b.Op(op, {b.F32("x", s.dims, -1, 1, op == OpKind::kReduceMax)},
                              Axes(s.axes, s.keep));
                       }});
    }
  }
  struct A {
    const char* name;
    Dims dims;
    int64_t axis;
    bool i32;
  };
  for (const A& s : {A{"Last", {7, 13}, -1, false}, A{"First", {7, 13}, 0, false},
                     A{"Middle", {3, 5, 4}, 1, false}, A{"I32Ties", {6, 9}, 1, true},
                     A{"F32Ties", {5, 8, 3}, 1, false}, A{"Single", {4, 1}, 1, false}}) {
    cases.push_back({std::string("ArgMax_") + s.name, 0, [=](Builder& b) {
                       const bool ties = std::string(s.name) == "F32Ties";
                       NodeId x =
                           s.i32 ? b.I32("x", s.dims, -2, 2) : b.F32("x", s.dims, -2, 2, ties);
                       b.Op(OpKind::kArgMax, {x}, {{"axis", AttrValue::Int(s.axis)}});
                     }});
  }
  struct S {
    const char* name;
    Dims dims;
    int64_t axis;
  };
  for (const S& s : {S{"Last", {7, 13}, -1}, S{"First", {7, 13}, 0}, S{"Middle", {3, 5, 4}, 1},
                     S{"Wide", {4, 100}, 1}}) {
    cases.push_back(
        {std::string("Softmax_") + s.name, kReduction, [=](Builder& b) {
           b.Op(OpKind::kSoftmax, {b.F32("x", s.dims, -5, 5)}, {{"axis", AttrValue::Int(s.axis)}});
         }});
    cases.push_back(
        {std::string("SoftmaxGrad_") + s.name, kReduction, [=](Builder& b) {
           NodeId x = b.F32("x", s.dims, -3, 3);
           NodeId y = b.Op(OpKind::kSoftmax, {x}, {{"axis", AttrValue::Int(s.axis)}}, false);
           b.Op(OpKind::kSoftmaxGrad, {y, b.F32("dy", s.dims)}, {{"axis", AttrValue::Int(s.axis)}});
         }});
  }
  for (bool bad : {false, true}) {
    const std::string suffix = bad ? "_BadLabels" : "";
    auto labels = [bad](Builder& b, int64_t batch, int64_t classes) {
      NodeId id = b.I32("labels", {batch}, 0, static_cast<int32_t>(classes - 1));
      if (bad) {  // One label below range, one past it: those rows give NaN, never a stray read.
        b.feeds.back().second.i32()[1] = -1;
        b.feeds.back().second.i32()[3] = static_cast<int32_t>(classes);
      }
      return id;
    };
    cases.push_back(
        {"SoftmaxCrossEntropy" + suffix, kReduction, [=](Builder& b) {
           b.Op(OpKind::kSoftmaxCrossEntropy, {b.F32("logits", {8, 10}, -4, 4), labels(b, 8, 10)});
         }});
    cases.push_back({"SoftmaxCrossEntropyGrad" + suffix, kReduction, [=](Builder& b) {
                       NodeId lg = b.F32("logits", {8, 10}, -4, 4);
                       b.Op(OpKind::kSoftmaxCrossEntropyGrad,
                            {lg, labels(b, 8, 10), b.F32("dloss", {}, 0.5, 2)});
                     }});
  }
  cases.push_back({"SoftmaxCrossEntropy_Batch64", kReduction, [=](Builder& b) {
                     NodeId lg = b.F32("logits", {64, 10}, -4, 4);
                     NodeId lb = b.I32("labels", {64}, 0, 9);
                     b.Op(OpKind::kSoftmaxCrossEntropy, {lg, lb});
                     b.Op(OpKind::kSoftmaxCrossEntropyGrad, {lg, lb, b.F32("dloss", {}, 1, 1)});
                   }});
}

void AddElementwiseCases(std::vector<Case>& cases) {
  const Dims d = {5, 17, 3};
  for (OpKind op : {OpKind::kAdd, OpKind::kSub, OpKind::kMul, OpKind::kDiv}) {
    const std::string n = OpName(op);
    cases.push_back({n + "_F32", kElementwise, [=](Builder& b) {
                       b.Op(op, {b.F32("a", d), b.F32("b", d, 0.5, 2)});
                     }});
    cases.push_back({n + "_ScalarRhs", kElementwise, [=](Builder& b) {
                       b.Op(op, {b.F32("a", d), b.F32("b", {}, 0.5, 2)});
                     }});
    cases.push_back({n + "_ScalarLhs", kElementwise, [=](Builder& b) {
                       b.Op(op, {b.F32("a", {}, 0.5, 2), b.F32("b", d, 0.5, 2)});
                     }});
    cases.push_back({n + "_BothScalar", kElementwise, [=](Builder& b) {
                       b.Op(op, {b.F32("a", {}), b.F32("b", {}, 0.5, 2)});
                     }});
    cases.push_back({n + "_I32", 0, [=](Builder& b) {  // Div: includes x / 0 (= 0).
                       b.Op(op, {b.I32("a", d, -1000, 1000), b.I32("b", d, -3, 3)});
                     }});
    cases.push_back({n + "_I32ScalarRhs", 0, [=](Builder& b) {
                       b.Op(op, {b.I32("a", d, -1000, 1000), b.I32("b", {}, -3, -3)});
                     }});
  }
  cases.push_back({"Div_I32_MinByMinusOne", 0, [=](Builder& b) {
                     NodeId a = b.I32("a", {4}, std::numeric_limits<int32_t>::min(),
                                      std::numeric_limits<int32_t>::min());
                     b.Op(OpKind::kDiv, {a, b.I32("b", {4}, -1, -1)});
                   }});
  cases.push_back({"Equal_F32", 0, [=](Builder& b) {
                     b.Op(OpKind::kEqual, {b.F32("a", d, -2, 2, true), b.F32("b", d, -2, 2, true)});
                   }});
  cases.push_back({"Equal_I32", 0, [=](Builder& b) {
                     b.Op(OpKind::kEqual, {b.I32("a", {100}, 0, 3), b.I32("b", {100}, 0, 3)});
                   }});
  for (OpKind op : {OpKind::kRelu, OpKind::kSigmoid, OpKind::kTanh}) {
    cases.push_back({std::string(OpName(op)) + "_20000", kElementwise,
                     [=](Builder& b) { b.Op(op, {b.F32("x", {20000}, -8, 8)}); }});
    cases.push_back({std::string(OpName(op)) + "_Odd", kElementwise, [=](Builder& b) {
                       b.Op(op, {b.F32("x", {3, 7}, -30, 30)});
                     }});
  }
  const std::pair<OpKind, OpKind> grads[] = {{OpKind::kRelu, OpKind::kReluGrad},
                                             {OpKind::kSigmoid, OpKind::kSigmoidGrad},
                                             {OpKind::kTanh, OpKind::kTanhGrad}};
  for (const auto& [fwd, grad] : grads) {
    cases.push_back({OpName(grad), kElementwise, [=](Builder& b) {
                       NodeId y = b.Op(fwd, {b.F32("x", {9001}, -4, 4)}, {}, false);
                       b.Op(grad, {y, b.F32("dy", {9001})});
                     }});
  }
  cases.push_back({"BiasAdd_3D", kElementwise, [=](Builder& b) {
                     b.Op(OpKind::kBiasAdd, {b.F32("x", {3, 7, 20}), b.F32("b", {20})});
                   }});
  cases.push_back({"BiasAdd_Dense", kElementwise, [=](Builder& b) {
                     b.Op(OpKind::kBiasAdd, {b.F32("x", {64, 10}), b.F32("b", {10})});
                   }});
  cases.push_back({"Broadcast_Middle", 0, [=](Builder& b) {
                     b.Op(OpKind::kBroadcast, {b.F32("x", {3, 4})},
                          {{"shape", AttrValue::Ints({3, 5, 4})}, {"axes", AttrValue::Ints({1})}});
                   }});
  cases.push_back(
      {"Broadcast_Outer_I32", 0, [=](Builder& b) {
         b.Op(OpKind::kBroadcast, {b.I32("x", {5}, -9, 9)},
              {{"shape", AttrValue::Ints({2, 5, 3})}, {"axes", AttrValue::Ints({0, -1})}});
       }});
  cases.push_back({"Reshape_Constant_Add", 0, [=](Builder& b) {
                     auto c = b.g.AddSource(OpKind::kConstant, "c", TensorType{DType::kF32, {2, 3}},
                                            {{"value", AttrValue::Floats({1, 2, 3, 4, 5, 6})}});
                     NodeId r = b.Op(OpKind::kReshape, {b.F32("x", {3, 2})},
                                     {{"shape", AttrValue::Ints({2, 3})}}, false);
                     b.Op(OpKind::kAdd, {r, *c});
                   }});
}

void AddUpdateCases(std::vector<Case>& cases) {
  const Dims d = {5, 7};
  cases.push_back({"Assign", kElementwise, [=](Builder& b) {
                     b.Op(OpKind::kAssign, {b.Param("p", d), b.F32("v", d)}, {}, false);
                     b.compare = {"p"};
                     b.steps = 2;
                   }});
  struct Sgd {
    const char* name;
    float momentum;
    int nesterov;
    float decay;
  };
  for (const Sgd& s : {Sgd{"Plain", 0, 0, 0}, Sgd{"Momentum", 0.9f, 0, 0},
                       Sgd{"Nesterov", 0.9f, 1, 0}, Sgd{"WeightDecay", 0.9f, 0, 0.01f}}) {
    cases.push_back({std::string("ApplySgd_") + s.name, kElementwise, [=](Builder& b) {
                       b.Op(OpKind::kApplySgd, {b.Param("p", d), b.Param("vel", d), b.F32("g", d)},
                            {{"lr", AttrValue::Float(0.1)},
                             {"momentum", AttrValue::Float(s.momentum)},
                             {"nesterov", AttrValue::Int(s.nesterov)},
                             {"weight_decay", AttrValue::Float(s.decay)}},
                            false);
                       b.compare = {"p", "vel"};
                       b.steps = 2;
                     }});
  }
  cases.push_back(
      {"ApplyAdam", kElementwise, [=](Builder& b) {
         NodeId t = b.F32("t", {}, 1, 1);
         b.Op(OpKind::kApplyAdam,
              {b.Param("p", d), b.Param("m", d), b.Param("v", d, 0, 1), t, b.F32("g", d)},
              {{"lr", AttrValue::Float(0.01)},
               {"beta1", AttrValue::Float(0.9)},
               {"beta2", AttrValue::Float(0.999)},
               {"epsilon", AttrValue::Float(1e-7)}},
              false);
         b.compare = {"p", "m", "v"};
         b.steps = 2;
         b.per_step = [](int step, Feeds& feeds) {
           for (auto& [name, tensor] : feeds) {
             if (name == "t") tensor.f32()[0] = static_cast<float>(step + 1);
             // Parameters are fed only once: later steps must see the updated values.
           }
           feeds.erase(std::remove_if(feeds.begin(), feeds.end(),
                                      [](const auto& f) {
                                        return f.first == "p" || f.first == "m" || f.first == "v";
                                      }),
                       feeds.end());
         };
       }});
}

// Adam in a matmul's epilogue: p [13, 37] (three column vectors, the last partial with 16 lanes).
void AddFusedUpdateCases(std::vector<Case>& cases) {
  for (int steps : {1, 2}) {
    for (int ta = 0; ta < 2; ++ta) {
      for (int tb = 0; tb < 2; ++tb) {
        cases.push_back({"FusedMatMulApplyAdam_T" + std::to_string(ta) + std::to_string(tb) +
                             "_Steps" + std::to_string(steps),
                         kDense, [=](Builder& b) {
                           const Dims d = {13, 37};
                           std::vector<NodeId> in = {b.Param("p", d), b.Param("m", d),
                                                     b.Param("v", d, 0, 1), b.F32("t", {}, 1, 1)};
                           in.push_back(b.F32("a", ta ? Dims{9, 13} : Dims{13, 9}));
                           in.push_back(b.F32("b", tb ? Dims{37, 9} : Dims{9, 37}));
                           b.Op(OpKind::kFusedMatMulApplyAdam, in,
                                {{"transpose_a", AttrValue::Int(ta)},
                                 {"transpose_b", AttrValue::Int(tb)},
                                 {"lr", AttrValue::Float(0.01)},
                                 {"beta1", AttrValue::Float(0.9)},
                                 {"beta2", AttrValue::Float(0.999)},
                                 {"epsilon", AttrValue::Float(1e-7)}},
                                false);
                           b.compare = {"p", "m", "v"};
                           b.steps = steps;
                           b.per_step = [](int step, Feeds& feeds) {
                             for (auto& [name, tensor] : feeds) {
                               if (name == "t") tensor.f32()[0] = static_cast<float>(step + 1);
                             }
                             feeds.erase(std::remove_if(feeds.begin(), feeds.end(),
                                                        [](const auto& f) {
                                                          return f.first == "p" || f.first == "m" ||
                                                                 f.first == "v";
                                                        }),
                                         feeds.end());
                           };
                         }});
      }
    }
  }
}

// NaN and infinities: max-style ops ignore NaN (a strict `>` never picks it), sums propagate it.
void AddSpecialValueCases(std::vector<Case>& cases) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  // x [1,4,4,3]: window (0,0) of channel 0 all -inf; channel 1 NaN first then values; channel 2
  // of window (1,1) all NaN; a +inf elsewhere.
  auto plant = [=](Builder& b) {
    for (int64_t cell : {0, 1, 4, 5}) b.Set("x", cell * 3 + 0, -inf);
    b.Set("x", 0 * 3 + 1, nan);
    for (int64_t cell : {10, 11, 14, 15}) b.Set("x", cell * 3 + 2, nan);
    b.Set("x", 7 * 3 + 0, inf);
  };
  for (const char* padding : {"valid", "same"}) {
    const Attrs a = Pool({2, 2}, {2, 2}, padding);
    const Attrs o = Pool({3, 3}, {1, 1}, padding);
    const std::string p = padding;
    cases.push_back({"MaxPool2D_Special_" + p, 0, [=](Builder& b) {
                       NodeId x = b.F32("x", {1, 4, 4, 3});
                       plant(b);
                       b.Op(OpKind::kMaxPool2D, {x}, a);
                       b.Op(OpKind::kMaxPool2D, {x}, o);
                     }});
    cases.push_back({"MaxPool2DGrad_Special_" + p, 0, [=](Builder& b) {
                       NodeId x = b.F32("x", {1, 4, 4, 3});
                       plant(b);
                       b.Op(OpKind::kMaxPool2DGrad, {x, b.F32("dy", {1, 2, 2, 3})}, a);
                       const int64_t oh = OutSize(4, 3, 1, padding);
                       b.Op(OpKind::kMaxPool2DGrad, {x, b.F32("dy3", {1, oh, oh, 3})}, o);
                     }});
    cases.push_back({"AvgPool2D_Special_" + p, 0, [=](Builder& b) {
                       NodeId x = b.F32("x", {1, 4, 4, 3});
                       plant(b);
                       b.Op(OpKind::kAvgPool2D, {x}, a);
                     }});
  }
  cases.push_back(
      {"Reductions_Special", kReduction, [=](Builder& b) {
         NodeId x = b.F32("x", {6, 40});
         b.Set("x", 3, nan);             // Row 0, column 3.
         b.Set("x", 40 + 17, inf);       // Row 1.
         b.Set("x", 2 * 40 + 39, -inf);  // Row 2, the tail after the vector part.
         for (int64_t j = 0; j < 40; ++j) b.Set("x", 4 * 40 + j, nan);  // Row 4 all NaN.
         for (OpKind op : {OpKind::kReduceSum, OpKind::kReduceMean, OpKind::kReduceMax}) {
           b.Op(op, {x}, Axes({1}, 0));
           b.Op(op, {x}, Axes({0}, 0));
           b.Op(op, {x}, Axes({0, 1}, 0));
         }
         b.Op(OpKind::kArgMax, {x}, {{"axis", AttrValue::Int(1)}});
         b.Op(OpKind::kArgMax, {x}, {{"axis", AttrValue::Int(0)}});
         b.Op(OpKind::kSoftmax, {x}, {{"axis", AttrValue::Int(1)}});
       }});
}

// The fused groups the fusion pass creates, as IR nodes, with epilogues on odd shapes.
void AddFusedCases(std::vector<Case>& cases) {
  for (const ConvShape& s : ConvShapes()) {
    // Epilogues: ReLU; a residual add then tanh; a scalar scale then sigmoid.
    const std::vector<std::pair<const char*, const char*>> epilogues = {
        {"Relu", "in0 relu"}, {"AddTanh", "in0 in1 add tanh"}, {"ScaleSigmoid", "in1 in0 mul sigmoid"}};
    for (const auto& [label, program] : epilogues) {
      const std::string e = program;
      const bool scalar = e.find("mul") != std::string::npos;
      const bool extra = e.find("in1") != std::string::npos;
      cases.push_back({std::string("FusedConv2D_") + label + "_" + s.name, kDense, [=](Builder& b) {
                         std::vector<NodeId> in = {b.F32("x", {s.n, s.h, s.w, s.cin}),
                                                   b.F32("w", {s.kh, s.kw, s.cin, s.cout})};
                         if (s.bias) in.push_back(b.F32("bias", {s.cout}));
                         const Dims y = {s.n, OutSize(s.h, s.kh, s.stride, s.padding),
                                         OutSize(s.w, s.kw, s.stride, s.padding), s.cout};
                         if (extra) in.push_back(b.F32("extra", scalar ? Dims{} : y, -2, 2));
                         Attrs a = Window({s.stride, s.stride}, s.padding);
                         a["epilogue"] = AttrValue::Str(e);
                         b.Op(OpKind::kFusedConv2D, in, a);
                       }});
    }
  }
  // Max pooling in the conv epilogue, keeping nothing, the conv result or the routes.
  auto conv_pool = [&](const std::string& name, const ConvShape& s, Dims pool,
                       const std::string& keep) {
    cases.push_back({"FusedConv2DMaxPool_" + std::to_string(pool[0]) + "x" +
                         std::to_string(pool[1]) + "_Keep_" + keep + "_" + name,
                     kDense, [=](Builder& b) {
                       std::vector<NodeId> in = {b.F32("x", {s.n, s.h, s.w, s.cin}),
                                                 b.F32("w", {s.kh, s.kw, s.cin, s.cout})};
                       if (s.bias) in.push_back(b.F32("bias", {s.cout}));
                       Attrs a = Window({s.stride, s.stride}, s.padding);
                       a["activation"] = AttrValue::Str(s.bias ? "relu" : "none");
                       a["pool"] = AttrValue::Ints(pool);
                       a["keep"] = AttrValue::Str(keep);
                       b.Op(OpKind::kFusedConv2DMaxPool, in, a);
                     }});
  };
  for (const ConvShape& s : ConvShapes()) {
    const int64_t oh = OutSize(s.h, s.kh, s.stride, s.padding);
    const int64_t ow = OutSize(s.w, s.kw, s.stride, s.padding);
    for (const Dims& pool : {Dims{2, 2}, Dims{3, 2}}) {
      if (oh < pool[0] || ow < pool[1]) continue;
      for (const char* keep : {"none", "conv", "routes"}) conv_pool(s.name, s, pool, keep);
    }
  }
  // Rows of windows too wide for the kernel's stack tile (the conv rows go to scratch).
  conv_pool("WideRows", {"", 1, 5, 72, 1, 3, 3, 130, 1, "valid", true}, {2, 2}, "none");
  conv_pool("WideRows", {"", 1, 5, 72, 1, 3, 3, 130, 1, "valid", true}, {2, 2}, "routes");
  // The first layer's backward pass: pooling gradient, ReLU mask, filter and bias gradients.
  for (const ConvShape& s : ConvShapes()) {
    const int64_t oh = OutSize(s.h, s.kh, s.stride, s.padding);
    const int64_t ow = OutSize(s.w, s.kw, s.stride, s.padding);
    for (const Dims& pool : {Dims{2, 2}, Dims{3, 2}}) {
      if (oh < pool[0] || ow < pool[1]) continue;
      const int64_t ph = oh / pool[0], pw = ow / pool[1];
      for (const char* source : {"conv", "routes"}) {
        cases.push_back(
            {"FusedConvPoolFilterGrad_" + std::to_string(pool[0]) + "x" + std::to_string(pool[1]) +
                 "_" + source + "_" + s.name,
             kDense, [=](Builder& b) {
               Attrs a = Window({s.stride, s.stride}, s.padding);
               a["filter_shape"] = AttrValue::Ints({s.kh, s.kw, s.cin, s.cout});
               a["pool"] = AttrValue::Ints(pool);
               a["source"] = AttrValue::Str(source);
               const bool routes = std::string(source) == "routes";
               // Routes: a window cell index, or -1.
               NodeId y = routes ? b.F32("routes", {s.n, ph, pw, s.cout}, -1, pool[0] * pool[1] - 1,
                                         /*ints=*/true)
                                 : b.F32("y", {s.n, oh, ow, s.cout});
               b.Op(OpKind::kFusedConvPoolFilterGrad,
                    {b.F32("x", {s.n, s.h, s.w, s.cin}), y, b.F32("dpool", {s.n, ph, pw, s.cout})},
                    a);
             }});
      }
    }
  }
  // The routes the forward kernel keeps, read by the backward kernel (the seed CNN's first
  // layer, with integer inputs so that windows hold exact ties).
  cases.push_back(
      {"FusedConv2DMaxPool_Routes_To_FusedConvPoolFilterGrad", kDense, [](Builder& b) {
         NodeId x = b.F32("x", {3, 12, 12, 1}, -2, 2, /*ints=*/true);
         NodeId w = b.F32("w", {3, 3, 1, 20}, -1, 1, /*ints=*/true);
         Attrs a = Window({1, 1}, "valid");
         a["activation"] = AttrValue::Str("relu");
         a["pool"] = AttrValue::Ints({2, 2});
         a["keep"] = AttrValue::Str("routes");
         NodeId fwd =
             b.Op(OpKind::kFusedConv2DMaxPool, {x, w, b.F32("b", {20}, -1, 1, /*ints=*/true)}, a);
         NodeId routes = b.Op(OpKind::kView, {fwd},
                              {{"offset", AttrValue::Int(3 * 5 * 5 * 20)},
                               {"shape", AttrValue::Ints({3, 5, 5, 20})}},
                              /*output=*/false);
         Attrs g = Window({1, 1}, "valid");
         g["filter_shape"] = AttrValue::Ints({3, 3, 1, 20});
         g["pool"] = AttrValue::Ints({2, 2});
         g["source"] = AttrValue::Str("routes");
         b.Op(OpKind::kFusedConvPoolFilterGrad, {x, routes, b.F32("dpool", {3, 5, 5, 20})}, g);
       }});
  // The pool gradient from kept routes, including rows and columns outside every window.
  const struct {
    const char* name;
    Dims shape, pool;
  } routed[] = {{"Seed11_2x2_C64", {3, 11, 11, 64}, {2, 2}},
                {"Odd_3x2_C20", {2, 7, 9, 20}, {3, 2}},
                {"Exact_2x2_C5", {2, 4, 4, 5}, {2, 2}}};
  for (const auto& r : routed) {
    cases.push_back(
        {std::string("RoutedMaxPool2DGrad_") + r.name, kElementwise, [=](Builder& b) {
           const Dims p = {r.shape[0], r.shape[1] / r.pool[0], r.shape[2] / r.pool[1], r.shape[3]};
           b.Op(OpKind::kRoutedMaxPool2DGrad,
                {b.F32("routes", p, -1, r.pool[0] * r.pool[1] - 1, /*ints=*/true),
                 b.F32("dpool", p)},
                {{"pool", AttrValue::Ints(r.pool)}, {"input_shape", AttrValue::Ints(r.shape)}});
         }});
  }
  const std::vector<std::pair<const char*, const char*>> dense_epilogues = {
      {"none", "in0"}, {"relu", "in0 relu"}, {"tanh", "in0 tanh"}, {"addsigmoid", "in0 in1 add sigmoid"}};
  for (const auto& [label, program] : dense_epilogues) {
    const std::string e = program;
    for (int tb = 0; tb < 2; ++tb) {
      cases.push_back(
          {std::string("FusedDense_") + label + "_T0" + std::to_string(tb), kDense, [=](Builder& b) {
             NodeId x = b.F32("x", {9, 21});
             NodeId w = b.F32("w", tb ? Dims{37, 21} : Dims{21, 37});
             std::vector<NodeId> in = {x, w, b.F32("bias", {37})};
             if (e.find("in1") != std::string::npos) in.push_back(b.F32("extra", {9, 37}));
             b.Op(OpKind::kFusedDense, in,
                  {{"transpose_a", AttrValue::Int(0)},
                   {"transpose_b", AttrValue::Int(tb)},
                   {"epilogue", AttrValue::Str(e)}});
           }});
    }
  }
  // The backward matmul masked by the forward activation (no bias; y is the extra).
  for (const char* mask : {"relu_grad", "tanh_grad", "sigmoid_grad"}) {
    for (int ta = 0; ta < 2; ++ta) {
      cases.push_back({std::string("FusedDense_Mask_") + mask + "_T" + std::to_string(ta) + "1",
                       kDense, [=](Builder& b) {
                         NodeId a = b.F32("a", ta ? Dims{13, 11} : Dims{11, 13});
                         NodeId c = b.F32("b", {19, 13});
                         b.Op(OpKind::kFusedDense, {a, c, b.F32("y", {11, 19})},
                              {{"transpose_a", AttrValue::Int(ta)},
                               {"transpose_b", AttrValue::Int(1)},
                               {"epilogue", AttrValue::Str(std::string("in1 in0 ") + mask)}});
                       }});
    }
  }
  for (const char* padding : {"valid", "same"}) {
    cases.push_back(
        {std::string("FusedMaxPool2DGrad_3x3_S2_") + padding, kElementwise, [=](Builder& b) {
           const int64_t oh = OutSize(9, 3, 2, padding);
           b.Op(OpKind::kFusedMaxPool2DGrad,
                {b.F32("x", {2, 9, 9, 20}), b.F32("dy", {2, oh, oh, 20})},
                Pool({3, 3}, {2, 2}, padding));
         }});
  }
  // Loss and gradient in one kernel, and the Views the fuser gives the two results.
  cases.push_back({"SoftmaxCrossEntropyWithGrad", kReduction, [=](Builder& b) {
                     NodeId sce = b.Op(OpKind::kSoftmaxCrossEntropyWithGrad,
                                       {b.F32("logits", {13, 10}, -4, 4),
                                        b.I32("labels", {13}, 0, 9), b.F32("dloss", {}, 0.5, 2)});
                     b.Op(OpKind::kView, {sce},
                          {{"offset", AttrValue::Int(0)}, {"shape", AttrValue::Ints({13, 10})}});
                     b.Op(OpKind::kView, {sce},
                          {{"offset", AttrValue::Int(130)}, {"shape", AttrValue::Ints({})}});
                   }});
  for (const char* program : {"in0 in1 mul in2 add relu", "in0 sigmoid in1 sigmoid_grad",
                              "in0 in1 tanh_grad in2 div in0 relu_grad", "in0 tanh in2 sub"}) {
    cases.push_back(
        {std::string("Elementwise_") + std::to_string(cases.size()), kElementwise, [=](Builder& b) {
           NodeId x = b.F32("x", {3, 7, 5});
           NodeId y = b.F32("y", {3, 7, 5});
           NodeId z = b.F32("z", {}, 1, 2);  // A scalar operand, broadcast.
           b.Op(OpKind::kElementwise, {x, y, z}, {{"program", AttrValue::Str(program)}});
         }});
  }
}

std::vector<Case> AllCases() {
  std::vector<Case> cases;
  AddFusedCases(cases);
  AddConvCases(cases);
  AddMatMulCases(cases);
  AddPoolCases(cases);
  AddReduceCases(cases);
  AddElementwiseCases(cases);
  AddUpdateCases(cases);
  AddFusedUpdateCases(cases);
  AddSpecialValueCases(cases);
  return cases;
}

class AgreementTest : public testing::TestWithParam<Case> {};

TEST_P(AgreementTest, JitMatchesInterpreter) {
  const Case& c = GetParam();
  Builder b(std::hash<std::string>{}(c.name));
  c.build(b);
  if (HasFailure()) return;
  if (b.steps > 1 && !b.per_step) {
    // Later steps feed only the Inputs: Parameters must carry their updated values over.
    b.per_step = [](int, Feeds& feeds) {
      feeds.erase(std::remove_if(feeds.begin(), feeds.end(),
                                 [](const auto& f) { return f.first == "p" || f.first == "vel"; }),
                  feeds.end());
    };
  }
  RunAndCompare(b, c.tol, 3);
}

// The same cases with 8-lane vectors, the kernels an AVX2-only host gets.
TEST_P(AgreementTest, JitWithEightLaneVectorsMatchesInterpreter) {
  const Case& c = GetParam();
  Builder b(std::hash<std::string>{}(c.name));
  c.build(b);
  if (HasFailure() || b.steps > 1) return;  // Updates are lane-count independent.
  RunAndCompare(b, c.tol, 2, /*lanes=*/8);
}

INSTANTIATE_TEST_SUITE_P(Ops, AgreementTest, testing::ValuesIn(AllCases()),
                         [](const testing::TestParamInfo<Case>& info) { return info.param.name; });

// The same graph on 1 and 3 threads gives bitwise identical outputs: tasks own disjoint outputs
// and never reduce across tasks.
TEST(AgreementTest, ThreadCountDoesNotChangeBits) {
  Builder b(42);
  NodeId x = b.F32("x", {8, 13, 13, 32});
  NodeId w = b.F32("w", {3, 3, 32, 64});
  NodeId bias = b.F32("bias", {64});
  NodeId conv = b.Op(OpKind::kConv2D, {x, w, bias}, Window({1, 1}, "same"));
  Attrs fa = Window({1, 1}, "same");
  fa["filter_shape"] = AttrValue::Ints({3, 3, 32, 64});
  b.Op(OpKind::kConv2DBackpropFilter, {x, b.F32("dy", {8, 13, 13, 64})}, fa);
  b.Op(OpKind::kMatMul, {b.F32("a", {64, 1600}), b.F32("m", {1600, 128})},
       {{"transpose_a", AttrValue::Int(0)}, {"transpose_b", AttrValue::Int(0)}});
  b.Op(OpKind::kReduceSum, {conv}, Axes({0, 1, 2}, 0));
  b.Op(OpKind::kReduceSum, {b.F32("r", {4, 9, 7})}, Axes({0, 2}, 0));
  b.Op(OpKind::kMaxPool2DGrad, {conv, b.F32("dp", {8, 6, 6, 64})}, Pool({3, 3}, {2, 2}, "valid"));
  std::vector<std::vector<Tensor>> results;
  for (int threads : {1, 3}) {
    auto jit = CreateJit(b.g, JitOptions{threads});
    ASSERT_TRUE(jit.ok()) << jit.status();
    Feed(**jit, b.feeds);
    ASSERT_TRUE((*jit)->Run().ok());
    results.emplace_back();
    for (const std::string& name : b.compare) results.back().push_back(*(*jit)->GetTensor(name));
  }
  for (size_t i = 0; i < b.compare.size(); ++i) {
    EXPECT_TRUE(results[0][i].BitwiseEqual(results[1][i])) << b.compare[i];
  }
}

}  // namespace
}  // namespace kiln
