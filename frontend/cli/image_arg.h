// The --image argument shared by `kiln predict` and `kiln viz convolve`.
#ifndef KILN_FRONTEND_CLI_IMAGE_ARG_H_
#define KILN_FRONTEND_CLI_IMAGE_ARG_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "frontend/image_io.h"

namespace kiln::cli {

struct ImageArg {
  GrayImage image;
  std::string description;  // "digit.png" or "mnist test image 7".
  int label = -1;           // The dataset's label, or -1 for a file.
};

// Loads `spec`: a grayscale PNG file, or mnist:INDEX / fashion:INDEX for image INDEX of that
// test set (fetching the data when missing). `width`/`height` > 0 require that size of a PNG.
absl::StatusOr<ImageArg> LoadImageArg(const std::string& spec, int64_t width = 0,
                                      int64_t height = 0);

}  // namespace kiln::cli

#endif  // KILN_FRONTEND_CLI_IMAGE_ARG_H_
