// Shared by the JIT-vs-interpreter agreement tests (codegen_agreement*_test.cc): random test
// graphs, the cases, the comparison. See codegen_agreement_test.cc for the tolerances.
#ifndef KILN_TESTS_CODEGEN_AGREEMENT_H_
#define KILN_TESTS_CODEGEN_AGREEMENT_H_

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

namespace kiln::agreement {

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
inline void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

// Every element within tol * max(1, max|ref|); NaN where ref is NaN; equal infinities.
testing::AssertionResult Agree(const Tensor& ref, const Tensor& got, double tol);
void Feed(Executable& exe, const Feeds& feeds);
// Runs `b`'s graph `b.steps` times on the interpreter and the JIT and compares b.compare.
void RunAndCompare(Builder& b, double tol, int threads, int lanes = 0);

// Attributes.
inline Attrs Window(Dims strides, const char* padding) {
  return {{"strides", AttrValue::Ints(std::move(strides))}, {"padding", AttrValue::Str(padding)}};
}
inline Attrs Pool(Dims pool, Dims strides, const char* padding) {
  Attrs a = Window(std::move(strides), padding);
  a["pool"] = AttrValue::Ints(std::move(pool));
  return a;
}
inline int64_t OutSize(int64_t in, int64_t win, int64_t stride, const char* padding) {
  return *WindowOutputSize(in, win, stride, padding);
}
inline Attrs Axes(Dims axes, int keepdims) {
  return {{"axes", AttrValue::Ints(std::move(axes))}, {"keepdims", AttrValue::Int(keepdims)}};
}

// Convolution shapes every conv case family runs over (codegen_agreement_ops_test.cc).
struct ConvShape {
  const char* name;
  int64_t n, h, w, cin, kh, kw, cout, stride;
  const char* padding;
  bool bias;
};

std::vector<ConvShape> ConvShapes();

// Cases by family: codegen_agreement_ops_test.cc and codegen_agreement_fused_test.cc.
void AddConvCases(std::vector<Case>& cases);
void AddMatMulCases(std::vector<Case>& cases);
void AddPoolCases(std::vector<Case>& cases);
void AddReduceCases(std::vector<Case>& cases);
void AddElementwiseCases(std::vector<Case>& cases);
void AddUpdateCases(std::vector<Case>& cases);
void AddFusedUpdateCases(std::vector<Case>& cases);
void AddSpecialValueCases(std::vector<Case>& cases);
void AddFusedCases(std::vector<Case>& cases);

}  // namespace kiln::agreement

#endif  // KILN_TESTS_CODEGEN_AGREEMENT_H_
