// The user's own pictures: a folder with one subfolder per class, as Keras's
// image_dataset_from_directory reads it. Class names are the subfolders' names, sorted; every
// PNG or JPEG file in a class folder (by extension, case-insensitive) is one example; other files
// are ignored, as Keras does. Images are converted to the model's channels (RGB to gray by
// luminance, 0.2989 R + 0.5870 G + 0.1140 B; gray to RGB by copying), resized to its input size
// bilinearly (half-pixel centres, as tf.image.resize), and scaled to [0, 1].
//
// Validation data: DIR/train and DIR/validation each holding the class folders, or a
// `validation_split` of one folder's examples, chosen by a seeded shuffle (Keras's: shuffle
// all, the last fraction validates). Every file is untrusted input: corrupt, truncated, huge or
// unreadable images are errors naming the file, or skipped and counted with `skip_bad_files`.
#ifndef KILN_FRONTEND_IMAGE_FOLDER_H_
#define KILN_FRONTEND_IMAGE_FOLDER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "frontend/datasets.h"
#include "frontend/image_io.h"

namespace kiln {

// More examples than this, or a dataset tensor over kMaxFolderBytes, is an error.
inline constexpr int64_t kMaxFolderImages = int64_t{1} << 22;
inline constexpr int64_t kMaxFolderBytes = int64_t{8} << 30;

struct ImageFolderOptions {
  Dims image_shape;             // The model's input: {height, width, channels (1 or 3)}.
  double validation_split = 0;  // In [0, 1); ignored with a train/validation layout.
  uint64_t seed = 0;            // The validation split's shuffle.
  bool skip_bad_files = false;  // Skip (and count) images that do not decode.
};

struct ImageFolderData {
  Dataset train, validation;  // validation is empty without a split or a validation folder.
  std::vector<std::string> class_names;
  int64_t skipped = 0;  // Files that did not decode, with skip_bad_files.
};

absl::StatusOr<ImageFolderData> LoadImageFolder(const std::string& dir,
                                                const ImageFolderOptions& options);

// Resizes `image` (8-bit, 1 or 3 channels) to height x width x channels floats in [0, 1]:
// channels converted as above, then bilinear with half-pixel centres. Appends to `out`.
void ResizeToModelInput(const PixelImage& image, const Dims& shape, std::vector<float>* out);

}  // namespace kiln

#endif  // KILN_FRONTEND_IMAGE_FOLDER_H_
