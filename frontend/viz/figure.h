// Figures of labelled tiles: 2-D maps of values (images, feature maps, filter kernels) drawn as
// colour-mapped, nearest-neighbour-upscaled tiles in a grid, with a title, column headers, row
// labels, captions and an optional colour bar.
#ifndef KILN_FRONTEND_VIZ_FIGURE_H_
#define KILN_FRONTEND_VIZ_FIGURE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "frontend/viz/canvas.h"

namespace kiln::viz {

// One map of values. A tile with no values leaves its grid cell blank.
struct Tile {
  int64_t height = 0;
  int64_t width = 0;
  std::vector<float> values;  // Row-major, height * width.
  ColorMap map = ColorMap::kViridis;
  double lo = 0, hi = 1;             // Values mapped to the two ends of the colour map (clamped).
  int scale = 1;                     // Screen pixels per value along each axis.
  std::vector<std::string> caption;  // Lines under the tile.

  bool empty() const { return values.empty(); }
};

// A row-major map of `height` x `width` values with its own [min, max] range.
Tile MakeTile(int64_t height, int64_t width, std::vector<float> values, ColorMap map);
// The integer upscale (at least 1) that brings `size` values closest to `target` pixels
// without exceeding it.
int ScaleToFit(int64_t size, int target);

struct ColorBar {
  ColorMap map = ColorMap::kViridis;
  double lo = 0, hi = 1;
  std::string label;
};

struct Figure {
  std::string title;
  std::vector<std::string> subtitle;  // Smaller lines under the title.
  // Labels may hold several lines separated by '\n'; a header's lines after the first are muted.
  std::vector<std::string> column_headers;  // Above the grid, one per column.
  std::vector<std::string> row_labels;      // Left of each row; may be shorter than `rows`.
  std::vector<std::vector<Tile>> rows;
  std::optional<ColorBar> color_bar;  // Drawn under the grid.
  int text_scale = 2;                 // Captions, headers and labels; the title is one step larger.
  int gap = 14;                       // Pixels between cells.
  int group_rows = 0;                 // When > 0, a wider gap after every `group_rows` rows.
};

// Where a tile landed: its top-left pixel; each value is a tile.scale-pixel square from there.
struct TilePlacement {
  int x = 0;
  int y = 0;
};

// Lays the figure out and draws it; the canvas fits the content. When `placements` is given it
// receives each tile's position, indexed like `figure.rows`.
Canvas RenderFigure(const Figure& figure,
                    std::vector<std::vector<TilePlacement>>* placements = nullptr);

// Draws a tile's values at (x, y), each value a `tile.scale`-pixel square.
void DrawTile(Canvas& canvas, int x, int y, const Tile& tile);

}  // namespace kiln::viz

#endif  // KILN_FRONTEND_VIZ_FIGURE_H_
