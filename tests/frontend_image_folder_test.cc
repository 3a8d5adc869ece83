// The user's own images (frontend/image_folder.h): a folder of class folders read as Keras's
// image_dataset_from_directory reads it, PNG and JPEG (libjpeg-turbo, encoded here for real),
// resizing and channel conversion against hand-computed values, validation splits, and every
// kind of bad input as an error naming the file or folder.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "frontend/datasets.h"
#include "frontend/image_folder.h"
#include "frontend/image_io.h"
#include "frontend/model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
// jpeglib.h needs size_t and FILE declared first.
#include <jpeglib.h>

namespace kiln {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;

std::string TempDir(const std::string& name) {
  const std::string dir =
      ::testing::TempDir() + "kiln_folder_" + name + "_" + std::to_string(::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

PixelImage Gray(int64_t w, int64_t h, uint8_t base) {
  PixelImage img{w, h, 1, {}};
  for (int64_t i = 0; i < w * h; ++i) img.pixels.push_back(static_cast<uint8_t>(base + i));
  return img;
}

void Write(const std::string& path, const PixelImage& img) {
  fs::create_directories(fs::path(path).parent_path());
  ASSERT_TRUE(WritePng(path, img).ok()) << path;
}

// A baseline JPEG of `img` through libjpeg's encoder (quality 100).
std::string EncodeJpeg(const PixelImage& img) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr err;
  cinfo.err = jpeg_std_error(&err);
  jpeg_create_compress(&cinfo);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = static_cast<JDIMENSION>(img.width);
  cinfo.image_height = static_cast<JDIMENSION>(img.height);
  cinfo.input_components = img.channels;
  cinfo.in_color_space = img.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, 100, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(img.pixels.data()) +
                   static_cast<size_t>(cinfo.next_scanline) * img.width * img.channels;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  std::string out(reinterpret_cast<char*>(buffer), size);
  jpeg_destroy_compress(&cinfo);
  std::free(buffer);
  return out;
}

ImageFolderOptions Shape(Dims shape) {
  ImageFolderOptions o;
  o.image_shape = std::move(shape);
  return o;
}

TEST(ImageFolder, ClassesAreSortedFoldersAndFilesAreSortedExamples) {
  const std::string dir = TempDir("classes");
  for (const char* c : {"dog", "bird", "cat"}) {
    for (int i = 0; i < 3; ++i) {
      Write(absl::StrCat(dir, "/", c, "/img", 2 - i, ".png"),
            Gray(2, 2, static_cast<uint8_t>(10 * i + c[0])));
    }
  }
  std::FILE* f = std::fopen((dir + "/cat/notes.txt").c_str(), "w");  // Not an image: ignored.
  std::fputs("hello", f);
  std::fclose(f);
  fs::create_symlink(".", dir + "/loop");  // A link cycle is not followed (nor a class).
  auto data = LoadImageFolder(dir, Shape({2, 2, 1}));
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->class_names, testing::ElementsAre("bird", "cat", "dog"));
  ASSERT_EQ(data->train.size(), 9);
  EXPECT_EQ(data->validation.size(), 0);
  for (int i = 0; i < 9; ++i) EXPECT_EQ(data->train.labels.i32()[i], i / 3);
  // bird/img0.png is the one written with i = 2: pixels 'b' + 20 + k, scaled to [0, 1].
  for (int k = 0; k < 4; ++k) {
    EXPECT_FLOAT_EQ(data->train.images.f32()[k], ('b' + 20 + k) / 255.0f);
  }
}

TEST(ImageFolder, ResizingAndChannelsFollowTensorFlow) {
  // 2x2 gray [0, 255; 255, 0] to 4x4, half-pixel centres: rows and columns sample the input at
  // 0, 0.25, 0.75, 1 (clamped), so pixel (1, 1) is 0.25 + (0.75 - 0.25) * 0.25 = 0.375.
  PixelImage checker{2, 2, 1, {0, 255, 255, 0}};
  std::vector<float> out;
  ResizeToModelInput(checker, {4, 4, 1}, &out);
  ASSERT_EQ(out.size(), 16u);
  EXPECT_FLOAT_EQ(out[0], 0.0f);
  EXPECT_FLOAT_EQ(out[1 * 4 + 1], 0.375f);
  EXPECT_FLOAT_EQ(out[3], 1.0f);
  EXPECT_FLOAT_EQ(out[15], 0.0f);
  // Same size: the pixels themselves.
  out.clear();
  ResizeToModelInput(checker, {2, 2, 1}, &out);
  EXPECT_THAT(out, testing::ElementsAre(0.0f, 1.0f, 1.0f, 0.0f));
  // RGB to gray by luminance; gray to RGB by copying.
  PixelImage rgb{1, 1, 3, {10, 200, 30}};
  out.clear();
  ResizeToModelInput(rgb, {1, 1, 1}, &out);
  EXPECT_NEAR(out[0], (0.2989 * 10 + 0.5870 * 200 + 0.1140 * 30) / 255, 1e-6);
  out.clear();
  ResizeToModelInput(PixelImage{1, 1, 1, {51}}, {1, 1, 3}, &out);
  EXPECT_THAT(out, testing::ElementsAre(0.2f, 0.2f, 0.2f));
}

TEST(ImageFolder, JpegAndPngDecodeAlike) {
  const std::string dir = TempDir("jpeg");
  PixelImage flat{8, 8, 3, std::vector<uint8_t>(8 * 8 * 3, 0)};
  for (size_t i = 0; i < flat.pixels.size(); i += 3) {  // A flat colour: JPEG keeps it exactly.
    flat.pixels[i] = 200;
    flat.pixels[i + 1] = 100;
    flat.pixels[i + 2] = 50;
  }
  const std::string jpeg = EncodeJpeg(flat);
  auto decoded = DecodeJpeg(jpeg, "flat.jpg");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->channels, 3);
  for (size_t i = 0; i < flat.pixels.size(); ++i) {
    EXPECT_NEAR(decoded->pixels[i], flat.pixels[i], 2) << i;
  }
  fs::create_directories(dir + "/a");
  fs::create_directories(dir + "/b");
  std::FILE* f = std::fopen((dir + "/a/x.JPG").c_str(), "wb");
  std::fwrite(jpeg.data(), 1, jpeg.size(), f);
  std::fclose(f);
  Write(dir + "/b/y.png", flat);
  auto data = LoadImageFolder(dir, Shape({4, 4, 3}));
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->train.size(), 2);
  for (int64_t i = 0; i < 48; ++i) {
    EXPECT_NEAR(data->train.images.f32()[i], data->train.images.f32()[48 + i], 2.5 / 255);
  }
  // Corrupt and truncated JPEGs are errors naming the source.
  auto bad = DecodeJpeg(jpeg.substr(0, jpeg.size() / 3), "cut.jpg");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("cut.jpg"));
  std::string garbled = jpeg;
  for (size_t i = 20; i < garbled.size(); i += 7) garbled[i] = static_cast<char>(0xFF);
  EXPECT_FALSE(DecodeImage(garbled, "garbled.jpg").ok());
  EXPECT_THAT(DecodeImage("GIF89a....", "x.gif").status().message(),
              HasSubstr("x.gif: not a PNG or JPEG image"));
}

TEST(ImageFolder, ValidationSplitIsDeterministicBySeedAndLayoutsAgree) {
  const std::string dir = TempDir("split");
  for (int c = 0; c < 2; ++c) {
    for (int i = 0; i < 10; ++i) {
      Write(absl::StrCat(dir, "/c", c, "/", i, ".png"),
            Gray(1, 1, static_cast<uint8_t>(20 * c + i)));
    }
  }
  ImageFolderOptions o = Shape({1, 1, 1});
  o.validation_split = 0.25;
  o.seed = 4;
  auto a = LoadImageFolder(dir, o), b = LoadImageFolder(dir, o);
  o.seed = 5;
  auto other = LoadImageFolder(dir, o);
  ASSERT_TRUE(a.ok() && b.ok() && other.ok());
  EXPECT_EQ(a->train.size(), 15);
  EXPECT_EQ(a->validation.size(), 5);
  EXPECT_TRUE(a->validation.images.BitwiseEqual(b->validation.images));
  EXPECT_FALSE(a->validation.images.BitwiseEqual(other->validation.images));
  std::vector<float> all;  // Train and validation partition the 20 images.
  for (const Dataset* d : {&a->train, &a->validation}) {
    for (float v : d->images.f32_span()) all.push_back(v);
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::unique(all.begin(), all.end()), all.end());
  EXPECT_EQ(all.size(), 20u);

  const std::string layout = TempDir("layout");
  Write(layout + "/train/x/0.png", Gray(1, 1, 1));
  Write(layout + "/train/y/0.png", Gray(1, 1, 2));
  Write(layout + "/validation/x/0.png", Gray(1, 1, 3));
  Write(layout + "/validation/y/0.png", Gray(1, 1, 4));
  auto split = LoadImageFolder(layout, Shape({1, 1, 1}));
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_EQ(split->train.size(), 2);
  EXPECT_EQ(split->validation.size(), 2);
  EXPECT_FLOAT_EQ(split->validation.images.f32()[1], 4 / 255.0f);
}

TEST(ImageFolder, BadInputIsAnErrorNamingTheFileOrFolder) {
  EXPECT_EQ(LoadImageFolder("/nonexistent/kiln", Shape({2, 2, 1})).status().code(),
            absl::StatusCode::kNotFound);
  const std::string one = TempDir("one");
  Write(one + "/only/0.png", Gray(1, 1, 0));
  EXPECT_THAT(LoadImageFolder(one, Shape({2, 2, 1})).status().message(),
              HasSubstr("at least two classes; found only 'only'"));
  const std::string empty = TempDir("empty");
  Write(empty + "/a/0.png", Gray(1, 1, 0));
  fs::create_directories(empty + "/b");
  EXPECT_THAT(LoadImageFolder(empty, Shape({2, 2, 1})).status().message(),
              HasSubstr("class folder '" + empty + "/b' has no PNG or JPEG images"));
  const std::string corrupt = TempDir("corrupt");
  Write(corrupt + "/a/0.png", Gray(3, 3, 0));
  Write(corrupt + "/b/0.png", Gray(3, 3, 9));
  auto bytes = EncodePng(Gray(3, 3, 5));
  ASSERT_TRUE(bytes.ok());
  std::FILE* f = std::fopen((corrupt + "/b/1.png").c_str(), "wb");
  std::fwrite(bytes->data(), 1, bytes->size() - 10, f);  // Truncated.
  std::fclose(f);
  auto failed = LoadImageFolder(corrupt, Shape({3, 3, 1}));
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr(corrupt + "/b/1.png: invalid PNG"));
  EXPECT_THAT(failed.status().message(), HasSubstr("--skip_bad_files"));
  ImageFolderOptions skip = Shape({3, 3, 1});
  skip.skip_bad_files = true;
  auto skipped = LoadImageFolder(corrupt, skip);
  ASSERT_TRUE(skipped.ok()) << skipped.status();
  EXPECT_EQ(skipped->skipped, 1);
  EXPECT_EQ(skipped->train.size(), 2);
  EXPECT_THAT(LoadImageFolder(corrupt, Shape({3, 3, 2})).status().message(),
              HasSubstr("1 or 3 channels"));
  ImageFolderOptions too_big = Shape({16384, 16384, 3});
  EXPECT_THAT(LoadImageFolder(corrupt, too_big).status().message(),
              HasSubstr("exceed the dataset limit"));
  ImageFolderOptions all_held = Shape({3, 3, 1});
  all_held.validation_split = 1.5;
  EXPECT_THAT(LoadImageFolder(corrupt, all_held).status().message(),
              HasSubstr("--validation_split must be in [0, 1)"));
}

// The number of classes comes from the data: a model with fewer outputs is told so.
TEST(ImageFolder, AModelWithTooFewOutputsForTheClassesIsAnError) {
  auto model = Model::Sequential("three", {2, 2, 1}, {Flatten(), Dense(3, "softmax")});
  ASSERT_TRUE(model.ok());
  ASSERT_TRUE(model->Compile(Optimizer::Adam()).ok());
  Dataset data{Tensor(TensorType{DType::kF32, {5, 2, 2, 1}}), Tensor::I32({5}, {0, 1, 2, 3, 4})};
  Model::FitOptions options;
  options.verbose = 0;
  auto fit = model->Fit(data, options);
  ASSERT_FALSE(fit.ok());
  EXPECT_THAT(fit.status().message(),
              HasSubstr("model 'three' has 3 outputs but the data has 5 classes (labels 0 to 4); "
                        "make the last layer Dense(5, activation='softmax')"));
}

// MNIST digits written as PNG files read back as exactly the built-in loader's pixels, so the
// same images train to the same accuracy either way.
TEST(ImageFolder, MnistDigitsAsPngsMatchTheBuiltInLoader) {
  auto mnist = LoadDataset("mnist", /*fetch_if_missing=*/false);
  if (!mnist.ok()) {
    const char* require = std::getenv("KILN_REQUIRE_DATA");
    if (require && std::string(require) == "1") FAIL() << "MNIST missing from " << DataDir();
    GTEST_SKIP() << "MNIST not in " << DataDir() << "; run scripts/fetch_data.sh mnist";
  }
  const std::string dir = TempDir("mnist");
  constexpr int kCount = 300;
  const Dataset& train = mnist->train;
  for (int i = 0; i < kCount; ++i) {
    PixelImage img{28, 28, 1, std::vector<uint8_t>(784)};
    for (int k = 0; k < 784; ++k) {
      img.pixels[k] = static_cast<uint8_t>(std::lround(train.images.f32()[i * 784 + k] * 255));
    }
    char name[32];
    std::snprintf(name, sizeof(name), "/%d/%05d.png", train.labels.i32()[i], i);
    Write(dir + name, img);
  }
  auto folder = LoadImageFolder(dir, Shape({28, 28, 1}));
  ASSERT_TRUE(folder.ok()) << folder.status();
  ASSERT_EQ(folder->train.size(), kCount);
  // The folder order is by class, then file name (the original index).
  int64_t row = 0;
  for (int32_t c = 0; c < 10; ++c) {
    for (int i = 0; i < kCount; ++i) {
      if (train.labels.i32()[i] != c) continue;
      ASSERT_EQ(folder->train.labels.i32()[row], c);
      for (int k = 0; k < 784; ++k) {
        ASSERT_EQ(folder->train.images.f32()[row * 784 + k], train.images.f32()[i * 784 + k])
            << "image " << i << " pixel " << k;
      }
      ++row;
    }
  }
  EXPECT_EQ(row, kCount);
}

}  // namespace
}  // namespace kiln
