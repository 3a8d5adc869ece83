// Model::Summary: Keras's table, with FLOPs and activation memory per example added.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "frontend/model.h"

namespace kiln {
namespace {

// 243786 -> "243,786".
std::string Thousands(int64_t n) {
  std::string digits = absl::StrCat(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

// 42240 -> "41.2 KiB".
std::string Bytes(int64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  if (bytes < 1024 * 1024) return absl::StrFormat("%.1f KiB", bytes / 1024.0);
  return absl::StrFormat("%.2f MiB", bytes / (1024.0 * 1024.0));
}

// 11.4M style FLOP counts.
std::string Flops(int64_t flops) {
  if (flops < 10000) return absl::StrCat(flops);
  if (flops < 1000000) return absl::StrFormat("%.1fK", flops / 1e3);
  return absl::StrFormat("%.2fM", flops / 1e6);
}

// Keras's column widths; the first two widen to fit the longest name and shape.
constexpr int kNameWidth = 32;
constexpr int kShapeWidth = 22;
constexpr int kRestWidth = 42;  // Param #, FLOPs and Act. memory, with their separators.

}  // namespace

std::string Model::Summary() const {
  auto fwd = Build(1);
  if (!fwd.ok()) return absl::StrCat("error: ", fwd.status().message(), "\n");
  const Graph& g = fwd->graph;
  int name_width = kNameWidth, shape_width = kShapeWidth;
  for (const LayerRecord& layer : fwd->layers) {
    const int name = static_cast<int>(layer.name.size() + layer.type.size()) + 3;
    const int shape = static_cast<int>(KerasShape(g.node(layer.output).type.dims).size());
    name_width = std::max(name_width, name + 1);
    shape_width = std::max(shape_width, shape + 1);
  }
  const int width = name_width + shape_width + kRestWidth + 2;
  std::string out = absl::StrCat("Model: \"", name_, "\"\n", std::string(width, '_'), "\n");
  auto row = [&](const std::string& name, const std::string& shape, const std::string& params,
                 const std::string& flops, const std::string& memory) {
    absl::StrAppendFormat(&out, " %-*s %-*s %-11s %-13s %s\n", name_width, name, shape_width, shape,
                          params, flops, memory);
  };
  row("Layer (type)", "Output Shape", "Param #", "FLOPs", "Act. memory");
  out += std::string(width, '=') + "\n";
  int64_t total_params = 0, total_flops = 0;
  int64_t total_bytes = NumElements(g.node(fwd->input).type.dims) * 4;
  for (size_t i = 0; i < fwd->layers.size(); ++i) {
    const LayerRecord& layer = fwd->layers[i];
    const Dims& dims = g.node(layer.output).type.dims;
    const int64_t bytes = NumElements(dims) * 4;
    row(absl::StrCat(layer.name, " (", layer.type, ")"), KerasShape(dims), Thousands(layer.params),
        Flops(layer.flops_per_example), Bytes(bytes));
    total_params += layer.params;
    total_flops += layer.flops_per_example;
    total_bytes += bytes;
  }
  out += std::string(width, '=') + "\n";
  int64_t frozen = 0;  // State the step updates itself (moving statistics), as Keras counts it.
  for (const Node& node : g.nodes()) {
    if (node.op == OpKind::kParameter && node.GetInt("trainable") == 0) {
      frozen += NumElements(node.type.dims);
    }
  }
  absl::StrAppend(&out, "Total params: ", Thousands(total_params), "\n");
  absl::StrAppend(&out, "Trainable params: ", Thousands(total_params - frozen), "\n");
  absl::StrAppend(&out, "Non-trainable params: ", Thousands(frozen), "\n");
  absl::StrAppend(&out, std::string(width, '_'), "\n");
  absl::StrAppend(&out, "Forward FLOPs per example: ", Thousands(total_flops), " (",
                  Flops(total_flops), "; 2 per multiply-add)\n");
  absl::StrAppend(&out, "Activation memory per example: ", Bytes(total_bytes),
                  " (input and every layer output, float32)\n");
  return out;
}

}  // namespace kiln
