// Reference gradient, loss and metric kernels: the adjoints of the window ops, activation
// gradients, Broadcast, softmax cross-entropy, Equal and the dropout mask.
//
// Layouts and padding follow kernels_conv.cc: activations NHWC, filters HWIO, "same" padding from
// WindowPadBefore (odd extra cell at the end). Every kernel writes all of its output (the
// interpreter reuses output tensors across runs), so accumulating kernels zero it first.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "ir/random.h"
#include "runtime/kernels.h"
#include "runtime/window.h"

namespace kiln::kernels {
namespace {

void Zero(Tensor* t) {
  if (t->size() > 0) std::memset(t->raw(), 0, t->bytes());
}

// Views `dims` around `axis` as [outer, len, inner].
void SplitAtAxis(const Dims& dims, int axis, int64_t* outer, int64_t* len, int64_t* inner) {
  *outer = 1;
  *inner = 1;
  for (int d = 0; d < axis; ++d) *outer *= dims[d];
  for (int d = axis + 1; d < static_cast<int>(dims.size()); ++d) *inner *= dims[d];
  *len = dims[axis];
}

// log(sum_j exp(row[j])) computed stably in double.
double LogSumExp(const float* row, int64_t len) {
  float max = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < len; ++j) max = std::fmax(max, row[j]);
  double sum = 0.0;
  for (int64_t j = 0; j < len; ++j) sum += std::exp(static_cast<double>(row[j]) - max);
  return max + std::log(sum);
}

}  // namespace

// (dy, w) -> dx: dx[b,iy,ix,ci] = sum over the (oy,ox,ky,kx) whose forward window put
// x[b,iy,ix,ci] under tap (ky,kx) of sum_co dy[b,oy,ox,co] * w[ky,kx,ci,co]. Float accumulation.
void Conv2DBackpropInput(const Node& node, const Inputs& in, Tensor* out) {
  const Tensor& dy = *in[0];
  const Tensor& filter = *in[1];
  const WindowGeometry g =
      MakeWindowGeometry(node, out->dims(), dy.dims(), filter.dims()[0], filter.dims()[1]);
  const float* dyv = dy.f32();
  const float* fv = filter.f32();
  float* dx = out->f32();
  const int64_t cin = g.in_c;
  const int64_t cout = g.out_c;
  Zero(out);
  ForEachWindowCells(g, [&](int64_t y_off, const std::vector<Cell>& cells) {
    const float* d = dyv + y_off;
    for (const Cell& cell : cells) {
      const float* fp = fv + cell.tap * cin * cout;  // Filter slice [ky, kx, :, :].
      for (int64_t ci = 0; ci < cin; ++ci) {
        const float* frow = fp + ci * cout;
        float s = 0.0f;
        for (int64_t co = 0; co < cout; ++co) s += d[co] * frow[co];
        dx[cell.x_off + ci] += s;
      }
    }
  });
}

// (x, dy) -> dw: dw[ky,kx,ci,co] = sum over output pixels whose window tap (ky,kx) is in bounds
// of x[b,iy,ix,ci] * dy[b,oy,ox,co]. Float accumulation.
void Conv2DBackpropFilter(const Node& node, const Inputs& in, Tensor* out) {
  const Tensor& x = *in[0];
  const Tensor& dy = *in[1];
  const WindowGeometry g =
      MakeWindowGeometry(node, x.dims(), dy.dims(), out->dims()[0], out->dims()[1]);
  const float* xv = x.f32();
  const float* dyv = dy.f32();
  float* dw = out->f32();
  const int64_t cin = g.in_c;
  const int64_t cout = g.out_c;
  Zero(out);
  ForEachWindowCells(g, [&](int64_t y_off, const std::vector<Cell>& cells) {
    const float* d = dyv + y_off;
    for (const Cell& cell : cells) {
      float* wp = dw + cell.tap * cin * cout;
      for (int64_t ci = 0; ci < cin; ++ci) {
        const float v = xv[cell.x_off + ci];
        float* wrow = wp + ci * cout;
        for (int64_t co = 0; co < cout; ++co) wrow[co] += v * d[co];
      }
    }
  });
}

// (x, dy) -> dx: each dy[b,oy,ox,c] is added to the x cell the forward MaxPool2D picked: the
// first in-bounds cell in row-major window order strictly greater than all before it (starting
// from -inf). When none is (all -inf or NaN) it goes to the first in-bounds cell.
void MaxPool2DGrad(const Node& node, const Inputs& in, Tensor* out) {
  const std::vector<int64_t>& pool = node.GetInts("pool");
  const WindowGeometry g = MakeWindowGeometry(node, in[0]->dims(), in[1]->dims(), pool[0], pool[1]);
  const float* xv = in[0]->f32();
  const float* dyv = in[1]->f32();
  float* dx = out->f32();
  const int64_t channels = g.out_c;
  std::vector<float> best(channels);
  std::vector<int64_t> best_off(channels);
  Zero(out);
  ForEachWindowCells(g, [&](int64_t y_off, const std::vector<Cell>& cells) {
    if (cells.empty()) return;  // Cannot happen for "valid"/"same"; guard anyway.
    for (int64_t c = 0; c < channels; ++c) {
      best[c] = -std::numeric_limits<float>::infinity();
      best_off[c] = cells[0].x_off + c;
    }
    for (const Cell& cell : cells) {
      for (int64_t c = 0; c < channels; ++c) {
        const float v = xv[cell.x_off + c];
        if (v > best[c]) {
          best[c] = v;
          best_off[c] = cell.x_off + c;
        }
      }
    }
    for (int64_t c = 0; c < channels; ++c) dx[best_off[c]] += dyv[y_off + c];
  });
}

// (dy) -> dx: each dy[b,oy,ox,c] / n is added to every in-bounds cell of its window, n being the
// in-bounds count the forward AvgPool2D divides by (padded cells get nothing).
void AvgPool2DGrad(const Node& node, const Inputs& in, Tensor* out) {
  const std::vector<int64_t>& pool = node.GetInts("pool");
  const WindowGeometry g = MakeWindowGeometry(node, out->dims(), in[0]->dims(), pool[0], pool[1]);
  const float* dyv = in[0]->f32();
  float* dx = out->f32();
  const int64_t channels = g.out_c;
  Zero(out);
  ForEachWindowCells(g, [&](int64_t y_off, const std::vector<Cell>& cells) {
    if (cells.empty()) return;
    const float n = static_cast<float>(cells.size());
    for (const Cell& cell : cells) {
      for (int64_t c = 0; c < channels; ++c) dx[cell.x_off + c] += dyv[y_off + c] / n;
    }
  });
}

// (y, dy) -> dx from the forward output y along attr "axis" (negative counts from the end):
// y*(dy - sum_axis(dy*y)), the sum in double.
void SoftmaxGrad(const Node& node, const Inputs& in, Tensor* out) {
  const float* y = in[0]->f32();
  const float* dy = in[1]->f32();
  float* o = out->f32();
  const Dims& dims = in[0]->dims();
  const int rank = static_cast<int>(dims.size());
  int64_t axis = node.GetInt("axis");
  if (axis < 0) axis += rank;
  int64_t outer, len, inner;
  SplitAtAxis(dims, static_cast<int>(axis), &outer, &len, &inner);
  for (int64_t p = 0; p < outer; ++p) {
    for (int64_t q = 0; q < inner; ++q) {
      const int64_t base = p * len * inner + q;  // Element j is at base + j * inner.
      double dot = 0.0;
      for (int64_t j = 0; j < len; ++j) {
        dot += static_cast<double>(dy[base + j * inner]) * y[base + j * inner];
      }
      for (int64_t j = 0; j < len; ++j) {
        const int64_t i = base + j * inner;
        o[i] = static_cast<float>(y[i] * (dy[i] - dot));
      }
    }
  }
}

// out (dims attr "shape") [i] = x[i with its coordinates on attr "axes" dropped]; axes may be
// negative (counted against the output rank). Any dtype: elements are copied bitwise.
void Broadcast(const Node& node, const Inputs& in, Tensor* out) {
  const Dims& dims = out->dims();
  const int rank = static_cast<int>(dims.size());
  std::vector<bool> dropped(rank, false);
  for (int64_t a : node.GetInts("axes")) dropped[a < 0 ? a + rank : a] = true;
  // Input stride of each output axis: 0 on the broadcast axes.
  std::vector<int64_t> in_stride(rank, 0);
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    if (dropped[d]) continue;
    in_stride[d] = stride;
    stride *= dims[d];
  }
  const uint32_t* x = static_cast<const uint32_t*>(in[0]->raw());
  uint32_t* o = static_cast<uint32_t*>(out->raw());
  const int64_t n = out->size();
  for (int64_t i = 0; i < n; ++i) {
    int64_t rem = i;
    int64_t src = 0;
    for (int d = rank - 1; d >= 0; --d) {
      src += (rem % dims[d]) * in_stride[d];
      rem /= dims[d];
    }
    o[i] = x[src];
  }
}

// (logits [B,C], labels i32[B]) -> f32[] = mean_b (logsumexp(logits[b]) - logits[b, labels[b]]),
// in double with the row max subtracted. A label outside [0, C) is never read through: its row
// contributes NaN, so the loss is NaN. An empty batch gives 0/0 = NaN, as ReduceMean does.
void SoftmaxCrossEntropy(const Node& node, const Inputs& in, Tensor* out) {
  const int64_t batch = in[0]->dims()[0];
  const int64_t classes = in[0]->dims()[1];
  const float* logits = in[0]->f32();
  const int32_t* labels = in[1]->i32();
  double sum = 0.0;
  for (int64_t b = 0; b < batch; ++b) {
    const float* row = logits + b * classes;
    const int64_t label = labels[b];
    if (label < 0 || label >= classes) {
      sum += std::numeric_limits<double>::quiet_NaN();
      continue;
    }
    sum += LogSumExp(row, classes) - row[label];
  }
  out->f32()[0] = static_cast<float>(sum / static_cast<double>(batch));
}

// (logits, labels, dloss f32[]) -> dlogits[b,j] = (softmax(logits[b])[j] - (j == labels[b])) *
// dloss / B, in double. A row whose label is outside [0, C) is all NaN.
void SoftmaxCrossEntropyGrad(const Node& node, const Inputs& in, Tensor* out) {
  const int64_t batch = in[0]->dims()[0];
  const int64_t classes = in[0]->dims()[1];
  const float* logits = in[0]->f32();
  const int32_t* labels = in[1]->i32();
  const double scale = static_cast<double>(in[2]->f32()[0]) / static_cast<double>(batch);
  float* o = out->f32();
  for (int64_t b = 0; b < batch; ++b) {
    const float* row = logits + b * classes;
    float* orow = o + b * classes;
    const int64_t label = labels[b];
    if (label < 0 || label >= classes) {
      for (int64_t j = 0; j < classes; ++j) orow[j] = std::numeric_limits<float>::quiet_NaN();
      continue;
    }
    const double lse = LogSumExp(row, classes);
    for (int64_t j = 0; j < classes; ++j) {
      const double p = std::exp(static_cast<double>(row[j]) - lse);
      orow[j] = static_cast<float>((p - (j == label ? 1.0 : 0.0)) * scale);
    }
  }
}

// (a, b) of equal type, f32 or i32 -> f32 1 where a == b else 0 (IEEE: NaN != NaN, -0 == 0).
void Equal(const Node& node, const Inputs& in, Tensor* out) {
  const int64_t n = out->size();
  float* o = out->f32();
  if (in[0]->dtype() == DType::kF32) {
    const float* a = in[0]->f32();
    const float* b = in[1]->f32();
    for (int64_t i = 0; i < n; ++i) o[i] = a[i] == b[i] ? 1.0f : 0.0f;
  } else {
    const int32_t* a = in[0]->i32();
    const int32_t* b = in[1]->i32();
    for (int64_t i = 0; i < n; ++i) o[i] = a[i] == b[i] ? 1.0f : 0.0f;
  }
}

void BatchNorm(const Node& node, const Inputs& in, Tensor* out) {
  const int64_t c = out->dims().back();
  const float* x = in[0]->f32();
  const float *gamma = in[1]->f32(), *beta = in[2]->f32(), *mean = in[3]->f32(),
              *var = in[4]->f32();
  const float eps = static_cast<float>(node.GetFloat("epsilon"));
  float* o = out->f32();
  for (int64_t i = 0; i < out->size(); ++i) {
    const int64_t k = i % c;
    o[i] = gamma[k] * (x[i] - mean[k]) / std::sqrt(var[k] + eps) + beta[k];
  }
}

void DropoutMask(const Node& node, const Inputs& in, Tensor* out) {
  const uint32_t key = DropoutKey(node.GetInt("seed"), in[0]->f32()[0]);
  const uint32_t threshold = DropoutThreshold(node.GetFloat("rate"));
  const float scale = static_cast<float>(1.0 / (1.0 - node.GetFloat("rate")));
  float* o = out->f32();
  for (int64_t i = 0; i < out->size(); ++i) {
    o[i] = DropoutBits(static_cast<uint32_t>(i), key) >= threshold ? scale : 0.0f;
  }
}

}  // namespace kiln::kernels
