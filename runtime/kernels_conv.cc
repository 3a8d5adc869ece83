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
namespace {

// The geometry shared by the window ops, read from the input and output NHWC shapes.

// For each output pixel: begin(out_off); then visit(out_off, in_off, tap) once per in-bounds
// input pixel under the window, in row-major window order (tap = ky * win_w + kx); then
// end(out_off, count) with the number of pixels visited. Offsets are element offsets of the
// pixel's first channel.
template <typename Begin, typename Visit, typename End>
void ForEachWindow(const WindowGeometry& w, Begin begin, Visit visit, End end) {
  for (int64_t b = 0; b < w.batch; ++b) {
    for (int64_t oy = 0; oy < w.out_h; ++oy) {
      for (int64_t ox = 0; ox < w.out_w; ++ox) {
        const int64_t out_off = ((b * w.out_h + oy) * w.out_w + ox) * w.out_c;
        begin(out_off);
        int64_t count = 0;
        for (int64_t ky = 0; ky < w.win_h; ++ky) {
          const int64_t iy = oy * w.stride_h - w.pad_top + ky;
          if (iy < 0 || iy >= w.in_h) continue;
          for (int64_t kx = 0; kx < w.win_w; ++kx) {
            const int64_t ix = ox * w.stride_w - w.pad_left + kx;
            if (ix < 0 || ix >= w.in_w) continue;
            visit(out_off, ((b * w.in_h + iy) * w.in_w + ix) * w.in_c, ky * w.win_w + kx);
            ++count;
          }
        }
        end(out_off, count);
      }
    }
  }
}

}  // namespace

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
