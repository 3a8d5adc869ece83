// Reference window kernels: Conv2D, MaxPool2D, AvgPool2D.
//
// Layouts: activations NHWC, filters HWIO [KH, KW, Cin, Cout], optional bias [Cout]. Padding
// "valid" uses no padding; "same" pads with WindowPadBefore (TF/Keras: any odd extra cell goes at
// the end). Each output pixel's channel vector is contiguous, so the innermost loops run over
// channels.
#include <cstdint>
#include <limits>
#include <string>

#include "runtime/kernels.h"
#include "runtime/window.h"

namespace kiln::kernels {

// out[b,oy,ox,co] = bias[co] + sum_{ky,kx,ci} x[b, oy*sh-pt+ky, ox*sw-pl+kx, ci] * w[ky,kx,ci,co],
// with out-of-bounds (padding) cells contributing zero. Accumulates in float.
void Conv2D(const Node& node, const Inputs& in, Tensor* out) {
  const Tensor& x = *in[0];
  const Tensor& filter = *in[1];
  const float* bias = in.size() > 2 ? in[2]->f32() : nullptr;
  const WindowGeometry w =
      MakeWindowGeometry(node, x.dims(), out->dims(), filter.dims()[0], filter.dims()[1]);
  const float* xv = x.f32();
  const float* fv = filter.f32();
  float* ov = out->f32();
  const int64_t cin = w.in_c;
  const int64_t cout = w.out_c;
  ForEachWindow(
      w,
      [&](int64_t out_off) {
        for (int64_t co = 0; co < cout; ++co) ov[out_off + co] = 0.0f;
      },
      [&](int64_t out_off, int64_t in_off, int64_t tap) {
        float* o = ov + out_off;
        const float* xp = xv + in_off;
        const float* fp = fv + tap * cin * cout;  // Filter slice [ky, kx, :, :].
        for (int64_t ci = 0; ci < cin; ++ci) {
          const float v = xp[ci];
          const float* frow = fp + ci * cout;
          for (int64_t co = 0; co < cout; ++co) o[co] += v * frow[co];
        }
      },
      [&](int64_t out_off, int64_t /*count*/) {
        if (bias == nullptr) return;
        for (int64_t co = 0; co < cout; ++co) ov[out_off + co] += bias[co];
      });
}

// out[b,oy,ox,c] = max over the in-bounds window cells; padded cells are ignored.
void MaxPool2D(const Node& node, const Inputs& in, Tensor* out) {
  const std::vector<int64_t>& pool = node.GetInts("pool");
  const WindowGeometry w = MakeWindowGeometry(node, in[0]->dims(), out->dims(), pool[0], pool[1]);
  const float* xv = in[0]->f32();
  float* ov = out->f32();
  const int64_t channels = w.out_c;
  ForEachWindow(
      w,
      [&](int64_t out_off) {
        for (int64_t c = 0; c < channels; ++c) {
          ov[out_off + c] = -std::numeric_limits<float>::infinity();
        }
      },
      [&](int64_t out_off, int64_t in_off, int64_t /*tap*/) {
        for (int64_t c = 0; c < channels; ++c) {
          const float v = xv[in_off + c];
          if (v > ov[out_off + c]) ov[out_off + c] = v;
        }
      },
      [](int64_t, int64_t) {});
}

// out[b,oy,ox,c] = mean over the in-bounds window cells (padded cells are not counted, as in
// Keras "same" average pooling).
void AvgPool2D(const Node& node, const Inputs& in, Tensor* out) {
  const std::vector<int64_t>& pool = node.GetInts("pool");
  const WindowGeometry w = MakeWindowGeometry(node, in[0]->dims(), out->dims(), pool[0], pool[1]);
  const float* xv = in[0]->f32();
  float* ov = out->f32();
  const int64_t channels = w.out_c;
  ForEachWindow(
      w,
      [&](int64_t out_off) {
        for (int64_t c = 0; c < channels; ++c) ov[out_off + c] = 0.0f;
      },
      [&](int64_t out_off, int64_t in_off, int64_t /*tap*/) {
        for (int64_t c = 0; c < channels; ++c) ov[out_off + c] += xv[in_off + c];
      },
      [&](int64_t out_off, int64_t count) {
        // Every "same"/"valid" window overlaps the input, so count > 0; guard anyway.
        if (count == 0) return;
        const float n = static_cast<float>(count);
        for (int64_t c = 0; c < channels; ++c) ov[out_off + c] /= n;
      });
}

}  // namespace kiln::kernels
