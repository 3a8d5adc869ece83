#include "frontend/image_io.h"

#include <png.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "ir/status.h"

namespace kiln {
namespace {

constexpr int64_t kMaxSide = kMaxImageSide;
constexpr int64_t kMaxPixels = int64_t{1} << 25;  // 32 Mi pixels: ~100 MB of RGB at most.
constexpr int64_t kMaxFileBytes = int64_t{64} << 20;

// Everything libpng's callbacks touch. It lives in the caller of the function that calls
// setjmp, so a longjmp skips no C++ destructor.
struct PngState {
  const uint8_t* in = nullptr;  // Decoding: the bytes and the read position.
  size_t in_size = 0;
  size_t in_offset = 0;
  std::string* out = nullptr;  // Encoding: the bytes written so far.
  char error[200] = {};
};

void OnError(png_structp png, png_const_charp message) {
  auto* state = static_cast<PngState*>(png_get_error_ptr(png));
  std::snprintf(state->error, sizeof(state->error), "%s", message);
  png_longjmp(png, 1);
}

void OnWarning(png_structp, png_const_charp) {}

void ReadBytes(png_structp png, png_bytep dst, png_size_t n) {
  auto* state = static_cast<PngState*>(png_get_io_ptr(png));
  if (n > state->in_size - state->in_offset) png_error(png, "the file is truncated");
  std::memcpy(dst, state->in + state->in_offset, n);
  state->in_offset += n;
}

void WriteBytes(png_structp png, png_bytep src, png_size_t n) {
  static_cast<PngState*>(png_get_io_ptr(png))->out->append(reinterpret_cast<const char*>(src), n);
}

void FlushBytes(png_structp) {}

// libpng's decoder. On failure returns false with state->error set. Only trivially destructible
// locals live in this frame, and none is written after setjmp, as longjmp requires.
bool DecodeWithLibpng(PngState* state, PixelImage* image, std::vector<png_bytep>* rows) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, state, OnError, OnWarning);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!info) {
    std::snprintf(state->error, sizeof(state->error), "libpng could not start");
    png_destroy_read_struct(png ? &png : nullptr, nullptr, nullptr);
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, state, ReadBytes);
  png_set_user_limits(png, kMaxSide, kMaxSide);
  png_read_info(png, info);
  const int64_t width = png_get_image_width(png, info);
  const int64_t height = png_get_image_height(png, info);
  const int color = png_get_color_type(png, info);
  const int depth = png_get_bit_depth(png, info);
  if (width * height > kMaxPixels) png_error(png, "the image has too many pixels");
  if (depth == 16) png_set_strip_16(png);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (color & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const int channels = png_get_channels(png, info);
  if ((channels != 1 && channels != 3) ||
      png_get_rowbytes(png, info) != static_cast<size_t>(width * channels)) {
    png_error(png, "unsupported pixel layout");
  }
  image->width = width;
  image->height = height;
  image->channels = channels;
  image->pixels.resize(static_cast<size_t>(width * height * channels));
  rows->resize(static_cast<size_t>(height));
  for (int64_t y = 0; y < height; ++y) {
    (*rows)[y] = image->pixels.data() + y * width * channels;
  }
  png_read_image(png, rows->data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

// libpng's encoder, with the same rules as DecodeWithLibpng.
bool EncodeWithLibpng(PngState* state, const PixelImage& image, std::vector<png_bytep>* rows) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, state, OnError, OnWarning);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!info) {
    std::snprintf(state->error, sizeof(state->error), "libpng could not start");
    png_destroy_write_struct(png ? &png : nullptr, nullptr);
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, state, WriteBytes, FlushBytes);
  png_set_IHDR(png, info, static_cast<png_uint_32>(image.width),
               static_cast<png_uint_32>(image.height), 8,
               image.channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(png, 9);
  png_write_info(png, info);
  png_write_image(png, rows->data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

}  // namespace

absl::StatusOr<std::string> EncodePng(const PixelImage& image) {
  if ((image.channels != 1 && image.channels != 3) || image.width <= 0 || image.height <= 0 ||
      image.width > kMaxSide || image.height > kMaxSide ||
      image.pixels.size() != static_cast<size_t>(image.width * image.height * image.channels)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot encode a ", image.width, "x",
                                                   image.height, "x", image.channels,
                                                   " image from ", image.pixels.size(), " bytes"));
  }
  std::string bytes;
  PngState state;
  state.out = &bytes;
  std::vector<png_bytep> rows(static_cast<size_t>(image.height));
  for (int64_t y = 0; y < image.height; ++y) {
    rows[y] = const_cast<png_bytep>(image.pixels.data()) + y * image.width * image.channels;
  }
  if (!EncodeWithLibpng(&state, image, &rows)) {
    return absl::InternalError(absl::StrCat("PNG encoding failed: ", state.error));
  }
  return bytes;
}

absl::Status WritePng(const std::string& path, const PixelImage& image) {
  KILN_ASSIGN_OR_RETURN(std::string bytes, EncodePng(image));
  return WriteFileAtomically(path, bytes);
}

absl::StatusOr<PixelImage> DecodePng(absl::string_view bytes, absl::string_view what) {
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  if (bytes.size() < 8 || png_sig_cmp(data, 0, 8) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": not a PNG file"));
  }
  PngState state;
  state.in = data;
  state.in_size = bytes.size();
  PixelImage image;
  std::vector<png_bytep> rows;
  if (!DecodeWithLibpng(&state, &image, &rows)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": invalid PNG: ", state.error));
  }
  return image;
}

absl::StatusOr<PixelImage> DecodeImage(absl::string_view bytes, absl::string_view what) {
  if (bytes.size() >= 8 && png_sig_cmp(reinterpret_cast<const uint8_t*>(bytes.data()), 0, 8) == 0) {
    return DecodePng(bytes, what);
  }
  if (bytes.size() >= 3 && static_cast<uint8_t>(bytes[0]) == 0xFF &&
      static_cast<uint8_t>(bytes[1]) == 0xD8) {
    return DecodeJpeg(bytes, what);
  }
  return absl::InvalidArgumentError(absl::StrCat(what, ": not a PNG or JPEG image"));
}

absl::StatusOr<PixelImage> ReadImage(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(std::string data, ReadFileLimited(path, kMaxFileBytes));
  return DecodeImage(data, path);
}

absl::StatusOr<PixelImage> ReadPng(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(std::string data, ReadFileLimited(path, kMaxFileBytes));
  return DecodePng(data, path);
}

absl::StatusOr<GrayImage> ReadGrayscalePng(const std::string& path, int64_t width, int64_t height) {
  KILN_ASSIGN_OR_RETURN(PixelImage image, ReadPng(path));
  if (image.channels == 3) {
    for (size_t i = 0; i < image.pixels.size(); i += 3) {
      const uint8_t* p = &image.pixels[i];
      if (p[0] != p[1] || p[1] != p[2]) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": a colour (RGB) image; expected a grayscale image (a white digit on black, ",
            "like MNIST)"));
      }
    }
  }
  if ((width > 0 && image.width != width) || (height > 0 && image.height != height)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": the image is ", image.width, "x",
                                                   image.height, "; expected ", width, "x",
                                                   height));
  }
  GrayImage gray{image.width, image.height, {}};
  gray.pixels.resize(static_cast<size_t>(image.width * image.height));
  for (size_t i = 0; i < gray.pixels.size(); ++i) {
    gray.pixels[i] = image.pixels[i * image.channels] / 255.0f;
  }
  return gray;
}

Tensor GrayImageToTensor(const GrayImage& image) {
  Tensor t(TensorType{DType::kF32, {1, image.height, image.width, 1}});
  std::copy(image.pixels.begin(), image.pixels.end(), t.f32());
  return t;
}

}  // namespace kiln
