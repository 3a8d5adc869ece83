// Reference dense and elementwise kernels: MatMul, BiasAdd, every elementwise op, Softmax.
#include <cmath>
#include <cstdint>
#include <limits>

#include "ir/elementwise_program.h"
#include "ir/status.h"
#include "runtime/kernels.h"

namespace kiln::kernels {
namespace {

// Elementwise a (op) b over out->size() elements; a rank-0 operand is broadcast.
template <typename T, typename F>
void BinaryLoop(const Tensor& a, const Tensor& b, T* out, int64_t n, const T* av, const T* bv,
                F f) {
  const int64_t sa = a.dims().empty() ? 0 : 1;
  const int64_t sb = b.dims().empty() ? 0 : 1;
  for (int64_t i = 0; i < n; ++i) out[i] = f(av[i * sa], bv[i * sb]);
}

// i32 arithmetic wraps (two's complement) instead of overflowing; division by zero gives 0 and
// INT32_MIN / -1 gives INT32_MIN, so the kernel never traps.
void BinaryI32(OpKind op, const Tensor& a, const Tensor& b, int32_t* out, int64_t n) {
  const int32_t* av = a.i32();
  const int32_t* bv = b.i32();
  auto wrap = [](uint32_t v) { return static_cast<int32_t>(v); };
  switch (op) {
    case OpKind::kAdd:
      return BinaryLoop(a, b, out, n, av, bv, [&](int32_t x, int32_t y) {
        return wrap(static_cast<uint32_t>(x) + static_cast<uint32_t>(y));
      });
    case OpKind::kSub:
      return BinaryLoop(a, b, out, n, av, bv, [&](int32_t x, int32_t y) {
        return wrap(static_cast<uint32_t>(x) - static_cast<uint32_t>(y));
      });
    case OpKind::kMul:
      return BinaryLoop(a, b, out, n, av, bv, [&](int32_t x, int32_t y) {
        return wrap(static_cast<uint32_t>(x) * static_cast<uint32_t>(y));
      });
    case OpKind::kDiv:
      return BinaryLoop(a, b, out, n, av, bv, [](int32_t x, int32_t y) -> int32_t {
        if (y == 0) return 0;
        if (y == -1) return static_cast<int32_t>(0u - static_cast<uint32_t>(x));
        return x / y;
      });
    default:
      return;
  }
}

}  // namespace

// out[M,N] = op(a) x op(b), op transposing a rank-2 operand when its transpose_* attr is 1.
// Accumulates in float, k in increasing order.
void MatMul(const Node& node, const Inputs& in, Tensor* out) {
  const bool ta = node.GetInt("transpose_a") != 0;
  const bool tb = node.GetInt("transpose_b") != 0;
  const Dims& ad = in[0]->dims();
  const int64_t m = out->dims()[0];
  const int64_t n = out->dims()[1];
  const int64_t k = ta ? ad[0] : ad[1];
  const float* a = in[0]->f32();
  const float* b = in[1]->f32();
  float* o = out->f32();
  for (int64_t i = 0; i < m * n; ++i) o[i] = 0.0f;
  for (int64_t i = 0; i < m; ++i) {
    float* orow = o + i * n;
    for (int64_t p = 0; p < k; ++p) {
      const float aip = ta ? a[p * m + i] : a[i * k + p];  // a is [K,M] when transposed.
      for (int64_t j = 0; j < n; ++j) {
        const float bpj = tb ? b[j * k + p] : b[p * n + j];  // b is [N,K] when transposed.
        orow[j] += aip * bpj;
      }
    }
  }
}

// out[..., c] = x[..., c] + bias[c].
void BiasAdd(const Node& node, const Inputs& in, Tensor* out) {
  const float* x = in[0]->f32();
  const float* bias = in[1]->f32();
  const int64_t c = in[1]->size();
  float* o = out->f32();
  const int64_t rows = c == 0 ? 0 : out->size() / c;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < c; ++j) o[r * c + j] = x[r * c + j] + bias[j];
  }
}

// Any elementwise op of ops.def from its one definition (ir/elementwise_math.h), a rank-0
// operand broadcast; Add/Sub/Mul/Div on i32 operands, see BinaryI32.
void ElementwiseOp(const Node& node, const Inputs& in, Tensor* out) {
  if (out->dtype() == DType::kI32) {
    return BinaryI32(node.op, *in[0], *in[1], out->i32(), out->size());
  }
  std::vector<ElementwiseInstr> program;
  std::vector<const float*> operands;
  std::vector<bool> scalar;
  for (size_t k = 0; k < in.size(); ++k) {
    program.push_back({OpKind::kInput, static_cast<int>(k)});
    operands.push_back(in[k]->f32());
    scalar.push_back(in[k]->dims().empty() && out->size() != 1);
  }
  program.push_back({node.op, -1});
  EvalProgram(program, operands, scalar, out->f32(), out->size());
}

// Softmax along attr "axis" (negative counts from the end): exp(x - max) / sum, sums in double.
void Softmax(const Node& node, const Inputs& in, Tensor* out) {
  const Dims& dims = in[0]->dims();
  const int rank = static_cast<int>(dims.size());
  int64_t axis = node.GetInt("axis");
  if (axis < 0) axis += rank;
  int64_t outer = 1;
  int64_t inner = 1;
  for (int d = 0; d < axis; ++d) outer *= dims[d];
  for (int d = static_cast<int>(axis) + 1; d < rank; ++d) inner *= dims[d];
  const int64_t len = dims[axis];
  const float* x = in[0]->f32();
  float* o = out->f32();
  for (int64_t p = 0; p < outer; ++p) {
    for (int64_t q = 0; q < inner; ++q) {
      const int64_t base = p * len * inner + q;  // Element j is at base + j * inner.
      float max = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < len; ++j) max = std::fmax(max, x[base + j * inner]);
      double sum = 0.0;
      for (int64_t j = 0; j < len; ++j) {
        const double e = std::exp(static_cast<double>(x[base + j * inner]) - max);
        o[base + j * inner] = static_cast<float>(e);
        sum += e;
      }
      for (int64_t j = 0; j < len; ++j) {
        o[base + j * inner] = static_cast<float>(o[base + j * inner] / sum);
      }
    }
  }
}

}  // namespace kiln::kernels
