#include "frontend/image_folder.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "frontend/initializers.h"
#include "ir/status.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

struct Example {
  std::string path;
  int32_t label;
};

bool IsImageFile(const fs::path& p) {
  const std::string ext = absl::AsciiStrToLower(p.extension().string());
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

// Subdirectories of `dir`, sorted by name (symbolic links to folders are not followed, so a
// link cycle cannot trap the walk).
absl::StatusOr<std::vector<std::string>> Subfolders(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat("'", dir.string(), "' is not a folder"));
  }
  std::vector<std::string> names;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) names.push_back(it->path().filename());
  }
  if (ec)
    return absl::InternalError(absl::StrCat("cannot list '", dir.string(), "': ", ec.message()));
  std::sort(names.begin(), names.end());
  return names;
}

// The examples of a folder of class folders, classes in `classes` order, files sorted by name.
absl::StatusOr<std::vector<Example>> ListExamples(const fs::path& dir,
                                                  const std::vector<std::string>& classes) {
  std::vector<Example> out;
  for (size_t c = 0; c < classes.size(); ++c) {
    const fs::path folder = dir / classes[c];
    std::error_code ec;
    std::vector<std::string> files;
    for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_regular_file(ec) && IsImageFile(it->path())) files.push_back(it->path());
    }
    if (ec) {
      return absl::InternalError(
          absl::StrCat("cannot list '", folder.string(), "': ", ec.message()));
    }
    if (files.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("class folder '", folder.string(), "' has no PNG or JPEG images"));
    }
    std::sort(files.begin(), files.end());
    for (std::string& f : files) out.push_back({std::move(f), static_cast<int32_t>(c)});
    if (out.size() > static_cast<size_t>(kMaxFolderImages)) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", dir.string(), "' holds more than ", kMaxFolderImages, " images"));
    }
  }
  return out;
}

// Decodes and resizes `examples` into a dataset; bad files are errors or, with `skip`, counted.
absl::StatusOr<Dataset> Decode(const std::vector<Example>& examples, const Dims& shape, bool skip,
                               int64_t* skipped) {
  const int64_t per_image = shape[0] * shape[1] * shape[2];
  int64_t bytes = 0;
  if (__builtin_mul_overflow(static_cast<int64_t>(examples.size()), per_image * 4, &bytes) ||
      bytes > kMaxFolderBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(examples.size(), " images of ", DimsToString(shape),
                     " exceed the dataset limit of ", kMaxFolderBytes >> 30, " GiB"));
  }
  std::vector<float> pixels;
  pixels.reserve(static_cast<size_t>(examples.size() * per_image));
  std::vector<int32_t> labels;
  for (const Example& e : examples) {
    auto image = ReadImage(e.path);
    if (!image.ok()) {
      if (!skip) {
        return absl::InvalidArgumentError(absl::StrCat(
            image.status().message(), " (--skip_bad_files skips such files and counts them)"));
      }
      ++*skipped;
      continue;
    }
    ResizeToModelInput(*image, shape, &pixels);
    labels.push_back(e.label);
  }
  const int64_t n = static_cast<int64_t>(labels.size());
  Dims dims = {n};
  dims.insert(dims.end(), shape.begin(), shape.end());
  Dataset d{Tensor::F32(dims, pixels), Tensor::I32({n}, labels)};
  return d;
}

}  // namespace

void ResizeToModelInput(const PixelImage& image, const Dims& shape, std::vector<float>* out) {
  const int64_t oh = shape[0], ow = shape[1], oc = shape[2];
  const int64_t w = image.width, h = image.height, ic = image.channels;
  // The image in the model's channels, as floats in [0, 1].
  std::vector<float> src(static_cast<size_t>(w * h * oc));
  for (int64_t p = 0; p < w * h; ++p) {
    const uint8_t* px = &image.pixels[static_cast<size_t>(p * ic)];
    for (int64_t c = 0; c < oc; ++c) {
      float v = px[ic == 3 ? c : 0];
      if (ic == 3 && oc == 1) v = 0.2989f * px[0] + 0.5870f * px[1] + 0.1140f * px[2];
      src[static_cast<size_t>(p * oc + c)] = v / 255.0f;
    }
  }
  // Half-pixel centres: output pixel y samples the input at (y + 0.5) * h / oh - 0.5, clamped.
  auto axis = [](int64_t o, int64_t out_size, int64_t in_size, int64_t* lo, int64_t* hi,
                 float* frac) {
    const double s = (o + 0.5) * static_cast<double>(in_size) / out_size - 0.5;
    const double c = std::clamp(s, 0.0, static_cast<double>(in_size - 1));
    *lo = static_cast<int64_t>(std::floor(c));
    *hi = std::min(*lo + 1, in_size - 1);
    *frac = static_cast<float>(c - *lo);
  };
  for (int64_t y = 0; y < oh; ++y) {
    int64_t y0, y1;
    float fy;
    axis(y, oh, h, &y0, &y1, &fy);
    for (int64_t x = 0; x < ow; ++x) {
      int64_t x0, x1;
      float fx;
      axis(x, ow, w, &x0, &x1, &fx);
      for (int64_t c = 0; c < oc; ++c) {
        auto at = [&](int64_t yy, int64_t xx) {
          return src[static_cast<size_t>((yy * w + xx) * oc + c)];
        };
        const float top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * fx;
        const float bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * fx;
        out->push_back(top + (bottom - top) * fy);
      }
    }
  }
}

absl::StatusOr<ImageFolderData> LoadImageFolder(const std::string& dir,
                                                const ImageFolderOptions& options) {
  const Dims& shape = options.image_shape;
  if (shape.size() != 3 || (shape[2] != 1 && shape[2] != 3) || shape[0] <= 0 || shape[1] <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("images need a model input of (height, width, 1 or 3 channels), got ",
                     DimsToString(shape)));
  }
  if (!(options.validation_split >= 0 && options.validation_split < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--validation_split must be in [0, 1), got ", options.validation_split));
  }
  const fs::path root(dir);
  KILN_ASSIGN_OR_RETURN(std::vector<std::string> top, Subfolders(root));
  const bool split_layout = std::find(top.begin(), top.end(), "train") != top.end() &&
                            std::find(top.begin(), top.end(), "validation") != top.end();
  const fs::path train_dir = split_layout ? root / "train" : root;
  ImageFolderData data;
  KILN_ASSIGN_OR_RETURN(data.class_names, Subfolders(train_dir));
  if (data.class_names.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", train_dir.string(), "' needs one subfolder per class and at least two classes; found ",
        data.class_names.empty() ? "none" : absl::StrCat("only '", data.class_names[0], "'")));
  }
  KILN_ASSIGN_OR_RETURN(std::vector<Example> train, ListExamples(train_dir, data.class_names));
  std::vector<Example> validation;
  if (split_layout) {
    KILN_ASSIGN_OR_RETURN(std::vector<std::string> vclasses, Subfolders(root / "validation"));
    if (vclasses != data.class_names) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", (root / "validation").string(), "' has classes ", absl::StrJoin(vclasses, ", "),
          "; 'train' has ", absl::StrJoin(data.class_names, ", ")));
    }
    KILN_ASSIGN_OR_RETURN(validation, ListExamples(root / "validation", data.class_names));
  } else if (options.validation_split > 0) {
    Rng rng(options.seed);
    for (size_t i = train.size() - 1; i > 0; --i) {  // Fisher-Yates with the seeded generator.
      std::swap(train[i], train[rng.UniformInt(static_cast<uint64_t>(i) + 1)]);
    }
    const auto held = static_cast<size_t>(options.validation_split * train.size());
    validation.assign(train.end() - held, train.end());
    train.resize(train.size() - held);
    if (train.empty())
      return absl::InvalidArgumentError("--validation_split leaves no training images");
  }
  KILN_ASSIGN_OR_RETURN(data.train, Decode(train, shape, options.skip_bad_files, &data.skipped));
  KILN_ASSIGN_OR_RETURN(data.validation,
                        Decode(validation, shape, options.skip_bad_files, &data.skipped));
  if (data.train.size() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("no image in '", train_dir.string(), "' decodes"));
  }
  return data;
}

}  // namespace kiln
