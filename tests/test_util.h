// Small helpers shared by the kernel tests.
#ifndef KILN_TESTS_TEST_UTIL_H_
#define KILN_TESTS_TEST_UTIL_H_

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "ir/graph.h"
#include "ir/tensor.h"

namespace kiln::testing_util {

using Feeds = std::vector<std::pair<std::string, Tensor>>;

inline TensorType F32(Dims dims) { return {DType::kF32, std::move(dims)}; }

inline Attrs ConvAttrs(int64_t sh, int64_t sw, const char* padding) {
  return {{"strides", AttrValue::Ints({sh, sw})}, {"padding", AttrValue::Str(padding)}};
}

inline Attrs PoolAttrs(int64_t size, int64_t stride, const char* padding) {
  return {{"pool", AttrValue::Ints({size, size})},
          {"strides", AttrValue::Ints({stride, stride})},
          {"padding", AttrValue::Str(padding)}};
}

// `t` is f32 `dims` holding `want`, each within tol * max(1, |want|).
inline void ExpectValues(const Tensor& t, const Dims& dims, const std::vector<float>& want,
                         float tol = 1e-5f) {
  ASSERT_EQ(t.dtype(), DType::kF32);
  ASSERT_EQ(t.dims(), dims);
  ASSERT_EQ(t.size(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_NEAR(t.f32()[i], want[i], tol * std::max(1.0f, std::fabs(want[i]))) << "at " << i;
  }
}

// start, start + 1, ...: n values.
inline std::vector<float> Iota(int n, float start = 0) {
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = start + static_cast<float>(i);
  return v;
}

// splitmix64: a tiny deterministic generator, so test data is identical on every platform.
class SplitMix {
 public:
  explicit SplitMix(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1), and in [lo, hi).
  double Unit() { return static_cast<double>(Next() >> 11) * (1.0 / 9007199254740992.0); }
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Unit(); }

 private:
  uint64_t state_;
};

}  // namespace kiln::testing_util

#endif  // KILN_TESTS_TEST_UTIL_H_
