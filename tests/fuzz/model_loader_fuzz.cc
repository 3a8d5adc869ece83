// libFuzzer target over the model and graph loaders: any bytes must give an error or a valid
// model, never a crash, a leak or undefined behaviour. Built by scripts/fuzz.sh with clang and
// -fsanitize=fuzzer,address,undefined; the seeds live in tests/fuzz/corpus/.
#include <cstddef>
#include <cstdint>

#include "frontend/serialize/model_file.h"
#include "ir/text_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  // Whole files (envelope and checksum), and the payload past the checksum, where the
  // decoder's own validation is all that stands between the bytes and the graph.
  (void)kiln::DecodeModelFile(bytes);
  auto model = kiln::DecodeModelPayload(bytes);
  if (model.ok()) {
    // A model that decodes is a verified graph: printing and re-encoding it must work.
    (void)kiln::PrintGraph(model->forward);
    auto encoded = kiln::EncodeModelFile(*model);
    if (!encoded.ok() || !kiln::DecodeModelFile(*encoded).ok()) __builtin_trap();
  }
  (void)kiln::DecodeGraphFile(bytes);
  return 0;
}
