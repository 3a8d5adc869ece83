// Shared by the interpreter's gradient, loss and update kernel tests: one op evaluated (twice,
// to catch kernels that rely on zeroed outputs), deterministic data, adjoint helpers.
#ifndef KILN_TESTS_RUNTIME_KERNEL_UTIL_H_
#define KILN_TESTS_RUNTIME_KERNEL_UTIL_H_

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

namespace kiln::kernel_test {

using testing_util::ConvAttrs;
using testing_util::F32;
using testing_util::Feeds;
using testing_util::PoolAttrs;
inline Attrs With(Attrs attrs, const std::string& key, AttrValue value) {
  attrs[key] = std::move(value);
  return attrs;
}

inline std::unique_ptr<Executable> Compile(Graph g) {
  auto exe = CreateInterpreter(std::move(g));
  EXPECT_TRUE(exe.ok()) << exe.status();
  return exe.ok() ? *std::move(exe) : nullptr;
}

inline void Set(Executable& exe, const std::string& name, const Tensor& value) {
  absl::Status s = exe.SetTensor(name, value);
  EXPECT_TRUE(s.ok()) << s;
}

inline void RunStep(Executable& exe) {
  absl::Status s = exe.Run();
  EXPECT_TRUE(s.ok()) << s;
}

inline Tensor Get(const Executable& exe, const std::string& name) {
  auto t = exe.GetTensor(name);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *t : Tensor();
}

// Builds `op` over one Input per feed and evaluates it. Runs twice, so a kernel that relies on
// its output starting zeroed shows up as a difference between the runs.
inline Tensor EvalOp(OpKind op, const Feeds& feeds, Attrs attrs = {}) {
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
inline std::vector<float> Pseudo(int64_t n, uint32_t seed) {
  std::vector<float> v(n);
  uint32_t s = seed;
  for (float& f : v) {
    s = s * 1664525u + 1013904223u;
    f = static_cast<float>(s >> 8) / static_cast<float>(1u << 23) - 1.0f;
  }
  return v;
}

inline Tensor PseudoTensor(Dims dims, uint32_t seed) {
  std::vector<float> v = Pseudo(NumElements(dims), seed);
  return Tensor::F32(std::move(dims), v);
}

// <a, b> in double.
inline double Dot(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.dims(), b.dims());
  double s = 0.0;
  for (int64_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    s += static_cast<double>(a.f32()[i]) * b.f32()[i];
  }
  return s;
}

inline double AbsSum(const Tensor& t) {
  double s = 0.0;
  for (float f : t.f32_span()) s += std::fabs(f);
  return s;
}

inline Tensor BackpropInput(const Tensor& dy, const Tensor& w, const Dims& x_shape, int64_t sh,
                            int64_t sw, const char* padding) {
  return EvalOp(OpKind::kConv2DBackpropInput, {{"dy", dy}, {"w", w}},
                With(ConvAttrs(sh, sw, padding), "input_shape", AttrValue::Ints(x_shape)));
}
inline Tensor BackpropFilter(const Tensor& x, const Tensor& dy, const Dims& w_shape, int64_t sh,
                             int64_t sw, const char* padding) {
  return EvalOp(OpKind::kConv2DBackpropFilter, {{"x", x}, {"dy", dy}},
                With(ConvAttrs(sh, sw, padding), "filter_shape", AttrValue::Ints(w_shape)));
}

}  // namespace kiln::kernel_test

#endif  // KILN_TESTS_RUNTIME_KERNEL_UTIL_H_
