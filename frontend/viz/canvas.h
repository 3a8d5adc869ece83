// A small RGB raster for Kiln's pictures: rectangles, lines, text in the built-in font, colour
// maps, and PNG output. Drawing clips to the canvas, so callers need not check bounds.
#ifndef KILN_FRONTEND_VIZ_CANVAS_H_
#define KILN_FRONTEND_VIZ_CANVAS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "frontend/image_io.h"

namespace kiln::viz {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb&) const = default;
};

inline constexpr Rgb kWhite{255, 255, 255};
inline constexpr Rgb kInk{33, 37, 41};       // Text and axes.
inline constexpr Rgb kMuted{108, 117, 125};  // Secondary text.
inline constexpr Rgb kFrame{173, 181, 189};  // Tile borders.
inline constexpr Rgb kGridLine{233, 236, 239};

// Colour maps over t in [0, 1] (clamped). kGray: black to white. kViridis: dark purple through
// teal to yellow, perceptually even and readable in grayscale. kDiverging: blue (0) through
// near-white (0.5) to red (1), for signed values centred on zero.
enum class ColorMap { kGray, kViridis, kDiverging };
Rgb MapColor(ColorMap map, double t);

// Width and height in pixels of `text` drawn at `scale` (one line; descenders included).
int TextWidth(absl::string_view text, int scale = 1);
int TextHeight(int scale = 1);

class Canvas {
 public:
  Canvas(int width, int height, Rgb background = kWhite);

  int width() const { return width_; }
  int height() const { return height_; }
  Rgb at(int x, int y) const { return pixels_[static_cast<size_t>(y) * width_ + x]; }

  void Set(int x, int y, Rgb color);
  void FillRect(int x, int y, int w, int h, Rgb color);
  // A one-pixel outline just inside the rectangle.
  void StrokeRect(int x, int y, int w, int h, Rgb color);
  // A straight line with a square pen `thickness` pixels wide.
  void DrawLine(int x0, int y0, int x1, int y1, Rgb color, int thickness = 1);
  // Draws `text` with its top-left corner at (x, y), each font pixel a `scale` x `scale` square;
  // returns the width drawn.
  int DrawText(int x, int y, absl::string_view text, Rgb color, int scale = 1);
  // Copies `source` with its top-left corner at (x, y).
  void Blit(const Canvas& source, int x, int y);

  PixelImage ToImage() const;
  // Writes an RGB PNG atomically.
  absl::Status WritePng(const std::string& path) const;

 private:
  int width_;
  int height_;
  std::vector<Rgb> pixels_;
};

}  // namespace kiln::viz

#endif  // KILN_FRONTEND_VIZ_CANVAS_H_
