// The fusion pass sums bias gradients over the pooled tensor instead of the pooling gradient
// (ir/passes/fuse.cc, SumPoolGradients): the rewritten graph must compute the same values.
#include <cmath>

#include "gtest/gtest.h"
#include "ir/passes/passes.h"
#include "runtime/interpreter.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

using testing_util::F32;
using testing_util::PoolAttrs;

Tensor Pseudo(const Dims& dims, uint32_t seed) {
  Tensor t(F32(dims));
  for (int64_t i = 0; i < t.size(); ++i) {
    seed = seed * 1664525u + 1013904223u;
    t.f32()[i] = static_cast<float>(seed >> 8) / static_cast<float>(1u << 24) - 0.5f;
  }
  return t;
}

struct Params {
  OpKind grad;
  int64_t pool, stride;
  const char* padding;
};

class PoolGradSumTest : public testing::TestWithParam<Params> {};

TEST_P(PoolGradSumTest, RewrittenSumEqualsOriginal) {
  const Params p = GetParam();
  const Dims x_dims = {3, 9, 9, 5};
  const int64_t out = *WindowOutputSize(9, p.pool, p.stride, p.padding);
  const Dims dy_dims = {3, out, out, 5};
  Graph g;
  NodeId x = *g.AddSource(OpKind::kInput, "x", F32(x_dims));
  NodeId dy = *g.AddSource(OpKind::kInput, "dy", F32(dy_dims));
  const Attrs attrs = PoolAttrs(p.pool, p.stride, p.padding);
  NodeId pooled = *g.AddOp(OpKind::kMaxPool2D, "pooled", {x}, attrs);
  Attrs grad_attrs = attrs;
  std::vector<NodeId> grad_inputs = {x, dy};
  if (p.grad == OpKind::kAvgPool2DGrad) {
    grad_attrs["input_shape"] = AttrValue::Ints(x_dims);
    grad_inputs = {dy};
  }
  NodeId grad = *g.AddOp(p.grad, "grad", grad_inputs, grad_attrs);
  NodeId sum = *g.AddOp(OpKind::kReduceSum, "sum", {grad},
                        {{"axes", AttrValue::Ints({0, 1, 2})}, {"keepdims", AttrValue::Int(0)}});
  g.set_outputs({sum, pooled});
  auto optimized = OptimizeGraph(g);
  ASSERT_TRUE(optimized.ok()) << optimized.status();
  // The sum no longer reads the full-size gradient.
  const Node& new_sum = optimized->node(optimized->Find("sum"));
  EXPECT_NE(optimized->node(new_sum.inputs[0]).type.dims, x_dims);
  auto before = CreateInterpreter(g);
  auto after = CreateInterpreter(*optimized);
  ASSERT_TRUE(before.ok() && after.ok());
  for (auto* exe : {before->get(), after->get()}) {
    ASSERT_TRUE(exe->SetTensor("x", Pseudo(x_dims, 1)).ok());
    ASSERT_TRUE(exe->SetTensor("dy", Pseudo(dy_dims, 2)).ok());
    ASSERT_TRUE(exe->Run().ok());
  }
  Tensor a = *(*before)->GetTensor("sum");
  Tensor b = *(*after)->GetTensor("sum");
  for (int64_t c = 0; c < 5; ++c) EXPECT_NEAR(a.f32()[c], b.f32()[c], 1e-5) << c;
}

INSTANTIATE_TEST_SUITE_P(Patterns, PoolGradSumTest,
                         testing::Values(Params{OpKind::kMaxPool2DGrad, 2, 2, "valid"},
                                         Params{OpKind::kMaxPool2DGrad, 3, 2, "same"},
                                         Params{OpKind::kFusedMaxPool2DGrad, 2, 2, "valid"},
                                         Params{OpKind::kFusedMaxPool2DGrad, 3, 2, "same"},
                                         Params{OpKind::kAvgPool2DGrad, 3, 2, "same"}));

}  // namespace
}  // namespace kiln
