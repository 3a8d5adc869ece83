// `kiln viz convolve | filters | activations`: pictures of what a network computes, as PNGs.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "frontend/cli/commands.h"
#include "frontend/cli/flags.h"
#include "frontend/cli/image_arg.h"
#include "frontend/datasets.h"
#include "frontend/viz/convolve.h"
#include "frontend/viz/figure.h"
#include "frontend/viz/network_views.h"

namespace kiln::cli {
namespace {

constexpr int64_t kMaxConvolveSide = 1024;

// "0,7,26" -> {0, 7, 26}; whole numbers >= 0. Empty text gives an empty list.
absl::StatusOr<std::vector<int64_t>> ParseIndexList(const std::string& flag,
                                                    const std::string& text) {
  std::vector<int64_t> out;
  if (text.empty()) return out;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(item, &v) || v < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad ", flag, " '", text, "': '", item, "' is not a whole number >= 0"));
    }
    out.push_back(v);
  }
  return out;
}

absl::Status RequireOut() {
  if (FlagOut().empty()) return absl::InvalidArgumentError("--out FILE.png is required");
  return absl::OkStatus();
}

// Draws `figure` to --out and says so.
int Write(const std::string& command, const viz::Figure& figure) {
  const viz::Canvas canvas = viz::RenderFigure(figure);
  if (auto s = canvas.WritePng(FlagOut()); !s.ok()) return Fail(command, s);
  std::printf("wrote %s (%dx%d)\n", FlagOut().c_str(), canvas.width(), canvas.height());
  return 0;
}

int Convolve() {
  const std::string cmd = "viz convolve";
  if (auto s = RequireOut(); !s.ok()) return Fail(cmd, s);
  if (FlagImage().empty()) {
    return Fail(cmd, absl::InvalidArgumentError("--image FILE.png or mnist:INDEX is required"));
  }
  if (FlagPool() < 0) return Fail(cmd, absl::InvalidArgumentError("--pool must be >= 0"));
  auto kernel = viz::ParseKernel(FlagKernel());
  if (!kernel.ok()) return Fail(cmd, kernel.status());
  auto image = LoadImageArg(FlagImage());
  if (!image.ok()) return Fail(cmd, image.status());
  const GrayImage& gray = image->image;
  if (gray.width > kMaxConvolveSide || gray.height > kMaxConvolveSide) {
    return Fail(cmd, absl::InvalidArgumentError(absl::StrCat(
                         image->description, " is ", gray.width, "x", gray.height, "; at most ",
                         kMaxConvolveSide, "x", kMaxConvolveSide, " for viz convolve")));
  }
  auto result = viz::Convolve(gray, *kernel, FlagPool());
  if (!result.ok()) return Fail(cmd, result.status());
  std::string source = image->description;
  if (image->label >= 0) absl::StrAppend(&source, " (label ", image->label, ")");
  const int rc = Write(cmd, viz::ConvolveFigure(gray, source, *kernel, FlagPool(), *result));
  if (rc == 0) {
    std::printf("original %lldx%lld, filtered %lldx%lld", static_cast<long long>(gray.height),
                static_cast<long long>(gray.width), static_cast<long long>(result->filtered.height),
                static_cast<long long>(result->filtered.width));
    if (FlagPool() > 0) {
      std::printf(", pooled %lldx%lld", static_cast<long long>(result->pooled.height),
                  static_cast<long long>(result->pooled.width));
    }
    std::printf("\n");
  }
  return rc;
}

int Filters() {
  const std::string cmd = "viz filters";
  if (auto s = RequireOut(); !s.ok()) return Fail(cmd, s);
  auto channels = ParseIndexList("--channels", FlagChannels());
  if (!channels.ok()) return Fail(cmd, channels.status());
  auto model = LoadModel(FlagModel(), FlagSeed());
  if (!model.ok()) return Fail(cmd, model.status());
  auto figure = viz::FiltersFigure(*model, FlagLayer(), *channels);
  if (!figure.ok()) return Fail(cmd, figure.status());
  return Write(cmd, *figure);
}

int Activations() {
  const std::string cmd = "viz activations";
  if (auto s = RequireOut(); !s.ok()) return Fail(cmd, s);
  auto indices = ParseIndexList("--index", FlagIndex());
  if (!indices.ok()) return Fail(cmd, indices.status());
  if (indices->empty()) {
    return Fail(cmd, absl::InvalidArgumentError("--index needs at least one test image index"));
  }
  auto channels = ParseIndexList("--channels", FlagChannels().empty() ? "0,1,2,3" : FlagChannels());
  if (!channels.ok()) return Fail(cmd, channels.status());
  if (FlagData() != "mnist" && FlagData() != "fashion") {
    return Fail(cmd, absl::InvalidArgumentError(
                         absl::StrCat("unknown --data '", FlagData(), "' (mnist or fashion)")));
  }
  auto model = LoadModel(FlagModel(), FlagSeed());
  if (!model.ok()) return Fail(cmd, model.status());
  auto data = LoadDataset(FlagData());
  if (!data.ok()) return Fail(cmd, data.status());
  auto figure = viz::ActivationsFigure(*model, data->test, FlagData(), *indices, *channels);
  if (!figure.ok()) return Fail(cmd, figure.status());
  return Write(cmd, *figure);
}

}  // namespace

int Viz(const std::string& what) {
  if (what == "convolve") return Convolve();
  if (what == "filters") return Filters();
  if (what == "activations") return Activations();
  return Fail("viz", absl::InvalidArgumentError(
                         what.empty() ? "say what to draw: kiln viz convolve|filters|activations"
                                      : absl::StrCat("unknown viz '", what,
                                                     "' (convolve, filters or activations)")));
}

}  // namespace kiln::cli
