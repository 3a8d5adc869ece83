// PNG input and output, and the pictures of frontend/viz: every PNG written here is decoded
// back with Kiln's reader and checked by dimensions and pixel values.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "frontend/builtin_models.h"
#include "frontend/image_io.h"
#include "frontend/viz/canvas.h"
#include "frontend/viz/convolve.h"
#include "frontend/viz/figure.h"
#include "frontend/viz/font.h"
#include "frontend/viz/network_views.h"
#include "frontend/viz/plots.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using viz::Rgb;

class VizTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        fs::temp_directory_path() / ("kiln_viz_" + std::to_string(::getpid()) + "_" +
                                     testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string P(const std::string& name) const { return (dir_ / name).string(); }
  void WriteBytes(const std::string& name, const std::string& bytes) const {
    std::ofstream(P(name), std::ios::binary) << bytes;
  }

  fs::path dir_;
};

// A w x h gray image: pixel (x, y) = (x * 7 + y * 3) mod 256.
PixelImage Pattern(int64_t w, int64_t h, int channels) {
  PixelImage image{w, h, channels, {}};
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) {
      for (int c = 0; c < channels; ++c) {
        image.pixels.push_back(static_cast<uint8_t>((x * 7 + y * 3 + c * 50) % 256));
      }
    }
  }
  return image;
}

// 28x28, zero except a one-pixel vertical line at column `line`.
GrayImage VerticalLine(int64_t line) {
  GrayImage image{28, 28, std::vector<float>(28 * 28, 0.0f)};
  for (int64_t y = 0; y < 28; ++y) image.pixels[y * 28 + line] = 1.0f;
  return image;
}

Rgb PixelAt(const PixelImage& image, int x, int y) {
  return {image.at(x, y, 0), image.at(x, y, 1), image.at(x, y, 2)};
}

TEST_F(VizTest, PngRoundTripsGrayAndRgb) {
  for (int channels : {1, 3}) {
    const PixelImage image = Pattern(31, 17, channels);
    ASSERT_TRUE(WritePng(P("a.png"), image).ok());
    auto back = ReadPng(P("a.png"));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->width, 31);
    EXPECT_EQ(back->height, 17);
    EXPECT_EQ(back->channels, channels);
    EXPECT_EQ(back->pixels, image.pixels);
  }
  // The atomic writer leaves only the destination behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
  EXPECT_FALSE(WritePng(P("missing_dir/a.png"), Pattern(2, 2, 1)).ok());
  EXPECT_FALSE(WritePng(P("bad.png"), PixelImage{2, 2, 1, {1, 2, 3}}).ok());
}

TEST_F(VizTest, ReadsGrayscalePngAsFloats) {
  ASSERT_TRUE(WritePng(P("digit.png"), Pattern(28, 28, 1)).ok());
  auto gray = ReadGrayscalePng(P("digit.png"), 28, 28);
  ASSERT_TRUE(gray.ok()) << gray.status();
  EXPECT_FLOAT_EQ(gray->at(2, 1), (2 * 7 + 1 * 3) / 255.0f);
  const Tensor t = GrayImageToTensor(*gray);
  EXPECT_EQ(t.dims(), (Dims{1, 28, 28, 1}));
  EXPECT_FLOAT_EQ(t.f32()[28 + 2], gray->at(2, 1));
  // An RGB file whose pixels are all gray counts as grayscale.
  PixelImage rgb_gray{2, 1, 3, {9, 9, 9, 200, 200, 200}};
  ASSERT_TRUE(WritePng(P("rgb_gray.png"), rgb_gray).ok());
  auto ok = ReadGrayscalePng(P("rgb_gray.png"));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_FLOAT_EQ(ok->at(1, 0), 200 / 255.0f);
}

TEST_F(VizTest, RejectsBadImagesWithClearErrors) {
  ASSERT_TRUE(WritePng(P("colour.png"), Pattern(28, 28, 3)).ok());
  auto colour = ReadGrayscalePng(P("colour.png"), 28, 28);
  EXPECT_EQ(colour.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(colour.status().message(), HasSubstr("colour (RGB) image; expected a grayscale"));

  ASSERT_TRUE(WritePng(P("small.png"), Pattern(20, 14, 1)).ok());
  EXPECT_THAT(ReadGrayscalePng(P("small.png"), 28, 28).status().message(),
              HasSubstr("the image is 20x14; expected 28x28"));

  WriteBytes("text.png", "hello, I am not an image");
  EXPECT_THAT(ReadPng(P("text.png")).status().message(), HasSubstr("not a PNG file"));

  auto bytes = EncodePng(Pattern(28, 28, 1));
  ASSERT_TRUE(bytes.ok());
  WriteBytes("cut.png", bytes->substr(0, bytes->size() / 2));
  EXPECT_THAT(ReadPng(P("cut.png")).status().message(), HasSubstr("truncated"));

  EXPECT_EQ(ReadPng(P("absent.png")).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(VizTest, DecoderSurvivesEveryTruncationAndCorruption) {
  auto bytes = EncodePng(Pattern(9, 7, 3));
  ASSERT_TRUE(bytes.ok());
  for (size_t n = 0; n < bytes->size(); ++n) {
    EXPECT_FALSE(DecodePng(bytes->substr(0, n), "cut").ok()) << n;
  }
  for (size_t i = 8; i < bytes->size(); ++i) {  // Each byte flipped: an error or an image.
    std::string bad = *bytes;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    auto image = DecodePng(bad, "flipped");
    if (image.ok()) {
      EXPECT_EQ(image->pixels.size(),
                static_cast<size_t>(image->width * image->height * image->channels));
    }
  }
}

TEST(VizKernelTest, ParsesNamesValuesAndPythonNotation) {
  auto vertical = viz::ParseKernel("vertical");
  ASSERT_TRUE(vertical.ok());
  EXPECT_EQ(vertical->values, (std::vector<float>{-1, 0, 1, -2, 0, 2, -1, 0, 1}));
  auto values = viz::ParseKernel(" -1, 0, 1 ; -2,0,2;-1,0,1");
  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_EQ(values->values, vertical->values);
  EXPECT_EQ(values->name, "");
  auto python = viz::ParseKernel("[[0, 1, 0], [1, -4, 1], [0, 1, 0]]");
  ASSERT_TRUE(python.ok()) << python.status();
  EXPECT_EQ(python->values, viz::ParseKernel("laplacian")->values);
  auto wide = viz::ParseKernel("0.5,0.5");
  ASSERT_TRUE(wide.ok());
  EXPECT_EQ(wide->height, 1);
  EXPECT_EQ(wide->width, 2);
  EXPECT_EQ(vertical->ToString(), "[-1,0,1; -2,0,2; -1,0,1]");
}

TEST(VizKernelTest, MalformedKernelsNameTheProblem) {
  auto message = [](const char* spec) {
    return std::string(viz::ParseKernel(spec).status().message());
  };
  EXPECT_THAT(message("1,0,1;1,0"), HasSubstr("row 2 has 2 values but row 1 has 3"));
  EXPECT_THAT(message("1,x,1"), HasSubstr("row 1, value 2: 'x' is not a number"));
  EXPECT_THAT(message("1,,1"), HasSubstr("row 1, value 2 is missing"));
  EXPECT_THAT(message("sobel"), HasSubstr("unknown kernel name"));
  EXPECT_THAT(message("sobel"), HasSubstr("vertical, horizontal, sharpen, blur, laplacian"));
  EXPECT_THAT(message(""), HasSubstr("it is empty"));
  EXPECT_THAT(message("[[1,2],[3,4]"), HasSubstr("brackets"));
  EXPECT_THAT(message("1,nan"), HasSubstr("is not a number"));
  std::string big;
  for (int r = 0; r < 16; ++r) big += r ? ";1" : "1";
  EXPECT_THAT(message(big.c_str()), HasSubstr("at most 15x15"));
}

TEST(VizConvolveTest, VerticalEdgeFilterLightsUpTheColumnsBesideALine) {
  const int64_t line = 10;
  auto result = viz::Convolve(VerticalLine(line), *viz::ParseKernel("vertical"), 2);
  ASSERT_TRUE(result.ok()) << result.status();
  const viz::FeatureMap& f = result->filtered;
  ASSERT_EQ(f.height, 26);
  ASSERT_EQ(f.width, 26);
  // Output column j sees input columns j..j+2, centred on j+1: the line at input column 10
  // gives +4 centred on column 9 (j = 8) and -4 centred on column 11 (j = 10).
  for (int64_t y = 0; y < 26; ++y) {
    for (int64_t x = 0; x < 26; ++x) {
      const float want = x == line - 2 ? 4.0f : x == line ? -4.0f : 0.0f;
      ASSERT_EQ(f.at(x, y), want) << x << "," << y;
    }
  }
  const viz::FeatureMap& p = result->pooled;
  ASSERT_EQ(p.height, 13);
  ASSERT_EQ(p.width, 13);
  for (int64_t x = 0; x < 13; ++x) EXPECT_EQ(p.at(x, 0), x == 4 ? 4.0f : 0.0f) << x;
}

TEST(VizConvolveTest, PoolingHalvesSizesAndTakesTheMaximum) {
  GrayImage image{10, 8, {}};
  for (int i = 0; i < 80; ++i) image.pixels.push_back(static_cast<float>(i));
  auto identity = viz::ParseKernel("1");
  auto result = viz::Convolve(image, *identity, 2);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->filtered.width, 10);
  EXPECT_EQ(result->pooled.width, 5);
  EXPECT_EQ(result->pooled.height, 4);
  EXPECT_EQ(result->pooled.at(1, 2), image.at(3, 5));  // Bottom-right of its window.
  auto unpooled = viz::Convolve(image, *identity, 0);
  ASSERT_TRUE(unpooled.ok());
  EXPECT_TRUE(unpooled->pooled.values.empty());
  EXPECT_THAT(viz::Convolve(image, *viz::ParseKernel("1;1;1;1;1;1;1;1;1"), 2).status().message(),
              HasSubstr("does not fit the 8x10 image"));
  EXPECT_THAT(viz::Convolve(image, *identity, 9).status().message(), HasSubstr("pool"));
}

TEST_F(VizTest, ConvolvePngShowsTheEdgesInTheFilteredPanel) {
  const GrayImage image = VerticalLine(10);
  const viz::Kernel kernel = *viz::ParseKernel("vertical");
  auto result = viz::Convolve(image, kernel, 2);
  ASSERT_TRUE(result.ok());
  const viz::Figure fig = viz::ConvolveFigure(image, "line", kernel, 2, *result);
  ASSERT_EQ(fig.rows.size(), 1u);
  ASSERT_EQ(fig.rows[0].size(), 3u);
  EXPECT_EQ(fig.rows[0][0].caption[1], "28x28");
  EXPECT_EQ(fig.rows[0][1].caption[1], "26x26");
  EXPECT_EQ(fig.rows[0][2].caption[1], "13x13");
  std::vector<std::vector<viz::TilePlacement>> at;
  const viz::Canvas canvas = viz::RenderFigure(fig, &at);
  ASSERT_TRUE(canvas.WritePng(P("conv.png")).ok());
  auto png = ReadPng(P("conv.png"));
  ASSERT_TRUE(png.ok()) << png.status();
  EXPECT_EQ(png->width, canvas.width());
  EXPECT_EQ(png->height, canvas.height());
  const viz::Tile& filtered = fig.rows[0][1];
  const Rgb red = viz::MapColor(viz::ColorMap::kDiverging, 1);
  const Rgb blue = viz::MapColor(viz::ColorMap::kDiverging, 0);
  const Rgb zero = viz::MapColor(viz::ColorMap::kDiverging, 0.5);
  for (int y = 0; y < 26; ++y) {
    for (int x = 0; x < 26; ++x) {
      const int px = at[0][1].x + x * filtered.scale + filtered.scale / 2;
      const int py = at[0][1].y + y * filtered.scale + filtered.scale / 2;
      const Rgb want = x == 8 ? red : x == 10 ? blue : zero;
      ASSERT_EQ(PixelAt(*png, px, py), want) << x << "," << y;
    }
  }
  // The pooled panel is half the filtered one on screen too.
  EXPECT_EQ(fig.rows[0][2].width * fig.rows[0][2].scale * 2, 26 * filtered.scale);
}

TEST(VizFontTest, EveryPrintableCharacterHasAGlyph) {
  for (char c = ' ' + 1; c <= '~'; ++c) {
    const viz::Glyph& g = viz::GlyphFor(c);
    bool ink = false;
    for (uint8_t row : g) ink |= row != 0;
    EXPECT_TRUE(ink) << "'" << c << "'";
  }
  for (uint8_t row : viz::GlyphFor(' ')) EXPECT_EQ(row, 0);
  EXPECT_EQ(&viz::GlyphFor('\x01'), &viz::GlyphFor('?'));
  EXPECT_EQ(viz::TextWidth("28x28", 2), (5 * 6 - 1) * 2);
}

TEST(VizCanvasTest, TextStaysInsideItsBox) {
  viz::Canvas canvas(100, 40);
  const int w = canvas.DrawText(10, 5, "Kg,8", viz::kInk, 2);
  int ink = 0;
  for (int y = 0; y < 40; ++y) {
    for (int x = 0; x < 100; ++x) {
      if (canvas.at(x, y) == viz::kWhite) continue;
      ++ink;
      EXPECT_TRUE(x >= 10 && x < 10 + w && y >= 5 && y < 5 + viz::TextHeight(2)) << x << "," << y;
    }
  }
  EXPECT_GT(ink, 0);
  canvas.DrawLine(-50, -50, 500, 500, viz::kInk, 3);  // Clipped, not a crash.
  EXPECT_EQ(canvas.at(20, 20), viz::kInk);
}

TEST(VizColorMapTest, EndsAndMiddles) {
  EXPECT_EQ(viz::MapColor(viz::ColorMap::kGray, 0), (Rgb{0, 0, 0}));
  EXPECT_EQ(viz::MapColor(viz::ColorMap::kGray, 2), (Rgb{255, 255, 255}));
  EXPECT_EQ(viz::MapColor(viz::ColorMap::kViridis, 0), (Rgb{0x44, 0x01, 0x54}));
  EXPECT_EQ(viz::MapColor(viz::ColorMap::kViridis, 1), (Rgb{0xfd, 0xe7, 0x25}));
  EXPECT_EQ(viz::MapColor(viz::ColorMap::kDiverging, 0.5), (Rgb{0xf7, 0xf7, 0xf7}));
  // Viridis gets lighter all the way (it reads in grayscale).
  double last = -1;
  for (int i = 0; i <= 20; ++i) {
    const Rgb c = viz::MapColor(viz::ColorMap::kViridis, i / 20.0);
    const double luma = 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b;
    EXPECT_GT(luma, last);
    last = luma;
  }
}

TEST_F(VizTest, TrainingCurvesPng) {
  History history;
  history.epochs = {
      {{"loss", 1.3}, {"accuracy", 0.62}, {"val_loss", 0.57}, {"val_accuracy", 0.83}},
      {{"loss", 0.38}, {"accuracy", 0.89}, {"val_loss", 0.29}, {"val_accuracy", 0.92}},
      {{"loss", 0.22}, {"accuracy", 0.93}, {"val_loss", 0.22}, {"val_accuracy", 0.93}}};
  ASSERT_TRUE(viz::WriteTrainingCurves(history, P("curves.png")).ok());
  auto png = ReadPng(P("curves.png"));
  ASSERT_TRUE(png.ok()) << png.status();
  EXPECT_EQ(png->width, 960);
  EXPECT_EQ(png->height, 420);
  EXPECT_EQ(png->channels, 3);
  int train = 0, validation = 0;
  for (int y = 0; y < png->height; ++y) {
    for (int x = 0; x < png->width; ++x) {
      const Rgb c = PixelAt(*png, x, y);
      train += c == Rgb{0x1c, 0x7e, 0xd6};
      validation += c == Rgb{0xf7, 0x67, 0x07};
    }
  }
  EXPECT_GT(train, 200);  // Two lines and the legend in each colour.
  EXPECT_GT(validation, 200);
  EXPECT_THAT(viz::WriteTrainingCurves(History{}, P("none.png")).message(), HasSubstr("no epochs"));
}

TEST(VizPlotTest, NiceTicksCoverTheRange) {
  const std::vector<double> ticks = viz::NiceTicks(0.22, 1.3);
  ASSERT_GE(ticks.size(), 3u);
  EXPECT_LE(ticks.front(), 0.22);
  EXPECT_GE(ticks.back(), 1.3);
  EXPECT_NEAR(ticks[1] - ticks[0], 0.2, 1e-12);
  const std::vector<double> flat = viz::NiceTicks(0.5, 0.5);
  EXPECT_LT(flat.front(), 0.5);
  EXPECT_GT(flat.back(), 0.5);
}

TEST(VizNetworkTest, FiltersGridShowsEveryKernel) {
  auto model = BuiltinModel("mnist-cnn", 3);
  ASSERT_TRUE(model.ok());
  auto fig = viz::FiltersFigure(*model, "conv2d", {});
  ASSERT_TRUE(fig.ok()) << fig.status();
  ASSERT_EQ(fig->rows.size(), 8u);       // 64 kernels, 8 to a row.
  const viz::Tile& t = fig->rows[1][2];  // Output channel 10.
  EXPECT_EQ(t.caption[0], "10");
  const Tensor& w = model->weights().at("conv2d/kernel");
  EXPECT_EQ(t.values[4], w.f32()[4 * 64 + 10]);  // Centre tap, HWIO.
  auto deep = viz::FiltersFigure(*model, "conv2d_1", {5});
  ASSERT_TRUE(deep.ok());
  ASSERT_EQ(deep->rows.size(), 1u);
  EXPECT_EQ(deep->rows[0].size(), 64u);  // One per input channel.
  ASSERT_TRUE(viz::RenderFigure(*deep)
                  .WritePng((fs::temp_directory_path() / "kiln_viz_filters_test.png").string())
                  .ok());
  fs::remove(fs::temp_directory_path() / "kiln_viz_filters_test.png");
}

TEST(VizNetworkTest, FilterErrorsListTheConvLayers) {
  auto cnn = BuiltinModel("mnist-cnn");
  EXPECT_THAT(
      viz::FiltersFigure(*cnn, "dense", {}).status().message(),
      HasSubstr("layer 'dense' is a Dense layer, not Conv2D; conv layers: conv2d, conv2d_1"));
  EXPECT_THAT(viz::FiltersFigure(*cnn, "conv9", {}).status().message(),
              HasSubstr("has no layer 'conv9'; conv layers: conv2d, conv2d_1"));
  EXPECT_THAT(viz::FiltersFigure(*cnn, "conv2d", {64}).status().message(),
              HasSubstr("channel 64 out of range"));
  auto dnn = BuiltinModel("mnist-dnn");
  EXPECT_THAT(viz::FiltersFigure(*dnn, "", {}).status().message(), HasSubstr("no Conv2D layers"));
}

TEST(VizNetworkTest, ActivationsShowEachConvAndPoolingLayer) {
  auto model = BuiltinModel("mnist-exercise", 1);
  ASSERT_TRUE(model.ok());
  Dataset data;
  data.images = Tensor(TensorType{DType::kF32, {3, 28, 28, 1}});
  for (int64_t i = 0; i < data.images.size(); ++i) data.images.f32()[i] = (i % 29) / 29.0f;
  data.labels = Tensor::I32({3}, {4, 5, 6});
  auto fig = viz::ActivationsFigure(*model, data, "fixture", {2, 0}, {1, 3});
  ASSERT_TRUE(fig.ok()) << fig.status();
  ASSERT_EQ(fig->rows.size(), 4u);  // 2 images x 2 channels.
  EXPECT_EQ(fig->column_headers, (std::vector<std::string>{"input\n28x28x1", "conv2d\n26x26x64",
                                                           "max_pooling2d\n13x13x64"}));
  EXPECT_THAT(fig->row_labels[0], HasSubstr("image 2\nlabel 6"));
  EXPECT_FALSE(fig->rows[0][0].empty());
  EXPECT_TRUE(fig->rows[1][0].empty());  // The input shows once per image.
  // The pooling tile is the 2x2 maximum of the conv tile.
  const viz::Tile& conv = fig->rows[1][1];
  const viz::Tile& pool = fig->rows[1][2];
  ASSERT_EQ(pool.width, 13);
  for (int64_t y = 0; y < 13; ++y) {
    for (int64_t x = 0; x < 13; ++x) {
      float m = -1e30f;
      for (int64_t dy = 0; dy < 2; ++dy) {
        for (int64_t dx = 0; dx < 2; ++dx) {
          m = std::max(m, conv.values[(2 * y + dy) * 26 + 2 * x + dx]);
        }
      }
      ASSERT_EQ(pool.values[y * 13 + x], m);
    }
  }
  EXPECT_THAT(viz::ActivationsFigure(*model, data, "fixture", {3}, {0}).status().message(),
              HasSubstr("index 3 out of range: the fixture test set has 3 images (0-2)"));
  EXPECT_THAT(viz::ActivationsFigure(*model, data, "fixture", {0}, {64}).status().message(),
              HasSubstr("channel 64 out of range"));
}

}  // namespace
}  // namespace kiln
