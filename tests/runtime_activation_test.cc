// The activations beyond relu/sigmoid/tanh against hand-computed values (double-precision
// math, rounded to float), with the gradient ops at the same points. Each matches PyTorch's
// definition, which is also Keras's:
//   leaky_relu  torch.nn.functional.leaky_relu(x, negative_slope=0.2) (Keras's default slope;
//               PyTorch's own default is 0.01); gradient 0.2 at x <= 0, as torch's at 0.
//   elu         torch.nn.functional.elu(x, alpha=1.0); gradient e^x = y + 1 below 0.
//   gelu        torch.nn.functional.gelu(x, approximate='none') = x Phi(x), Keras's default
//               (approximate=False).
//   swish       torch.nn.functional.silu(x) = x sigmoid(x).
//   softplus    torch.nn.functional.softplus(x) = log(1 + e^x) (torch returns x above 20,
//               where the two agree in float); its gradient is sigmoid(x) (autodiff composes it).
#include <cmath>
#include <limits>
#include <vector>

#include "tests/runtime_kernel_util.h"

namespace kiln {
namespace {

using testing_util::ExpectValues;

const std::vector<float> kX = {-30, -2, -0.5f, 0, 0.5f, 1, 3, 30};

Tensor Apply(OpKind op, const std::vector<float>& x) {
  return kernel_test::EvalOp(op, {{"x", Tensor::F32({8}, x)}});
}

// The gradient op at a = x (or y), with dy = 1 everywhere.
Tensor Grad(OpKind op, const std::vector<float>& a) {
  return kernel_test::EvalOp(
      op, {{"a", Tensor::F32({8}, a)}, {"dy", Tensor::F32({8}, std::vector<float>(8, 1.0f))}});
}

std::vector<float> Values(const Tensor& t) { return {t.f32(), t.f32() + t.size()}; }

TEST(Activations, LeakyRelu) {
  ExpectValues(Apply(OpKind::kLeakyRelu, kX), {8}, {-6, -0.4f, -0.1f, 0, 0.5f, 1, 3, 30});
  ExpectValues(Grad(OpKind::kLeakyReluGrad, kX), {8}, {0.2f, 0.2f, 0.2f, 0.2f, 1, 1, 1, 1});
}

TEST(Activations, Elu) {
  const Tensor y = Apply(OpKind::kElu, kX);
  ExpectValues(y, {8}, {-1, -0.864664717f, -0.39346934f, 0, 0.5f, 1, 3, 30});
  ExpectValues(Grad(OpKind::kEluGrad, Values(y)), {8},
               {9.35762297e-14f, 0.135335283f, 0.60653066f, 1, 1, 1, 1, 1});
}

TEST(Activations, Gelu) {
  ExpectValues(Apply(OpKind::kGelu, kX), {8},
               {0, -0.0455002639f, -0.154268769f, 0, 0.345731231f, 0.841344746f, 2.99595031f, 30});
  ExpectValues(Grad(OpKind::kGeluGrad, kX), {8},
               {0, -0.0852318011f, 0.132504875f, 0.5f, 0.867495125f, 1.08331547f, 1.01194565f, 1});
}

TEST(Activations, Swish) {
  ExpectValues(Apply(OpKind::kSwish, kX), {8},
               {-2.80728689e-12f, -0.238405844f, -0.188770334f, 0, 0.311229666f, 0.731058579f,
                2.85772238f, 30});
  ExpectValues(Grad(OpKind::kSwishGrad, kX), {8},
               {-2.71371066e-12f, -0.0907842488f, 0.260038813f, 0.5f, 0.739961187f, 0.927670512f,
                1.08810411f, 1});
}

TEST(Activations, Softplus) {
  ExpectValues(Apply(OpKind::kSoftplus, kX), {8},
               {9.35762297e-14f, 0.126928011f, 0.474076984f, 0.693147181f, 0.974076984f,
                1.31326169f, 3.04858735f, 30});
}

TEST(Activations, NaNPassesThrough) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (OpKind op :
       {OpKind::kLeakyRelu, OpKind::kElu, OpKind::kGelu, OpKind::kSwish, OpKind::kSoftplus}) {
    EXPECT_TRUE(std::isnan(Apply(op, std::vector<float>(8, nan)).f32()[0])) << OpName(op);
  }
}

}  // namespace
}  // namespace kiln
