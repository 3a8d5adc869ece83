#include "frontend/viz/canvas.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "frontend/viz/font.h"

namespace kiln::viz {
namespace {

// Colour maps as evenly spaced stops, linearly interpolated in sRGB.
// Viridis at t = 0, 0.1, ..., 1 (the stops matplotlib publishes for its default map).
constexpr Rgb kViridis[] = {{0x44, 0x01, 0x54}, {0x48, 0x25, 0x76}, {0x41, 0x44, 0x87},
                            {0x35, 0x60, 0x8d}, {0x2a, 0x78, 0x8e}, {0x21, 0x90, 0x8c},
                            {0x22, 0xa8, 0x84}, {0x43, 0xbf, 0x71}, {0x7a, 0xd1, 0x51},
                            {0xbb, 0xdf, 0x27}, {0xfd, 0xe7, 0x25}};
// Blue to red through near-white, symmetric in lightness, so 0.5 (zero) reads as "nothing".
constexpr Rgb kDiverging[] = {{0x21, 0x66, 0xac}, {0x67, 0xa9, 0xcf}, {0xd1, 0xe5, 0xf0},
                              {0xf7, 0xf7, 0xf7}, {0xfd, 0xdb, 0xc7}, {0xef, 0x8a, 0x62},
                              {0xb2, 0x18, 0x2b}};

template <size_t N>
Rgb Interpolate(const Rgb (&stops)[N], double t) {
  const double pos = t * (N - 1);
  const size_t i = std::min(static_cast<size_t>(pos), N - 2);
  const double f = pos - static_cast<double>(i);
  auto mix = [f](uint8_t a, uint8_t b) {
    return static_cast<uint8_t>(std::lround(a + (static_cast<double>(b) - a) * f));
  };
  return {mix(stops[i].r, stops[i + 1].r), mix(stops[i].g, stops[i + 1].g),
          mix(stops[i].b, stops[i + 1].b)};
}

}  // namespace

Rgb MapColor(ColorMap map, double t) {
  t = std::isnan(t) ? 0.0 : std::clamp(t, 0.0, 1.0);
  switch (map) {
    case ColorMap::kGray: {
      const auto v = static_cast<uint8_t>(std::lround(t * 255));
      return {v, v, v};
    }
    case ColorMap::kViridis:
      return Interpolate(kViridis, t);
    case ColorMap::kDiverging:
      return Interpolate(kDiverging, t);
  }
  return {};
}

int TextWidth(absl::string_view text, int scale) {
  if (text.empty()) return 0;
  return (static_cast<int>(text.size()) * kGlyphAdvance - 1) * scale;
}

int TextHeight(int scale) { return kGlyphHeight * scale; }

Canvas::Canvas(int width, int height, Rgb background)
    : width_(std::max(width, 1)),
      height_(std::max(height, 1)),
      pixels_(static_cast<size_t>(width_) * height_, background) {}

void Canvas::Set(int x, int y, Rgb color) {
  if (x >= 0 && y >= 0 && x < width_ && y < height_) {
    pixels_[static_cast<size_t>(y) * width_ + x] = color;
  }
}

void Canvas::FillRect(int x, int y, int w, int h, Rgb color) {
  const int x0 = std::max(x, 0), y0 = std::max(y, 0);
  const int x1 = std::min(x + w, width_), y1 = std::min(y + h, height_);
  for (int yy = y0; yy < y1; ++yy) {
    std::fill(pixels_.begin() + static_cast<size_t>(yy) * width_ + x0,
              pixels_.begin() + static_cast<size_t>(yy) * width_ + x1, color);
  }
}

void Canvas::StrokeRect(int x, int y, int w, int h, Rgb color) {
  FillRect(x, y, w, 1, color);
  FillRect(x, y + h - 1, w, 1, color);
  FillRect(x, y, 1, h, color);
  FillRect(x + w - 1, y, 1, h, color);
}

void Canvas::DrawLine(int x0, int y0, int x1, int y1, Rgb color, int thickness) {
  // Bresenham's algorithm, stamping a square pen centred on each point.
  const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
  const int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
  const int half = (thickness - 1) / 2;
  int err = dx + dy;
  while (true) {
    FillRect(x0 - half, y0 - half, thickness, thickness, color);
    if (x0 == x1 && y0 == y1) break;
    const int e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      x0 += sx;
    }
    if (e2 <= dx) {
      err += dx;
      y0 += sy;
    }
  }
}

int Canvas::DrawText(int x, int y, absl::string_view text, Rgb color, int scale) {
  for (size_t i = 0; i < text.size(); ++i) {
    const Glyph& glyph = GlyphFor(text[i]);
    const int left = x + static_cast<int>(i) * kGlyphAdvance * scale;
    for (int row = 0; row < kGlyphHeight; ++row) {
      for (int col = 0; col < kGlyphWidth; ++col) {
        if (glyph[row] & (1 << (kGlyphWidth - 1 - col))) {
          FillRect(left + col * scale, y + row * scale, scale, scale, color);
        }
      }
    }
  }
  return TextWidth(text, scale);
}

void Canvas::Blit(const Canvas& source, int x, int y) {
  for (int sy = 0; sy < source.height(); ++sy) {
    for (int sx = 0; sx < source.width(); ++sx) Set(x + sx, y + sy, source.at(sx, sy));
  }
}

PixelImage Canvas::ToImage() const {
  PixelImage image{width_, height_, 3, {}};
  image.pixels.reserve(pixels_.size() * 3);
  for (const Rgb& p : pixels_) {
    image.pixels.push_back(p.r);
    image.pixels.push_back(p.g);
    image.pixels.push_back(p.b);
  }
  return image;
}

absl::Status Canvas::WritePng(const std::string& path) const {
  return kiln::WritePng(path, ToImage());
}

}  // namespace kiln::viz
