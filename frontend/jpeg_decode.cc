// JPEG decoding through libjpeg(-turbo), as untrusted input: libjpeg's fatal errors return here
// through setjmp/longjmp (no exception crosses the C library) and become a Status naming the
// source; sizes are checked before any pixel buffer is allocated.
#include <csetjmp>
#include <cstdio>
#include <vector>

#include "absl/strings/str_cat.h"
#include "frontend/image_io.h"
// jpeglib.h needs size_t and FILE declared first.
#include <jpeglib.h>

namespace kiln {
namespace {

struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = {0};
};

void OnJpegError(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

void OnJpegMessage(j_common_ptr, int) {}  // Warnings (corrupt data libjpeg recovers from).

// Decodes into `image`; false with err->message set on failure. Only plain data lives across
// the setjmp: the image's vector is owned by the caller.
bool DecodeWithLibjpeg(const uint8_t* data, size_t size, PixelImage* image, JpegError* err,
                       int64_t max_side) {
  jpeg_decompress_struct cinfo;
  cinfo.err = jpeg_std_error(&err->mgr);
  err->mgr.error_exit = OnJpegError;
  err->mgr.emit_message = OnJpegMessage;
  if (setjmp(err->jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    std::snprintf(err->message, sizeof(err->message), "CMYK JPEGs are not supported");
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  cinfo.out_color_space = cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  if (cinfo.output_width == 0 || cinfo.output_height == 0 ||
      cinfo.output_width > static_cast<JDIMENSION>(max_side) ||
      cinfo.output_height > static_cast<JDIMENSION>(max_side)) {
    std::snprintf(err->message, sizeof(err->message), "%ux%u pixels (at most %lld a side)",
                  cinfo.output_width, cinfo.output_height, static_cast<long long>(max_side));
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  image->width = cinfo.output_width;
  image->height = cinfo.output_height;
  image->channels = cinfo.output_components;
  image->pixels.resize(static_cast<size_t>(image->width * image->height * image->channels));
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = image->pixels.data() +
                   static_cast<size_t>(cinfo.output_scanline) * image->width * image->channels;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

}  // namespace

absl::StatusOr<PixelImage> DecodeJpeg(absl::string_view bytes, absl::string_view what) {
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  if (bytes.size() < 3 || data[0] != 0xFF || data[1] != 0xD8 || data[2] != 0xFF) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": not a JPEG file"));
  }
  PixelImage image;
  JpegError err;
  if (!DecodeWithLibjpeg(data, bytes.size(), &image, &err, kMaxImageSide)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": invalid JPEG: ", err.message));
  }
  return image;
}

}  // namespace kiln
