// libFuzzer target over the image decoders (PNG through libpng, JPEG through libjpeg-turbo) that
// read a user's image folders: any bytes must give an error or an image whose pixel buffer has
// exactly width x height x channels bytes. Built by scripts/fuzz.sh; seeds in
// tests/fuzz/corpus_images/.
#include <cstddef>
#include <cstdint>

#include "frontend/image_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto image = kiln::DecodeImage(bytes, "fuzz");
  if (image.ok()) {
    const size_t want = static_cast<size_t>(image->width * image->height * image->channels);
    if (image->pixels.size() != want || (image->channels != 1 && image->channels != 3)) {
      __builtin_trap();
    }
  }
  return 0;
}
