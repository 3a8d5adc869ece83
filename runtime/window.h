// Window geometry shared by the reference convolution and pooling kernels.
#ifndef KILN_RUNTIME_WINDOW_H_
#define KILN_RUNTIME_WINDOW_H_

#include <cstdint>
#include <vector>

#include "ir/graph.h"

namespace kiln::kernels {

// A sliding window over NHWC input [batch, in_h, in_w, in_c] producing [batch, out_h, out_w,
// out_c]: input coordinate = output * stride + tap - pad.
struct WindowGeometry {
  int64_t batch, in_h, in_w, in_c;
  int64_t out_h, out_w, out_c;
  int64_t win_h, win_w;
  int64_t stride_h, stride_w;
  int64_t pad_top, pad_left;
};

// From the node's "strides" and "padding" attributes and the input and output dims.
inline WindowGeometry MakeWindowGeometry(const Node& node, const Dims& in, const Dims& out,
                                         int64_t win_h, int64_t win_w) {
  const std::vector<int64_t>& strides = node.GetInts("strides");
  const std::string& padding = node.GetStr("padding");
  return {in[0],
          in[1],
          in[2],
          in[3],
          out[1],
          out[2],
          out[3],
          win_h,
          win_w,
          strides[0],
          strides[1],
          WindowPadBefore(in[1], out[1], win_h, strides[0], padding),
          WindowPadBefore(in[2], out[2], win_w, strides[1], padding)};
}

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

// An in-bounds input pixel under a window: element offset of its first channel in the input,
// and its tap index ky * win_w + kx.
struct Cell {
  int64_t x_off;
  int64_t tap;
};

// The same traversal as fn(out_off, cells), with `cells` every in-bounds input pixel under the
// window in visiting order: for kernels that look at a window as a whole (the adjoints).
template <typename Fn>
void ForEachWindowCells(const WindowGeometry& w, Fn fn) {
  std::vector<Cell> cells;
  cells.reserve(w.win_h * w.win_w);
  ForEachWindow(
      w, [&](int64_t) { cells.clear(); },
      [&](int64_t, int64_t in_off, int64_t tap) {
        cells.push_back({in_off, tap});
      },
      [&](int64_t out_off, int64_t) { fn(out_off, cells); });
}

}  // namespace kiln::kernels

#endif  // KILN_RUNTIME_WINDOW_H_
