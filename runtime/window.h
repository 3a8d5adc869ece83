// Window geometry shared by the reference convolution and pooling kernels.
#ifndef KILN_RUNTIME_WINDOW_H_
#define KILN_RUNTIME_WINDOW_H_

#include <cstdint>

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

}  // namespace kiln::kernels

#endif  // KILN_RUNTIME_WINDOW_H_
