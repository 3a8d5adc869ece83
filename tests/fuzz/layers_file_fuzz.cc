// libFuzzer target over model description files (.layers): any bytes must give an error or a
// model, never a crash, a leak or undefined behaviour. A file that parses is built into a graph
// at batch 1, and a graph that builds is written in the layers form, which must read back and
// build the same layers. Built by scripts/fuzz.sh; the seeds live in tests/fuzz/corpus_layers/.
#include <cstddef>
#include <cstdint>

#include "frontend/graph_builder.h"
#include "frontend/layers_file.h"

namespace {

absl::StatusOr<std::vector<kiln::LayerRecord>> Build(const kiln::LayersSpec& spec) {
  kiln::GraphBuilder builder("fuzz", 1);
  auto input = builder.Input("image", spec.input_shape);
  if (!input.ok()) return input.status();
  auto out = kiln::ApplyLayers(spec, builder, *input);
  if (!out.ok()) return out.status();
  return builder.layers();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto spec = kiln::ParseLayersText(text, "fuzz.layers");
  if (!spec.ok()) return 0;
  auto layers = Build(*spec);
  if (!layers.ok()) return 0;
  auto written = kiln::LayersText("fuzz", spec->input_shape, *layers);
  if (!written.ok()) __builtin_trap();  // Every layer a file can name has a layers-form line.
  auto again = kiln::ParseLayersText(*written, "written.layers");
  if (!again.ok()) __builtin_trap();
  auto rebuilt = Build(*again);
  if (!rebuilt.ok() || rebuilt->size() != layers->size()) __builtin_trap();
  for (size_t i = 0; i < layers->size(); ++i) {
    if ((*rebuilt)[i].config != (*layers)[i].config) __builtin_trap();
  }
  return 0;
}
