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
#include "tests/codegen_agreement.h"

namespace kiln::agreement {

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

void RunAndCompare(Builder& b, double tol, int threads, int lanes) {
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

namespace {

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
}  // namespace kiln::agreement
