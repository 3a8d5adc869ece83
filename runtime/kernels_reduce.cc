// Reference reduction kernels: ReduceSum, ReduceMean, ReduceMax, ArgMax.
#include <cstdint>
#include <limits>
#include <vector>

#include "runtime/kernels.h"

namespace kiln::kernels {
namespace {

int NormalizeAxis(int64_t axis, int rank) {
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

// ArgMax over one axis viewed as [outer, len, inner]; strict `>` keeps the first maximum.
template <typename T>
void ArgMaxTyped(const T* x, int64_t outer, int64_t len, int64_t inner, int32_t* o) {
  for (int64_t p = 0; p < outer; ++p) {
    for (int64_t q = 0; q < inner; ++q) {
      const T* row = x + p * len * inner + q;  // Element j is at row[j * inner].
      int64_t best = 0;
      for (int64_t j = 1; j < len; ++j) {
        if (row[j * inner] > row[best * inner]) best = j;
      }
      o[p * inner + q] = static_cast<int32_t>(best);
    }
  }
}

}  // namespace

// Reduces over attr "axes" (any set, negative counts from the end; empty reduces nothing).
// out->dims() already reflects keepdims. Each input element is mapped to its output element by
// dropping its coordinates on the reduced axes. Sums accumulate in double; ReduceMean divides by
// the number of reduced elements per output (0/0 = NaN for an empty reduction); ReduceMax of an
// empty reduction is -inf.
void Reduce(const Node& node, const Inputs& in, Tensor* out) {
  const Dims& dims = in[0]->dims();
  const int rank = static_cast<int>(dims.size());
  std::vector<bool> reduced(rank, false);
  for (int64_t a : node.GetInts("axes")) reduced[NormalizeAxis(a, rank)] = true;

  // Output stride of each input axis: 0 on reduced axes, else the row-major stride over the kept
  // axes (size-1 keepdims axes do not change those strides).
  std::vector<int64_t> out_stride(rank, 0);
  int64_t count = 1;  // Input elements folded into each output element.
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    if (reduced[d]) {
      count *= dims[d];
    } else {
      out_stride[d] = stride;
      stride *= dims[d];
    }
  }

  const bool is_max = node.op == OpKind::kReduceMax;
  const int64_t n_out = out->size();
  std::vector<double> acc(n_out, is_max ? -std::numeric_limits<double>::infinity() : 0.0);
  const float* x = in[0]->f32();
  const int64_t n_in = in[0]->size();
  for (int64_t i = 0; i < n_in; ++i) {
    int64_t rem = i;
    int64_t o = 0;
    for (int d = rank - 1; d >= 0; --d) {
      o += (rem % dims[d]) * out_stride[d];
      rem /= dims[d];
    }
    if (is_max) {
      if (x[i] > acc[o]) acc[o] = x[i];
    } else {
      acc[o] += x[i];
    }
  }

  float* ov = out->f32();
  for (int64_t o = 0; o < n_out; ++o) {
    double v = acc[o];
    if (node.op == OpKind::kReduceMean) v /= static_cast<double>(count);
    ov[o] = static_cast<float>(v);
  }
}

// out = index (i32) of the largest element along attr "axis" (negative counts from the end),
// the first one on ties; the axis is removed from the shape. f32 or i32 input.
void ArgMax(const Node& node, const Inputs& in, Tensor* out) {
  const Dims& dims = in[0]->dims();
  const int rank = static_cast<int>(dims.size());
  const int axis = NormalizeAxis(node.GetInt("axis"), rank);
  int64_t outer = 1;
  int64_t inner = 1;
  for (int d = 0; d < axis; ++d) outer *= dims[d];
  for (int d = axis + 1; d < rank; ++d) inner *= dims[d];
  const int64_t len = dims[axis];
  if (in[0]->dtype() == DType::kF32) {
    ArgMaxTyped(in[0]->f32(), outer, len, inner, out->i32());
  } else {
    ArgMaxTyped(in[0]->i32(), outer, len, inner, out->i32());
  }
}

}  // namespace kiln::kernels
