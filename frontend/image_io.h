// PNG files through libpng: 8-bit grayscale or RGB images written atomically, and PNGs read as
// untrusted input (every libpng error becomes an absl::Status naming the file; nothing crashes).
#ifndef KILN_FRONTEND_IMAGE_IO_H_
#define KILN_FRONTEND_IMAGE_IO_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "frontend/serialize/file_io.h"  // WriteFileAtomically
#include "ir/tensor.h"

namespace kiln {

// Larger images (pixels a side) are refused before their pixels are allocated.
inline constexpr int64_t kMaxImageSide = 16384;

// 8-bit pixels, row-major, `channels` interleaved bytes per pixel: 1 (gray) or 3 (RGB).
struct PixelImage {
  int64_t width = 0;
  int64_t height = 0;
  int channels = 1;
  std::vector<uint8_t> pixels;

  uint8_t at(int64_t x, int64_t y, int channel = 0) const {
    return pixels[static_cast<size_t>((y * width + x) * channels + channel)];
  }
};

// A grayscale image as floats in [0, 1] (pixel / 255, the datasets' scaling), row-major.
struct GrayImage {
  int64_t width = 0;
  int64_t height = 0;
  std::vector<float> pixels;

  float at(int64_t x, int64_t y) const { return pixels[static_cast<size_t>(y * width + x)]; }
};

// Encodes `image` as a PNG (maximum compression). Fails only on inconsistent sizes.
absl::StatusOr<std::string> EncodePng(const PixelImage& image);

// Writes `image` to `path` as a PNG, atomically (WriteFileAtomically).
absl::Status WritePng(const std::string& path, const PixelImage& image);

// Decodes PNG bytes to 8-bit gray (from gray or gray+alpha files) or RGB (from RGB, RGBA or
// palette files); 16-bit samples are reduced to 8 bits and alpha is dropped. Images over
// 16384 pixels a side are refused. `what` names the source in errors ("digit.png: ...").
absl::StatusOr<PixelImage> DecodePng(absl::string_view bytes, absl::string_view what);

// Decodes baseline or progressive JPEG bytes (libjpeg-turbo) to 8-bit gray or RGB; CMYK files
// and images over kMaxImageSide a side are refused.
absl::StatusOr<PixelImage> DecodeJpeg(absl::string_view bytes, absl::string_view what);
// PNG or JPEG by the bytes' signature; anything else is an error naming `what`.
absl::StatusOr<PixelImage> DecodeImage(absl::string_view bytes, absl::string_view what);
// Reads a PNG or JPEG file (at most 64 MiB) with DecodeImage.
absl::StatusOr<PixelImage> ReadImage(const std::string& path);
// Reads a PNG file (at most 64 MiB) with DecodePng.
absl::StatusOr<PixelImage> ReadPng(const std::string& path);

// Reads a grayscale PNG as floats in [0, 1]. Colour images are refused (an RGB file whose pixels
// all have R == G == B counts as grayscale). `width`/`height` > 0 require that size.
absl::StatusOr<GrayImage> ReadGrayscalePng(const std::string& path, int64_t width = 0,
                                           int64_t height = 0);

// A grayscale image as an f32 tensor [1, height, width, 1] (a batch of one for a model).
Tensor GrayImageToTensor(const GrayImage& image);

}  // namespace kiln

#endif  // KILN_FRONTEND_IMAGE_IO_H_
