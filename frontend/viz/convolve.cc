#include "frontend/viz/convolve.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "ir/status.h"
#include "runtime/interpreter.h"

namespace kiln::viz {
namespace {

constexpr int64_t kMaxKernelSide = 15;

struct NamedKernel {
  const char* name;
  std::vector<float> values;  // 3x3, row-major.
};

const std::vector<NamedKernel>& Named() {
  static const auto* kernels = new std::vector<NamedKernel>{
      {"vertical", {-1, 0, 1, -2, 0, 2, -1, 0, 1}}, {"horizontal", {-1, -2, -1, 0, 0, 0, 1, 2, 1}},
      {"sharpen", {0, -1, 0, -1, 5, -1, 0, -1, 0}}, {"blur", std::vector<float>(9, 1.0f / 9)},
      {"laplacian", {0, 1, 0, 1, -4, 1, 0, 1, 0}},
  };
  return *kernels;
}

absl::Status KernelError(absl::string_view spec, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(
      "bad --kernel '", spec, "': ", problem, " (give a name: ", absl::StrJoin(KernelNames(), ", "),
      "; or rows of numbers like \"-1,0,1;-2,0,2;-1,0,1\")"));
}

FeatureMap ToMap(const Tensor& t) {  // [1, H, W, 1] -> H x W.
  FeatureMap map{t.dims()[1], t.dims()[2], {}};
  map.values.assign(t.f32(), t.f32() + t.size());
  return map;
}

// Builds the display tile of a map: `lo`..`hi` over `map`, upscaled by `scale`.
Tile MapTile(const FeatureMap& m, ColorMap map, double lo, double hi, int scale) {
  Tile t = MakeTile(m.height, m.width, m.values, map);
  t.lo = lo;
  t.hi = hi;
  t.scale = scale;
  return t;
}

std::string Size(int64_t h, int64_t w) { return absl::StrCat(h, "x", w); }

}  // namespace

std::string Kernel::ToString() const {
  std::vector<std::string> rows;
  for (int64_t r = 0; r < height; ++r) {
    std::vector<std::string> row;
    for (int64_t c = 0; c < width; ++c) {
      row.push_back(absl::StrFormat("%g", values[static_cast<size_t>(r * width + c)]));
    }
    rows.push_back(absl::StrJoin(row, ","));
  }
  return absl::StrCat("[", absl::StrJoin(rows, "; "), "]");
}

std::vector<std::string> KernelNames() {
  std::vector<std::string> names;
  for (const NamedKernel& k : Named()) names.push_back(k.name);
  return names;
}

absl::StatusOr<Kernel> ParseKernel(absl::string_view spec) {
  const std::string text = absl::StrReplaceAll(spec, {{" ", ""}, {"\t", ""}});
  if (text.empty()) return KernelError(spec, "it is empty");
  for (const NamedKernel& k : Named()) {
    if (text == k.name) return Kernel{k.name, 3, 3, k.values};
  }
  std::string body = text;
  if (body.front() == '[') {  // [[a,b],[c,d]] -> a,b;c,d
    if (body.size() < 4 || body.substr(0, 2) != "[[" || body.substr(body.size() - 2) != "]]") {
      return KernelError(spec, "brackets must be [[row],[row],...]");
    }
    body = absl::StrReplaceAll(body.substr(2, body.size() - 4), {{"],[", ";"}});
    if (absl::StrContains(body, '[') || absl::StrContains(body, ']')) {
      return KernelError(spec, "brackets must be [[row],[row],...]");
    }
  } else if (absl::ascii_isalpha(body.front())) {
    return KernelError(spec, "unknown kernel name");
  }
  Kernel kernel;
  const std::vector<std::string> rows = absl::StrSplit(body, ';');
  for (size_t r = 0; r < rows.size(); ++r) {
    const std::vector<std::string> cells = absl::StrSplit(rows[r], ',');
    for (size_t c = 0; c < cells.size(); ++c) {
      float v = 0;
      if (cells[c].empty()) {
        return KernelError(spec, absl::StrCat("row ", r + 1, ", value ", c + 1, " is missing"));
      }
      if (!absl::SimpleAtof(cells[c], &v) || !std::isfinite(v)) {
        return KernelError(spec, absl::StrCat("row ", r + 1, ", value ", c + 1, ": '", cells[c],
                                              "' is not a number"));
      }
      kernel.values.push_back(v);
    }
    if (r == 0) kernel.width = static_cast<int64_t>(cells.size());
    if (static_cast<int64_t>(cells.size()) != kernel.width) {
      return KernelError(
          spec, absl::StrCat("row ", r + 1, " has ", cells.size(), " values but row 1 has ",
                             kernel.width, "; the kernel must be rectangular"));
    }
  }
  kernel.height = static_cast<int64_t>(rows.size());
  if (kernel.height > kMaxKernelSide || kernel.width > kMaxKernelSide) {
    return KernelError(spec, absl::StrCat("it is ", kernel.height, "x", kernel.width, "; at most ",
                                          kMaxKernelSide, "x", kMaxKernelSide));
  }
  return kernel;
}

absl::StatusOr<ConvolveResult> Convolve(const GrayImage& image, const Kernel& kernel,
                                        int64_t pool) {
  if (kernel.height > image.height || kernel.width > image.width) {
    return absl::InvalidArgumentError(absl::StrCat("the ", Size(kernel.height, kernel.width),
                                                   " kernel does not fit the ",
                                                   Size(image.height, image.width), " image"));
  }
  if (pool < 0) return absl::InvalidArgumentError("--pool must be >= 0");
  const int64_t fh = image.height - kernel.height + 1, fw = image.width - kernel.width + 1;
  if (pool > fh || pool > fw) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a ", pool, "x", pool, " pool does not fit the filtered image (", Size(fh, fw), ")"));
  }
  // The experiment as a Kiln graph: image -> Conv2D(kernel) -> MaxPool2D.
  Graph g("convolve");
  KILN_ASSIGN_OR_RETURN(NodeId x, g.AddSource(OpKind::kInput, "image",
                                              {DType::kF32, {1, image.height, image.width, 1}}));
  KILN_ASSIGN_OR_RETURN(NodeId w, g.AddSource(OpKind::kParameter, "kernel",
                                              {DType::kF32, {kernel.height, kernel.width, 1, 1}},
                                              {{"trainable", AttrValue::Int(0)}}));
  KILN_ASSIGN_OR_RETURN(NodeId conv, g.AddOp(OpKind::kConv2D, "filtered", {x, w},
                                             {{"strides", AttrValue::Ints({1, 1})},
                                              {"padding", AttrValue::Str("valid")}}));
  g.AddOutput(conv);
  if (pool > 0) {
    KILN_ASSIGN_OR_RETURN(NodeId pooled, g.AddOp(OpKind::kMaxPool2D, "pooled", {conv},
                                                 {{"pool", AttrValue::Ints({pool, pool})},
                                                  {"strides", AttrValue::Ints({pool, pool})},
                                                  {"padding", AttrValue::Str("valid")}}));
    g.AddOutput(pooled);
  }
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Executable> exe, CreateInterpreter(std::move(g)));
  KILN_RETURN_IF_ERROR(exe->SetTensor("image", GrayImageToTensor(image)));
  KILN_RETURN_IF_ERROR(
      exe->SetTensor("kernel", Tensor::F32({kernel.height, kernel.width, 1, 1}, kernel.values)));
  KILN_RETURN_IF_ERROR(exe->Run());
  ConvolveResult result;
  KILN_ASSIGN_OR_RETURN(Tensor filtered, exe->GetTensor("filtered"));
  result.filtered = ToMap(filtered);
  if (pool > 0) {
    KILN_ASSIGN_OR_RETURN(Tensor pooled, exe->GetTensor("pooled"));
    result.pooled = ToMap(pooled);
  }
  return result;
}

Figure ConvolveFigure(const GrayImage& image, const std::string& source, const Kernel& kernel,
                      int64_t pool, const ConvolveResult& result) {
  const FeatureMap& f = result.filtered;
  const auto [lo_it, hi_it] = std::minmax_element(f.values.begin(), f.values.end());
  const double lo = *lo_it, hi = *hi_it;
  const bool signed_values = lo < 0 && hi > 0;
  const double extent = std::max(std::fabs(lo), std::fabs(hi));
  const ColorMap map = signed_values ? ColorMap::kDiverging : ColorMap::kGray;
  const double show_lo = signed_values ? -extent : lo, show_hi = signed_values ? extent : hi;
  const int scale = ScaleToFit(std::max(image.height, image.width), 224);

  Figure fig;
  fig.title =
      absl::StrCat("Convolution: ", kernel.name.empty() ? "kernel" : kernel.name, " on ", source);
  fig.subtitle = {absl::StrCat("kernel ", kernel.ToString(), ", valid (no padding), no ReLU"),
                  signed_values ? "filtered: red > 0, blue < 0, white = 0"
                                : "filtered: gray scaled to the value range"};
  fig.rows.emplace_back();
  std::vector<Tile>& row = fig.rows.back();
  Tile original(MapTile({image.height, image.width, image.pixels}, ColorMap::kGray, 0, 1, scale));
  original.caption = {"original", Size(image.height, image.width)};
  row.push_back(std::move(original));
  Tile filtered = MapTile(f, map, show_lo, show_hi, scale);
  filtered.caption = {"filtered", Size(f.height, f.width), absl::StrFormat("[%.3g, %.3g]", lo, hi)};
  row.push_back(std::move(filtered));
  if (pool > 0) {
    const FeatureMap& p = result.pooled;
    Tile pooled = MapTile(p, map, show_lo, show_hi, scale);
    pooled.caption = {absl::StrCat("max pool ", pool, "x", pool), Size(p.height, p.width)};
    row.push_back(std::move(pooled));
  }
  if (signed_values) fig.color_bar = ColorBar{map, show_lo, show_hi, "filtered"};
  return fig;
}

}  // namespace kiln::viz
