#include "frontend/datasets.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status.h"

#ifndef KILN_SOURCE_DIR
#define KILN_SOURCE_DIR "."
#endif

namespace kiln {
namespace {

constexpr int64_t kMaxFileBytes = int64_t{1} << 30;  // Far above any real dataset file.
constexpr int kClasses = 10;

absl::Status FileError(const std::string& path, absl::string_view msg) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", msg));
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return absl::NotFoundError(absl::StrCat(path, ": cannot read (", ec.message(), ")"));
  if (size > static_cast<uint64_t>(kMaxFileBytes)) return FileError(path, "file is too large");
  std::ifstream in(path, std::ios::binary);
  std::string data(size, '\0');
  if (!in.read(data.data(), static_cast<std::streamsize>(size))) {
    return FileError(path, "read failed");
  }
  return data;
}

uint32_t BigEndian32(const std::string& data, size_t offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data() + offset);
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Parses `{"data": [[ints], ...]}` strictly, appending pixels of 784-value rows to `pixels` and
// skipping empty records.
class FashionJsonParser {
 public:
  FashionJsonParser(const std::string& path, const std::string& text) : path_(path), s_(text) {}

  absl::Status Parse(std::vector<uint8_t>* pixels, int64_t* rows) {
    KILN_RETURN_IF_ERROR(Expect('{'));
    KILN_RETURN_IF_ERROR(ExpectWord("\"data\""));
    KILN_RETURN_IF_ERROR(Expect(':'));
    KILN_RETURN_IF_ERROR(Expect('['));
    *rows = 0;
    if (Peek() == ']') {
      ++pos_;
    } else {
      int64_t index = 0;
      while (true) {
        bool empty = false;
        KILN_RETURN_IF_ERROR(ParseRow(pixels, index++, &empty));
        if (!empty) ++*rows;
        char c = Peek();
        ++pos_;
        if (c == ']') break;
        if (c != ',') return Error("expected ',' or ']' after an image");
      }
    }
    KILN_RETURN_IF_ERROR(Expect('}'));
    if (Peek() != '\0') return Error("unexpected text after the top-level object");
    return absl::OkStatus();
  }

 private:
  // The package's files contain a few empty records (`[]`, 70,002 records for 70,000 images):
  // those are skipped; every other record must be a full 28x28 image.
  absl::Status ParseRow(std::vector<uint8_t>* pixels, int64_t row, bool* empty) {
    KILN_RETURN_IF_ERROR(Expect('['));
    if (Peek() == ']') {
      ++pos_;
      *empty = true;
      return absl::OkStatus();
    }
    int count = 0;
    while (true) {
      SkipSpace();
      int value = 0, digits = 0;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
        value = value * 10 + (s_[pos_++] - '0');
        if (++digits > 3) break;
      }
      if (digits == 0 || value > 255) {
        return Error(absl::StrCat("image ", row, " pixel ", count, " is not an integer 0-255"));
      }
      if (++count > 784) return Error(absl::StrCat("image ", row, " has more than 784 pixels"));
      pixels->push_back(static_cast<uint8_t>(value));
      char c = Peek();
      ++pos_;
      if (c == ']') break;
      if (c != ',') return Error(absl::StrCat("image ", row, ": expected ',' or ']'"));
    }
    if (count != 784) {
      return Error(absl::StrCat("image ", row, " has ", count, " pixels, expected 784 (28x28)"));
    }
    return absl::OkStatus();
  }
  void SkipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t')) {
      ++pos_;
    }
  }
  char Peek() {
    SkipSpace();
    return pos_ < s_.size() ? s_[pos_] : '\0';
  }
  absl::Status Expect(char c) {
    if (Peek() != c) return Error(absl::StrCat("expected '", std::string(1, c), "'"));
    ++pos_;
    return absl::OkStatus();
  }
  absl::Status ExpectWord(absl::string_view word) {
    SkipSpace();
    if (s_.compare(pos_, word.size(), word.data(), word.size()) != 0) {
      return Error(absl::StrCat("expected ", word));
    }
    pos_ += word.size();
    return absl::OkStatus();
  }
  absl::Status Error(absl::string_view msg) {
    return FileError(path_, absl::StrCat(msg, " (at byte ", pos_, ")"));
  }

  const std::string& path_;
  const std::string& s_;
  size_t pos_ = 0;
};

Dataset MakeDataset(const uint8_t* pixels, const std::vector<int32_t>& labels) {
  const int64_t n = static_cast<int64_t>(labels.size());
  Dataset d;
  d.images = Tensor(TensorType{DType::kF32, {n, 28, 28, 1}});
  float* out = d.images.f32();
  for (int64_t i = 0; i < n * 784; ++i) out[i] = pixels[i] / 255.0f;
  d.labels = Tensor::I32({n}, labels);
  return d;
}

bool Exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

}  // namespace

Dataset Dataset::Slice(int64_t start, int64_t count) const {
  start = std::clamp<int64_t>(start, 0, size());
  count = std::clamp<int64_t>(count, 0, size() - start);
  Dataset d;
  Dims dims = images.dims();
  dims[0] = count;
  d.images = Tensor(TensorType{DType::kF32, dims});
  const int64_t per = images.size() / std::max<int64_t>(size(), 1);
  std::memcpy(d.images.raw(), images.f32() + start * per, d.images.bytes());
  d.labels = Tensor(TensorType{DType::kI32, {count}});
  std::memcpy(d.labels.raw(), labels.i32() + start, count * 4);
  return d;
}

absl::StatusOr<Dataset> LoadIdx(const std::string& images_path, const std::string& labels_path) {
  KILN_ASSIGN_OR_RETURN(std::string images, ReadFile(images_path));
  KILN_ASSIGN_OR_RETURN(std::string labels, ReadFile(labels_path));
  if (images.size() < 16) return FileError(images_path, "too short for an IDX image header");
  if (BigEndian32(images, 0) != 0x803) {
    return FileError(images_path, absl::StrCat("bad magic number ", BigEndian32(images, 0),
                                               " (expected 2051 for uint8 images)"));
  }
  const int64_t n = BigEndian32(images, 4), rows = BigEndian32(images, 8),
                cols = BigEndian32(images, 12);
  if (rows != 28 || cols != 28) {
    return FileError(images_path, absl::StrCat("images are ", rows, "x", cols, ", expected 28x28"));
  }
  int64_t expected;
  if (__builtin_mul_overflow(n, rows * cols, &expected) ||
      __builtin_add_overflow(expected, 16, &expected) ||
      expected != static_cast<int64_t>(images.size())) {
    return FileError(images_path, absl::StrCat("header says ", n, " images but the file has ",
                                               images.size(), " bytes"));
  }
  if (labels.size() < 8) return FileError(labels_path, "too short for an IDX label header");
  if (BigEndian32(labels, 0) != 0x801) {
    return FileError(labels_path, absl::StrCat("bad magic number ", BigEndian32(labels, 0),
                                               " (expected 2049 for uint8 labels)"));
  }
  const int64_t count = BigEndian32(labels, 4);
  if (count != n) {
    return FileError(labels_path,
                     absl::StrCat(count, " labels for ", n, " images in ", images_path));
  }
  if (static_cast<int64_t>(labels.size()) != 8 + count) {
    return FileError(labels_path, absl::StrCat("header says ", count, " labels but the file has ",
                                               labels.size(), " bytes"));
  }
  std::vector<int32_t> ids(count);
  for (int64_t i = 0; i < count; ++i) {
    ids[i] = static_cast<unsigned char>(labels[8 + i]);
    if (ids[i] >= kClasses) {
      return FileError(labels_path, absl::StrCat("label ", i, " is ", ids[i], ", expected 0-9"));
    }
  }
  return MakeDataset(reinterpret_cast<const uint8_t*>(images.data() + 16), ids);
}

absl::StatusOr<TrainTest> LoadMnist(const std::string& dir) {
  TrainTest tt;
  KILN_ASSIGN_OR_RETURN(
      tt.train, LoadIdx(dir + "/train-images-idx3-ubyte", dir + "/train-labels-idx1-ubyte"));
  KILN_ASSIGN_OR_RETURN(tt.test,
                        LoadIdx(dir + "/t10k-images-idx3-ubyte", dir + "/t10k-labels-idx1-ubyte"));
  return tt;
}

absl::StatusOr<TrainTest> LoadFashionMnist(const std::string& dir, int64_t kTrain, int64_t kTest) {
  // Interleaved by class (image i of class c at i * 10 + c), so every prefix (--limit) is
  // class-balanced, as MNIST's order roughly is.
  std::vector<uint8_t> train_pixels(kTrain * kClasses * 784), test_pixels(kTest * kClasses * 784);
  std::vector<int32_t> train_labels(kTrain * kClasses), test_labels(kTest * kClasses);
  for (int c = 0; c < kClasses; ++c) {
    const std::string path = absl::StrCat(dir, "/", c, ".json");
    KILN_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
    std::vector<uint8_t> pixels;
    int64_t rows = 0;
    KILN_RETURN_IF_ERROR(FashionJsonParser(path, text).Parse(&pixels, &rows));
    if (rows < kTrain + kTest) {
      return FileError(path, absl::StrCat("has ", rows, " images, need at least ", kTrain + kTest,
                                          " for a ", kTrain, "/", kTest, " split"));
    }
    for (int64_t i = 0; i < kTrain + kTest; ++i) {
      const bool train = i < kTrain;
      const int64_t at = (train ? i : i - kTrain) * kClasses + c;
      std::memcpy((train ? train_pixels : test_pixels).data() + at * 784,
                  pixels.data() + i * 784, 784);
      (train ? train_labels : test_labels)[at] = c;
    }
  }
  return TrainTest{MakeDataset(train_pixels.data(), train_labels),
                   MakeDataset(test_pixels.data(), test_labels)};
}

std::string DataDir() {
  if (const char* d = std::getenv("KILN_DATA"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return absl::StrCat(x, "/kiln");
  const char* home = std::getenv("HOME");
  return absl::StrCat(home ? home : ".", "/.cache/kiln");
}

absl::StatusOr<TrainTest> LoadDataset(const std::string& name, bool fetch_if_missing) {
  if (name != "mnist" && name != "fashion") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown dataset '", name, "' (expected mnist or fashion)"));
  }
  const std::string dir = absl::StrCat(DataDir(), "/", name);
  const std::string probe = name == "mnist" ? dir + "/t10k-labels-idx1-ubyte" : dir + "/9.json";
  if (!Exists(probe)) {
    if (!fetch_if_missing) {
      return absl::NotFoundError(
          absl::StrCat(name, " is not in ", dir, "; run scripts/fetch_data.sh ", name));
    }
    const std::string script = absl::StrCat(KILN_SOURCE_DIR, "/scripts/fetch_data.sh");
    if (!Exists(script)) {
      return absl::NotFoundError(
          absl::StrCat(name, " is not in ", dir, " and the fetch script ", script, " is missing"));
    }
    const std::string cmd =
        absl::StrCat("KILN_DATA='", DataDir(), "' bash '", script, "' ", name, " >&2");
    if (std::system(cmd.c_str()) != 0) {
      return absl::UnavailableError(absl::StrCat("fetching ", name, " failed (see above)"));
    }
  }
  return name == "mnist" ? LoadMnist(dir) : LoadFashionMnist(dir);
}

}  // namespace kiln
