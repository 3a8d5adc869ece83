// Window arithmetic shared by the convolution emitters.
#ifndef KILN_CODEGEN_CONV_UTIL_H_
#define KILN_CODEGEN_CONV_UTIL_H_

#include <cstdint>

#include "ir/graph.h"

namespace kiln::codegen {

// Strides and padding before the first element: input coordinate = o * s + k - p.
struct ConvWindow {
  int64_t sh, sw, ph, pw;
};
ConvWindow ConvWindowOf(const Node& node, const Dims& in, const Dims& out, int64_t kh, int64_t kw);
// Whether some window reaches outside the input along one axis (so reads need bounds checks).
bool NeedsCheck(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p);

}  // namespace kiln::codegen

#endif  // KILN_CODEGEN_CONV_UTIL_H_
