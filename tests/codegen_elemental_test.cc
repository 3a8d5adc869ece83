// The JIT's vector exp, log, tanh and sigmoid (codegen/elemental.h) against double-precision
// libm over the whole float range: every 257th bit pattern (both signs: normals, denormals,
// zeros, infinities and NaNs), a dense sweep of [-10, 10], and the edges of each function.
//
// Error is measured in ulps of the exact result: |got - exact| / ulp(exact), where ulp is the
// spacing of floats at |exact| (2^-149 below the normal range, so tiny results are judged on
// the denormal grid). Results beyond FLT_MAX must be +inf (or FLT_MAX within the bound), NaN
// must give NaN. Bounds as stated in codegen/elemental.h.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "codegen/math_kernels.h"
#include "gtest/gtest.h"

namespace kiln {
namespace {

struct MathCase {
  MathFunction f;
  double max_ulps;
  double (*exact)(double);
};

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double Exp(double x) { return std::exp(x); }
double Log(double x) { return std::log(x); }
double Tanh(double x) { return std::tanh(x); }
double Erf(double x) { return std::erf(x); }

float FromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

double Ulp(double exact) {
  const double a = std::fabs(exact);
  if (a < std::ldexp(1.0, -126)) return std::ldexp(1.0, -149);
  int e;
  std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1).
  return std::ldexp(1.0, e - 24);
}

std::vector<float> Inputs() {
  std::vector<float> x;
  for (uint64_t bits = 0; bits <= 0xffffffffu; bits += 257) x.push_back(FromBits(uint32_t(bits)));
  for (int i = -2000000; i <= 2000000; ++i) x.push_back(i * 5e-6f);
  const float inf = std::numeric_limits<float>::infinity();
  for (float v : {0.0f,
                  -0.0f,
                  inf,
                  -inf,
                  std::numeric_limits<float>::quiet_NaN(),
                  std::numeric_limits<float>::denorm_min(),
                  -std::numeric_limits<float>::denorm_min(),
                  std::numeric_limits<float>::min(),
                  std::numeric_limits<float>::max(),
                  -std::numeric_limits<float>::max(),
                  88.72283f,
                  88.72284f,
                  88.7f,
                  88.8f,
                  -87.3f,
                  -103.97f,
                  -103.98f,
                  -104.0f,
                  0.625f,
                  -0.625f,
                  0.6249999f,
                  9.0f,
                  0.70710677f,
                  0.70710678f,
                  1.0f,
                  2.0f,
                  0.5f}) {
    x.push_back(v);
  }
  // Bit-pattern neighbourhoods of the branch points, every pattern.
  for (float centre : {0.625f, 88.72283f, -103.97f, 0.70710678f, 1.0f, 1.17549435e-38f}) {
    uint32_t c;
    std::memcpy(&c, &centre, sizeof c);
    for (uint32_t d = 0; d < 4096; ++d) x.push_back(FromBits(c - 2048 + d));
  }
  return x;
}

class ElementalTest : public testing::TestWithParam<int> {};

void CheckFunction(const MathCase& c, int lanes) {
  auto kernel = MathKernel::Create(c.f, lanes);
  ASSERT_TRUE(kernel.ok()) << kernel.status();
  const std::vector<float> x = Inputs();
  std::vector<float> y(x.size());
  ThreadPool pool(2);
  (*kernel)->Run(x.data(), y.data(), static_cast<int64_t>(x.size()), &pool);
  double worst = 0;
  float worst_x = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double exact = c.exact(static_cast<double>(x[i]));
    const float got = y[i];
    if (std::isnan(exact)) {
      ASSERT_TRUE(std::isnan(got)) << MathFunctionName(c.f) << "(" << x[i] << ") = " << got;
      continue;
    }
    ASSERT_FALSE(std::isnan(got)) << MathFunctionName(c.f) << "(" << x[i] << ") is NaN, exact "
                                  << exact;
    if (std::isinf(exact) || std::isinf(got)) {
      const bool overflow = std::fabs(exact) > std::numeric_limits<float>::max();
      ASSERT_TRUE(std::isinf(got) == overflow ||
                  (overflow && std::fabs(got) == std::numeric_limits<float>::max()))
          << MathFunctionName(c.f) << "(" << x[i] << ") = " << got << ", exact " << exact;
      ASSERT_EQ(std::signbit(got), std::signbit(exact)) << x[i];
      continue;
    }
    const double err = std::fabs(static_cast<double>(got) - exact) / Ulp(exact);
    if (err > worst) {
      worst = err;
      worst_x = x[i];
    }
  }
  EXPECT_LE(worst, c.max_ulps) << MathFunctionName(c.f) << " at " << lanes << " lanes: worst "
                               << worst << " ulp at x = " << worst_x;
  std::printf("%s, %d lanes: max error %.3f ulp (at x = %.9g) over %zu inputs\n",
              MathFunctionName(c.f), lanes, worst, worst_x, x.size());
}

TEST_P(ElementalTest, ExpWithinTwoUlps) { CheckFunction({MathFunction::kExp, 2, Exp}, GetParam()); }
TEST_P(ElementalTest, LogWithinTwoUlps) { CheckFunction({MathFunction::kLog, 2, Log}, GetParam()); }
TEST_P(ElementalTest, TanhWithinThreeUlps) {
  CheckFunction({MathFunction::kTanh, 3, Tanh}, GetParam());
}
TEST_P(ElementalTest, SigmoidWithinThreeUlps) {
  CheckFunction({MathFunction::kSigmoid, 3, Sigmoid}, GetParam());
}

TEST_P(ElementalTest, ErfWithinFourUlps) {
  CheckFunction({MathFunction::kErf, 4, Erf}, GetParam());
}

// Both vector widths codegen chooses between: AVX-512 (16 lanes) and AVX2 (8 lanes).
INSTANTIATE_TEST_SUITE_P(Lanes, ElementalTest, testing::Values(8, 16));

TEST(MemoryBandwidthTest, MeasuresAPlausibleRate) {
  auto bw = MeasureMemoryBandwidth(2, 3);
  ASSERT_TRUE(bw.ok()) << bw.status();
  EXPECT_EQ(bw->threads, 2);
  // Anything from an old laptop to a server socket; zero or absurd means a broken timer.
  EXPECT_GT(bw->gbytes_per_second, 0.5);
  EXPECT_LT(bw->gbytes_per_second, 2000);
}

}  // namespace
}  // namespace kiln
