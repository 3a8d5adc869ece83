#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "frontend/datasets.h"
#include "gtest/gtest.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

std::string Be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

class DatasetFixture : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kiln_datasets_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  // `n` 28x28 images whose pixel 0 is the image index and the rest 255, and their labels.
  void WriteIdx(int n, const std::string& images, const std::string& labels) {
    std::string img = Be32(0x803) + Be32(n) + Be32(28) + Be32(28);
    std::string lab = Be32(0x801) + Be32(n);
    for (int i = 0; i < n; ++i) {
      img += static_cast<char>(i);
      img += std::string(783, static_cast<char>(255));
      lab += static_cast<char>(i % 10);
    }
    Write(images, img);
    Write(labels, lab);
  }
  std::string P(const std::string& name) { return (dir_ / name).string(); }

  fs::path dir_;
};

TEST_F(DatasetFixture, LoadsIdxAndScalesPixels) {
  WriteIdx(3, "img", "lab");
  auto d = LoadIdx(P("img"), P("lab"));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->images.dims(), (Dims{3, 28, 28, 1}));
  EXPECT_FLOAT_EQ(d->images.f32()[784 * 2], 2.0f / 255.0f);
  EXPECT_FLOAT_EQ(d->images.f32()[1], 1.0f);
  EXPECT_EQ(d->labels.i32()[2], 2);
  Dataset slice = d->Slice(1, 5);
  EXPECT_EQ(slice.size(), 2);
  EXPECT_EQ(slice.labels.i32()[0], 1);
}

TEST_F(DatasetFixture, RejectsBadIdxFilesNamingFileAndProblem) {
  WriteIdx(3, "img", "lab");
  std::ifstream in(P("img"), std::ios::binary);
  std::string good((std::istreambuf_iterator<char>(in)), {});
  auto expect_error = [&](const std::string& images, const std::string& labels,
                          const std::string& needle) {
    auto d = LoadIdx(images, labels);
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.status().message().find(needle), std::string::npos) << d.status();
  };
  std::string bad_magic = good;
  bad_magic[3] = 0x01;
  expect_error(Write("magic", bad_magic), P("lab"), "magic");
  expect_error(Write("short", good.substr(0, good.size() - 1)), P("lab"), "bytes");
  expect_error(Write("tiny", good.substr(0, 10)), P("lab"), "too short");
  std::string huge = good;
  huge.replace(4, 4, Be32(0xffffffff));
  expect_error(Write("huge", huge), P("lab"), "huge");
  std::string dims = good;
  dims.replace(8, 4, Be32(27));
  expect_error(Write("dims", dims), P("lab"), "27x28");
  expect_error(P("img"), Write("badlabel", Be32(0x801) + Be32(3) + std::string("\x01\x02\x0a", 3)),
               "label 2 is 10");
  expect_error(P("img"), Write("count", Be32(0x801) + Be32(2) + std::string("\x01\x02", 2)),
               "2 labels for 3 images");
  expect_error(P("missing"), P("lab"), "missing");
}

std::string FashionJson(int rows, int value) {
  std::string s = "{\"data\": [";
  for (int r = 0; r < rows; ++r) {
    s += r ? ",[" : "[";
    for (int i = 0; i < 784; ++i) {
      if (i) s += ',';
      s += std::to_string(i == 0 ? value : r);
    }
    s += "]";
  }
  return s + "]}\n";
}

TEST_F(DatasetFixture, FashionJsonSplitsPerClass) {
  for (int c = 0; c < 10; ++c) Write(std::to_string(c) + ".json", FashionJson(5, c * 20));
  auto tt = LoadFashionMnist(dir_.string(), 3, 1);
  ASSERT_TRUE(tt.ok()) << tt.status();
  EXPECT_EQ(tt->train.size(), 30);
  EXPECT_EQ(tt->test.size(), 10);
  // Interleaved by class: train index i * 10 + c is image i of class c.
  EXPECT_EQ(tt->train.labels.i32()[3], 3);
  EXPECT_EQ(tt->train.labels.i32()[13], 3);
  EXPECT_FLOAT_EQ(tt->train.images.f32()[13 * 784], 60.0f / 255.0f);
  EXPECT_FLOAT_EQ(tt->train.images.f32()[13 * 784 + 1], 1.0f / 255.0f);  // Row 1 of class 3.
  EXPECT_EQ(tt->test.labels.i32()[9], 9);
  EXPECT_FLOAT_EQ(tt->test.images.f32()[9 * 784], 180.0f / 255.0f);
  EXPECT_FLOAT_EQ(tt->test.images.f32()[1], 3.0f / 255.0f);  // Row 3 of class 0.
}

TEST_F(DatasetFixture, FashionJsonSkipsEmptyRecords) {
  for (int c = 0; c < 10; ++c) {
    std::string json = FashionJson(4, c);
    json.insert(json.find("[[") + 1, "[],");  // An empty record first, as the package has.
    Write(std::to_string(c) + ".json", json);
  }
  auto tt = LoadFashionMnist(dir_.string(), 3, 1);
  ASSERT_TRUE(tt.ok()) << tt.status();
  EXPECT_EQ(tt->train.size(), 30);
  EXPECT_EQ(tt->test.size(), 10);
  EXPECT_FLOAT_EQ(tt->test.images.f32()[1], 3.0f / 255.0f);  // Row 3 of class 0 is the test one.
}

TEST_F(DatasetFixture, FashionJsonErrorsNameFileAndImage) {
  for (int c = 0; c < 10; ++c) Write(std::to_string(c) + ".json", FashionJson(5, 1));
  auto check = [&](const std::string& text, const std::string& needle) {
    Write("4.json", text);
    auto tt = LoadFashionMnist(dir_.string(), 3, 1);
    ASSERT_FALSE(tt.ok());
    EXPECT_NE(tt.status().message().find("4.json"), std::string::npos) << tt.status();
    EXPECT_NE(tt.status().message().find(needle), std::string::npos) << tt.status();
  };
  check(FashionJson(3, 1), "need at least 4");
  check(FashionJson(5, 256), "0-255");
  check("{\"data\": [[1,2,3]]}", "3 pixels");
  check("{\"data\": [[], []]}", "need at least 4");  // Empty records are skipped, not images.
  check("{\"pixels\": []}", "expected \"data\"");
  check(FashionJson(5, 1).substr(0, 5000), "expected");
  check("", "expected '{'");
}

}  // namespace
}  // namespace kiln
