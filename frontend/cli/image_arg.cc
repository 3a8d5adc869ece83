#include "frontend/cli/image_arg.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "frontend/datasets.h"
#include "ir/status.h"

namespace kiln::cli {

absl::StatusOr<ImageArg> LoadImageArg(const std::string& spec, int64_t width, int64_t height) {
  ImageArg arg;
  for (const char* name : {"mnist", "fashion"}) {
    const std::string prefix = absl::StrCat(name, ":");
    if (!absl::StartsWith(spec, prefix)) continue;
    int64_t index = 0;
    if (!absl::SimpleAtoi(spec.substr(prefix.size()), &index) || index < 0) {
      return absl::InvalidArgumentError(absl::StrCat("bad --image '", spec, "': expected ", name,
                                                     ":INDEX with INDEX a whole number >= 0"));
    }
    KILN_ASSIGN_OR_RETURN(TrainTest data, LoadDataset(name));
    const Dataset& test = data.test;
    if (index >= test.size()) {
      return absl::InvalidArgumentError(absl::StrCat("--image ", spec, ": index out of range; the ",
                                                     name, " test set has ", test.size(),
                                                     " images (0-", test.size() - 1, ")"));
    }
    const Dims& d = test.images.dims();  // [N, H, W, 1].
    const int64_t per_image = d[1] * d[2] * d[3];
    arg.image.height = d[1];
    arg.image.width = d[2];
    arg.image.pixels.assign(test.images.f32() + index * per_image,
                            test.images.f32() + (index + 1) * per_image);
    arg.label = test.labels.i32()[index];
    arg.description = absl::StrCat(name, " test image ", index);
    return arg;
  }
  KILN_ASSIGN_OR_RETURN(arg.image, ReadGrayscalePng(spec, width, height));
  arg.description = spec;
  return arg;
}

}  // namespace kiln::cli
