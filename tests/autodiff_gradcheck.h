// Shared by the gradient checks (autodiff_*_test.cc): random inputs kept away from kinks, and a
// Case that builds a graph, projects it to a scalar loss and checks every parameter's gradient
// against finite differences. The method and its tolerance: autodiff_gradcheck_test.cc.
#ifndef KILN_TESTS_AUTODIFF_GRADCHECK_H_
#define KILN_TESTS_AUTODIFF_GRADCHECK_H_

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

namespace kiln::gradcheck_test {

inline constexpr double kTolerance = 2e-3;

inline TensorType F32(Dims dims) { return {DType::kF32, std::move(dims)}; }

inline int64_t Count(const Dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

using Rng = testing_util::SplitMix;

inline std::vector<float> Uniform(int64_t n, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(rng.Uniform(lo, hi));
  return v;
}

// Random sign times a magnitude in [lo, hi]: values kept away from zero.
inline std::vector<float> AwayFromZero(int64_t n, uint64_t seed, double lo, double hi) {
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
inline std::vector<float> DistinctPermutation(int64_t n, uint64_t seed, double spacing = 0.01) {
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
inline std::map<std::string, double>& Worst() {
  static auto* worst = new std::map<std::string, double>();
  return *worst;
}

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

}  // namespace kiln::gradcheck_test

#endif  // KILN_TESTS_AUTODIFF_GRADCHECK_H_
