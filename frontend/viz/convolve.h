// The course's convolution experiment: a small kernel slid over a grayscale image ("valid", no
// padding), then max pooling, run as a two-node Kiln graph on the reference interpreter, and the
// figure that shows the original, filtered and pooled images side by side.
#ifndef KILN_FRONTEND_VIZ_CONVOLVE_H_
#define KILN_FRONTEND_VIZ_CONVOLVE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "frontend/image_io.h"
#include "frontend/viz/figure.h"

namespace kiln::viz {

struct Kernel {
  std::string name;  // The built-in name, or empty for one given as values.
  int64_t height = 0;
  int64_t width = 0;
  std::vector<float> values;  // Row-major.

  // "[-1,0,1; -2,0,2; -1,0,1]".
  std::string ToString() const;
};

// Built-in kernel names: vertical, horizontal (Sobel), sharpen, blur (3x3 box), laplacian (the
// course's first example, [[0,1,0],[1,-4,1],[0,1,0]]).
std::vector<std::string> KernelNames();

// A kernel from a built-in name or from values: rows separated by ';', values by ','
// ("-1,0,1;-2,0,2;-1,0,1"), or the course's Python notation ("[[0,1,0],[1,-4,1],[0,1,0]]").
// At most 15x15. Errors name the row and value at fault.
absl::StatusOr<Kernel> ParseKernel(absl::string_view spec);

// A 2-D map of values, row-major.
struct FeatureMap {
  int64_t height = 0;
  int64_t width = 0;
  std::vector<float> values;

  float at(int64_t x, int64_t y) const { return values[static_cast<size_t>(y * width + x)]; }
};

struct ConvolveResult {
  FeatureMap filtered;  // (H - kh + 1) x (W - kw + 1); no activation.
  FeatureMap pooled;    // Max over pool x pool windows with stride pool; empty when pool is 0.
};

// Convolves `image` with `kernel` (cross-correlation, as Conv2D computes it) and max-pools the
// result with `pool` x `pool` windows (0: no pooling).
absl::StatusOr<ConvolveResult> Convolve(const GrayImage& image, const Kernel& kernel, int64_t pool);

// The original, filtered and pooled images side by side with their sizes in the captions.
// Filtered values of both signs use the diverging map, symmetric about zero; otherwise gray
// scaled to the value range. `source` names the image in the title.
Figure ConvolveFigure(const GrayImage& image, const std::string& source, const Kernel& kernel,
                      int64_t pool, const ConvolveResult& result);

}  // namespace kiln::viz

#endif  // KILN_FRONTEND_VIZ_CONVOLVE_H_
