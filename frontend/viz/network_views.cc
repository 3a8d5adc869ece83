#include "frontend/viz/network_views.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "frontend/training.h"
#include "ir/status.h"

namespace kiln::viz {
namespace {

constexpr int kKernelsPerRow = 8;
constexpr int64_t kDefaultChannelsMultiInput = 16;
constexpr int kActivationTile = 112;  // Target tile size in pixels for feature maps.

bool IsPool(const std::string& type) {
  return type == "MaxPooling2D" || type == "AveragePooling2D";
}

absl::Status CheckChannels(const std::vector<int64_t>& channels, int64_t count,
                           const std::string& what) {
  for (int64_t c : channels) {
    if (c < 0 || c >= count) {
      return absl::InvalidArgumentError(absl::StrCat(
          "channel ", c, " out of range: ", what, " has ", count, " channels (0-", count - 1, ")"));
    }
  }
  return absl::OkStatus();
}

std::string DimsText(const Dims& d) { return absl::StrJoin(d, "x"); }

}  // namespace

absl::StatusOr<std::vector<std::string>> ConvLayerNames(const Model& model) {
  KILN_ASSIGN_OR_RETURN(ForwardGraph fwd, model.Build(1));
  std::vector<std::string> names;
  for (const LayerRecord& layer : fwd.layers) {
    if (layer.type == "Conv2D") names.push_back(layer.name);
  }
  return names;
}

absl::StatusOr<Figure> FiltersFigure(const Model& model, const std::string& layer,
                                     const std::vector<int64_t>& channels) {
  KILN_ASSIGN_OR_RETURN(ForwardGraph fwd, model.Build(1));
  std::vector<std::string> convs;
  std::string type_of_requested;
  for (const LayerRecord& l : fwd.layers) {
    if (l.type == "Conv2D") convs.push_back(l.name);
    if (l.name == layer) type_of_requested = l.type;
  }
  if (convs.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model '", model.name(), "' has no Conv2D layers, so no filters to show"));
  }
  const std::string name = layer.empty() ? convs[0] : layer;
  if (std::find(convs.begin(), convs.end(), name) == convs.end()) {
    const std::string list = absl::StrCat("conv layers: ", absl::StrJoin(convs, ", "));
    if (!type_of_requested.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("layer '", name, "' is a ", type_of_requested,
                                                     " layer, not Conv2D; ", list));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("model '", model.name(), "' has no layer '", name, "'; ", list));
  }
  const std::string param = absl::StrCat(name, "/kernel");
  auto it = model.weights().find(param);
  if (it == model.weights().end()) {
    return absl::InternalError(absl::StrCat("conv layer '", name, "' has no weight ", param));
  }
  const Tensor& w = it->second;  // HWIO.
  const int64_t kh = w.dims()[0], kw = w.dims()[1], cin = w.dims()[2], cout = w.dims()[3];
  std::vector<int64_t> outs = channels;
  if (outs.empty()) {
    for (int64_t o = 0; o < (cin == 1 ? cout : std::min(cout, kDefaultChannelsMultiInput)); ++o) {
      outs.push_back(o);
    }
  }
  KILN_RETURN_IF_ERROR(CheckChannels(outs, cout, absl::StrCat("layer '", name, "'")));
  double extent = 0;
  for (float v : w.f32_span()) extent = std::max(extent, std::fabs(static_cast<double>(v)));
  if (extent == 0) extent = 1;

  auto kernel_tile = [&](int64_t in, int64_t out, int scale) {
    Tile t;
    t.height = kh;
    t.width = kw;
    t.map = ColorMap::kDiverging;
    t.lo = -extent;
    t.hi = extent;
    t.scale = scale;
    for (int64_t y = 0; y < kh; ++y) {
      for (int64_t x = 0; x < kw; ++x) {
        t.values.push_back(w.f32()[((y * kw + x) * cin + in) * cout + out]);
      }
    }
    return t;
  };

  Figure fig;
  fig.title = absl::StrCat("Filters of ", name, " (model ", model.name(), ")");
  fig.subtitle = {absl::StrCat(param, ": ",
                               cin == 1 ? absl::StrCat(cout, " kernels")
                                        : absl::StrCat(cout, " output x ", cin, " input channels"),
                               " of ", kh, "x", kw, " (HWIO ", DimsText(w.dims()), ")"),
                  "red: positive weights, blue: negative, white: zero"};
  if (cin == 1) {
    const int scale = ScaleToFit(std::max(kh, kw), 36);
    for (size_t i = 0; i < outs.size(); ++i) {
      if (i % kKernelsPerRow == 0) fig.rows.emplace_back();
      Tile t = kernel_tile(0, outs[i], scale);
      t.caption = {absl::StrCat(outs[i])};
      fig.rows.back().push_back(std::move(t));
    }
  } else {
    const int scale = ScaleToFit(std::max(kh, kw), 24);
    fig.gap = 6;
    fig.subtitle.push_back("rows: output channels, columns: input channels");
    for (int64_t in = 0; in < cin; ++in) fig.column_headers.push_back(absl::StrCat(in));
    for (int64_t out : outs) {
      fig.row_labels.push_back(absl::StrCat("out ", out));
      fig.rows.emplace_back();
      for (int64_t in = 0; in < cin; ++in) fig.rows.back().push_back(kernel_tile(in, out, scale));
    }
  }
  fig.color_bar = ColorBar{ColorMap::kDiverging, -extent, extent, "weight"};
  return fig;
}

absl::StatusOr<Figure> ActivationsFigure(const Model& model, const Dataset& data,
                                         const std::string& data_name,
                                         const std::vector<int64_t>& indices,
                                         const std::vector<int64_t>& channels) {
  if (indices.empty()) return absl::InvalidArgumentError("--index needs at least one image");
  if (channels.empty()) return absl::InvalidArgumentError("--channels needs at least one channel");
  for (int64_t index : indices) {
    if (index < 0 || index >= data.size()) {
      return absl::InvalidArgumentError(absl::StrCat("index ", index, " out of range: the ",
                                                     data_name, " test set has ", data.size(),
                                                     " images (0-", data.size() - 1, ")"));
    }
  }
  const Dims& shape = model.input_shape();
  const int64_t per_image = NumElements(shape);
  if (data.images.dims().size() != shape.size() + 1 ||
      !std::equal(shape.begin(), shape.end(), data.images.dims().begin() + 1)) {
    return absl::InvalidArgumentError(absl::StrCat("model '", model.name(), "' takes ",
                                                   DimsText(shape), " images; ", data_name, " has ",
                                                   TypeToString(data.images.type())));
  }
  const auto n = static_cast<int64_t>(indices.size());
  KILN_ASSIGN_OR_RETURN(ForwardGraph fwd, model.Build(n));
  std::vector<LayerRecord> shown;
  for (const LayerRecord& l : fwd.layers) {
    if (l.type == "Conv2D" || IsPool(l.type)) shown.push_back(l);
  }
  if (shown.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model '", model.name(), "' has no Conv2D or pooling layers, so no feature maps to show"));
  }
  for (const LayerRecord& l : shown) {
    KILN_RETURN_IF_ERROR(CheckChannels(channels, fwd.graph.node(l.output).type.dims[3],
                                       absl::StrCat("layer '", l.name, "'")));
  }
  std::vector<std::string> names;
  for (const LayerRecord& l : shown) names.push_back(fwd.graph.node(l.output).name);
  const std::string output = fwd.graph.node(fwd.output).name;
  const bool classifier = fwd.logits >= 0;

  // One forward pass on the interpreter, which keeps every intermediate tensor.
  Dims batch_dims = {n};
  batch_dims.insert(batch_dims.end(), shape.begin(), shape.end());
  Tensor batch(TensorType{DType::kF32, batch_dims});
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(batch.f32() + i * per_image, data.images.f32() + indices[i] * per_image,
                per_image * sizeof(float));
  }
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Executable> exe,
                        CreateExecutable(std::move(fwd.graph), Backend::kInterpreter));
  for (const auto& [param, value] : model.weights()) {
    KILN_RETURN_IF_ERROR(exe->SetTensor(param, value));
  }
  KILN_RETURN_IF_ERROR(exe->SetTensor("image", batch));
  KILN_RETURN_IF_ERROR(exe->Run());
  std::vector<Tensor> maps;
  for (const std::string& node : names) {
    KILN_ASSIGN_OR_RETURN(Tensor t, exe->GetTensor(node));
    maps.push_back(std::move(t));
  }
  KILN_ASSIGN_OR_RETURN(Tensor probs, exe->GetTensor(output));

  Figure fig;
  fig.title = absl::StrCat("Activations of ", model.name(), " on ", data_name, " test images");
  fig.subtitle = {"rows: image and channel; columns: each conv and pooling layer's output",
                  "viridis, dark = low; each layer and channel on one scale across the images"};
  fig.group_rows = static_cast<int>(channels.size());
  fig.column_headers.push_back(absl::StrCat("input\n", DimsText(shape)));
  for (size_t l = 0; l < shown.size(); ++l) {
    const Dims& d = maps[l].dims();
    fig.column_headers.push_back(
        absl::StrCat(shown[l].name, "\n", DimsText(Dims(d.begin() + 1, d.end()))));
  }
  for (int64_t i = 0; i < n; ++i) {
    for (size_t k = 0; k < channels.size(); ++k) {
      const int64_t ch = channels[k];
      std::string label = absl::StrCat("channel ", ch);
      fig.rows.emplace_back();
      std::vector<Tile>& row = fig.rows.back();
      if (k == 0) {
        std::string head =
            absl::StrCat("image ", indices[i], "\nlabel ", data.labels.i32()[indices[i]]);
        if (classifier) {
          const int64_t classes = probs.size() / n;
          const float* p = probs.f32() + i * classes;
          absl::StrAppend(&head, "\npredicted ", std::max_element(p, p + classes) - p);
        }
        label = absl::StrCat(head, "\n", label);
        Tile input;  // Grayscale inputs only.
        if (shape.size() == 3 && shape[2] == 1) {
          input = MakeTile(shape[0], shape[1],
                           std::vector<float>(data.images.f32() + indices[i] * per_image,
                                              data.images.f32() + (indices[i] + 1) * per_image),
                           ColorMap::kGray);
          input.lo = 0;
          input.hi = 1;
          input.scale = ScaleToFit(std::max(shape[0], shape[1]), kActivationTile);
        }
        row.push_back(std::move(input));
      } else {
        row.push_back(Tile{});
      }
      fig.row_labels.push_back(label);
      for (const Tensor& m : maps) {
        const int64_t h = m.dims()[1], w = m.dims()[2], c = m.dims()[3];
        std::vector<float> values(static_cast<size_t>(h * w));
        double lo = INFINITY, hi = -INFINITY;
        for (int64_t j = 0; j < n * h * w; ++j) {  // The range over every image shown.
          const float v = m.f32()[j * c + ch];
          lo = std::min(lo, static_cast<double>(v));
          hi = std::max(hi, static_cast<double>(v));
          if (j / (h * w) == i) values[static_cast<size_t>(j % (h * w))] = v;
        }
        Tile tile = MakeTile(h, w, std::move(values), ColorMap::kViridis);
        tile.lo = lo;
        tile.hi = hi;
        tile.scale = ScaleToFit(std::max(h, w), kActivationTile);
        row.push_back(std::move(tile));
      }
    }
  }
  return fig;
}

}  // namespace kiln::viz
