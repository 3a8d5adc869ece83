// Dropout masks (ir/random.h, kernels::DropoutMask) on the interpreter: the fraction kept, the
// scale, and that masks are a function of (seed, step, element) alone; Dropout outside training
// is the identity. The JIT's masks are compared bit for bit in codegen_agreement_ops_test.cc.
#include <cmath>
#include <memory>

#include "gtest/gtest.h"
#include "ir/graph.h"
#include "ir/random.h"
#include "runtime/interpreter.h"

namespace kiln {
namespace {

// The mask of `n` elements for (rate, seed, step).
Tensor Mask(double rate, int64_t seed, float step, int64_t n) {
  Graph g("mask");
  auto s = g.AddSource(OpKind::kInput, "step", {DType::kF32, {}});
  auto m = g.AddOp(OpKind::kDropoutMask, "mask", {*s},
                   {{"rate", AttrValue::Float(rate)},
                    {"seed", AttrValue::Int(seed)},
                    {"shape", AttrValue::Ints({n})}});
  EXPECT_TRUE(m.ok()) << m.status();
  g.set_outputs({*m});
  auto exe = CreateInterpreter(g);
  EXPECT_TRUE(exe.ok()) << exe.status();
  EXPECT_TRUE((*exe)->SetTensor("step", Tensor::F32({}, {step})).ok());
  EXPECT_TRUE((*exe)->Run().ok());
  return *(*exe)->GetTensor("mask");
}

TEST(Dropout, MaskKeepsOneMinusRateScaledByItsInverse) {
  constexpr int64_t kN = 200000;
  for (double rate : {0.0, 0.1, 0.25, 0.5, 0.9}) {
    const Tensor m = Mask(rate, 12345, 3, kN);
    int64_t kept = 0;
    const float scale = static_cast<float>(1.0 / (1.0 - rate));
    for (float v : m.f32_span()) {
      ASSERT_TRUE(v == 0.0f || v == scale) << v;
      kept += v != 0.0f;
    }
    // A binomial's standard deviation is sqrt(n p (1 - p)) <= 224 here: 5 sigma.
    EXPECT_NEAR(static_cast<double>(kept), kN * (1 - rate), 1120) << "rate " << rate;
    // Keras's expectation: the mean of the mask is 1.
    double sum = 0;
    for (float v : m.f32_span()) sum += v;
    EXPECT_NEAR(sum / kN, 1.0, 0.015) << "rate " << rate;
  }
}

TEST(Dropout, MasksDependOnSeedStepAndElementOnly) {
  const Tensor a = Mask(0.5, 7, 10, 4096);
  EXPECT_TRUE(Mask(0.5, 7, 10, 4096).BitwiseEqual(a));  // Same key: same mask.
  // A longer tensor's first elements are the same mask: elements are keyed by index alone.
  const Tensor longer = Mask(0.5, 7, 10, 5000);
  for (int64_t i = 0; i < a.size(); ++i) ASSERT_EQ(longer.f32()[i], a.f32()[i]) << i;
  // Another step or another seed: about half the elements change (independent masks).
  for (const Tensor& other : {Mask(0.5, 7, 11, 4096), Mask(0.5, 8, 10, 4096)}) {
    int64_t differ = 0;
    for (int64_t i = 0; i < a.size(); ++i) differ += other.f32()[i] != a.f32()[i];
    EXPECT_NEAR(static_cast<double>(differ), 2048, 160);
  }
  // Neighbouring elements are not correlated: pairs (kept, kept) occur a quarter of the time.
  int64_t both = 0;
  for (int64_t i = 0; i + 1 < a.size(); ++i) both += a.f32()[i] != 0 && a.f32()[i + 1] != 0;
  EXPECT_NEAR(static_cast<double>(both), 4095 / 4.0, 140);
}

TEST(Dropout, KeyAndThresholdAreTheDocumentedFunctions) {
  // fmix32 of MurmurHash3 on known values (a bijection with Mix32(0) = 0).
  EXPECT_EQ(Mix32<uint32_t>(0), 0u);
  EXPECT_EQ(Mix32<uint32_t>(1), 0x514E28B7u);
  EXPECT_EQ(DropoutThreshold(0.0), 0u);
  EXPECT_EQ(DropoutThreshold(0.5), 1u << 23);
  // Steps outside [0, 2^32) and NaN count as step 0.
  EXPECT_EQ(DropoutKey(5, -1.0f), DropoutKey(5, 0.0f));
  EXPECT_EQ(DropoutKey(5, NAN), DropoutKey(5, 0.0f));
  EXPECT_NE(DropoutKey(5, 1.0f), DropoutKey(5, 0.0f));
}

TEST(Dropout, OutsideTrainingIsTheIdentity) {
  Graph g("identity");
  auto x = g.AddSource(OpKind::kInput, "x", {DType::kF32, {2, 3}});
  auto d = g.AddOp(OpKind::kDropout, "d", {*x},
                   {{"rate", AttrValue::Float(0.5)}, {"seed", AttrValue::Int(1)}});
  ASSERT_TRUE(d.ok()) << d.status();
  g.set_outputs({*d});
  auto exe = CreateInterpreter(g);
  ASSERT_TRUE(exe.ok());
  const Tensor in = Tensor::F32({2, 3}, {1, -2, 3, 4, 5, -6});
  ASSERT_TRUE((*exe)->SetTensor("x", in).ok());
  ASSERT_TRUE((*exe)->Run().ok());
  EXPECT_TRUE((*exe)->GetTensor("d")->BitwiseEqual(in));
  // Bad rates are shape errors naming the node.
  for (double rate : {-0.1, 1.0, 2.0}) {
    auto bad = g.AddOp(OpKind::kDropout, "bad", {*x},
                       {{"rate", AttrValue::Float(rate)}, {"seed", AttrValue::Int(1)}});
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find("rate must be in [0, 1)"), std::string::npos)
        << bad.status();
  }
}

}  // namespace
}  // namespace kiln
