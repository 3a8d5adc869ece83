#include "frontend/viz/figure.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace kiln::viz {
namespace {

constexpr int kMargin = 20;
constexpr int kBarWidth = 256;
constexpr int kBarHeight = 14;

std::vector<std::string> Lines(const std::string& text) {
  if (text.empty()) return {};
  return absl::StrSplit(text, '\n');
}

int WidestLine(const std::vector<std::string>& lines, int scale) {
  int w = 0;
  for (const std::string& line : lines) w = std::max(w, TextWidth(line, scale));
  return w;
}

int TilePixelsWide(const Tile& t) { return t.empty() ? 0 : static_cast<int>(t.width) * t.scale; }
int TilePixelsHigh(const Tile& t) { return t.empty() ? 0 : static_cast<int>(t.height) * t.scale; }

void DrawCentered(Canvas& canvas, int center_x, int y, const std::string& text, Rgb color,
                  int scale) {
  canvas.DrawText(center_x - TextWidth(text, scale) / 2, y, text, color, scale);
}

std::string FormatValue(double v) { return absl::StrFormat("%.3g", v); }

}  // namespace

Tile MakeTile(int64_t height, int64_t width, std::vector<float> values, ColorMap map) {
  Tile tile;
  tile.height = height;
  tile.width = width;
  tile.map = map;
  if (!values.empty()) {
    const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
    tile.lo = *lo;
    tile.hi = *hi;
  }
  tile.values = std::move(values);
  return tile;
}

int ScaleToFit(int64_t size, int target) {
  if (size <= 0) return 1;
  return static_cast<int>(std::max<int64_t>(1, target / size));
}

void DrawTile(Canvas& canvas, int x, int y, const Tile& tile) {
  const double range = tile.hi - tile.lo;
  // A constant map shows as the low end (a dead feature map reads dark), or as the neutral
  // middle of a diverging map.
  const double flat = tile.map == ColorMap::kDiverging ? 0.5 : 0.0;
  for (int64_t r = 0; r < tile.height; ++r) {
    for (int64_t c = 0; c < tile.width; ++c) {
      const double v = tile.values[static_cast<size_t>(r * tile.width + c)];
      const double t = range > 0 ? (v - tile.lo) / range : flat;
      canvas.FillRect(x + static_cast<int>(c) * tile.scale, y + static_cast<int>(r) * tile.scale,
                      tile.scale, tile.scale, MapColor(tile.map, t));
    }
  }
}

Canvas RenderFigure(const Figure& fig, std::vector<std::vector<TilePlacement>>* placements) {
  const int ts = std::max(fig.text_scale, 1);
  const int line = TextHeight(ts) + 2 * ts;
  size_t num_cols = fig.column_headers.size();
  for (const auto& row : fig.rows) num_cols = std::max(num_cols, row.size());

  // Column widths and row heights.
  std::vector<int> col_w(num_cols, 0);
  size_t header_lines = 0;
  for (size_t c = 0; c < fig.column_headers.size(); ++c) {
    const std::vector<std::string> header = Lines(fig.column_headers[c]);
    col_w[c] = WidestLine(header, ts);
    header_lines = std::max(header_lines, header.size());
  }
  std::vector<int> tile_h(fig.rows.size(), 0), row_h(fig.rows.size(), 0);
  int label_w = 0;
  for (size_t r = 0; r < fig.rows.size(); ++r) {
    size_t caption_lines = 0;
    for (size_t c = 0; c < fig.rows[r].size(); ++c) {
      const Tile& t = fig.rows[r][c];
      col_w[c] = std::max({col_w[c], TilePixelsWide(t), WidestLine(t.caption, ts)});
      tile_h[r] = std::max(tile_h[r], TilePixelsHigh(t));
      caption_lines = std::max(caption_lines, t.caption.size());
    }
    row_h[r] = tile_h[r] + (caption_lines > 0 ? 6 + static_cast<int>(caption_lines) * line : 0);
    if (r < fig.row_labels.size()) {
      const std::vector<std::string> label = Lines(fig.row_labels[r]);
      label_w = std::max(label_w, WidestLine(label, ts));
      row_h[r] = std::max(row_h[r], static_cast<int>(label.size()) * line);
    }
  }
  const int grid_left = kMargin + (label_w > 0 ? label_w + fig.gap : 0);
  int grid_w = 0;
  for (int w : col_w) grid_w += w;
  grid_w += fig.gap * std::max<int>(0, static_cast<int>(num_cols) - 1);
  // The space below each row: the gap, wider between groups of rows.
  auto gap_after = [&](size_t r) {
    return fig.group_rows > 0 && (r + 1) % fig.group_rows == 0 ? 3 * fig.gap : fig.gap;
  };
  int grid_h = 0;
  for (size_t r = 0; r < fig.rows.size(); ++r) {
    grid_h += row_h[r] + (r + 1 < fig.rows.size() ? gap_after(r) : 0);
  }

  // Vertical bands: title, subtitle, headers, grid, colour bar.
  int y = kMargin;
  const int title_y = y;
  if (!fig.title.empty()) y += TextHeight(ts + 1) + 8;
  const int subtitle_y = y;
  y += static_cast<int>(fig.subtitle.size()) * line;
  if (!fig.subtitle.empty()) y += 6;
  const int header_y = y;
  y += static_cast<int>(header_lines) * line + (header_lines > 0 ? 4 : 0);
  const int grid_y = y;
  y += grid_h;
  const int bar_y = y + 18;
  if (fig.color_bar) y = bar_y + kBarHeight + 6 + line;
  int width = grid_left + grid_w + kMargin;
  width = std::max(width, 2 * kMargin + TextWidth(fig.title, ts + 1));
  width = std::max(width, 2 * kMargin + WidestLine(fig.subtitle, ts));
  if (fig.color_bar) {
    width = std::max(width, 2 * kMargin + TextWidth(fig.color_bar->label, ts) + 12 + kBarWidth +
                                TextWidth("-0.000e-00", ts));
  }
  Canvas canvas(width, y + kMargin);

  canvas.DrawText(kMargin, title_y, fig.title, kInk, ts + 1);
  for (size_t i = 0; i < fig.subtitle.size(); ++i) {
    canvas.DrawText(kMargin, subtitle_y + static_cast<int>(i) * line, fig.subtitle[i], kMuted, ts);
  }
  std::vector<int> col_x(num_cols, grid_left);
  for (size_t c = 1; c < num_cols; ++c) col_x[c] = col_x[c - 1] + col_w[c - 1] + fig.gap;
  for (size_t c = 0; c < fig.column_headers.size(); ++c) {
    const std::vector<std::string> header = Lines(fig.column_headers[c]);
    for (size_t i = 0; i < header.size(); ++i) {
      DrawCentered(canvas, col_x[c] + col_w[c] / 2, header_y + static_cast<int>(i) * line,
                   header[i], i == 0 ? kInk : kMuted, ts);
    }
  }
  int row_y = grid_y;
  if (placements) placements->assign(fig.rows.size(), {});
  for (size_t r = 0; r < fig.rows.size(); ++r) {
    if (r < fig.row_labels.size()) {
      const std::vector<std::string> label = Lines(fig.row_labels[r]);
      const int top = row_y + (tile_h[r] - static_cast<int>(label.size()) * line) / 2;
      for (size_t i = 0; i < label.size(); ++i) {
        canvas.DrawText(kMargin, std::max(row_y, top) + static_cast<int>(i) * line, label[i], kInk,
                        ts);
      }
    }
    for (size_t c = 0; c < fig.rows[r].size(); ++c) {
      const Tile& t = fig.rows[r][c];
      const int center = col_x[c] + col_w[c] / 2;
      const int tx = center - TilePixelsWide(t) / 2;
      const int ty = row_y + (tile_h[r] - TilePixelsHigh(t)) / 2;
      if (placements) (*placements)[r].push_back({tx, ty});
      if (!t.empty()) {
        canvas.StrokeRect(tx - 1, ty - 1, TilePixelsWide(t) + 2, TilePixelsHigh(t) + 2, kFrame);
        DrawTile(canvas, tx, ty, t);
      }
      for (size_t i = 0; i < t.caption.size(); ++i) {
        DrawCentered(canvas, center, row_y + tile_h[r] + 6 + static_cast<int>(i) * line,
                     t.caption[i], i == 0 ? kInk : kMuted, ts);
      }
    }
    row_y += row_h[r] + gap_after(r);
  }

  if (fig.color_bar) {
    const ColorBar& bar = *fig.color_bar;
    int x = kMargin;
    if (!bar.label.empty()) {
      canvas.DrawText(x, bar_y + (kBarHeight - TextHeight(ts)) / 2 + ts, bar.label, kInk, ts);
      x += TextWidth(bar.label, ts) + 12;
    }
    for (int i = 0; i < kBarWidth; ++i) {
      canvas.FillRect(x + i, bar_y, 1, kBarHeight, MapColor(bar.map, i / (kBarWidth - 1.0)));
    }
    canvas.StrokeRect(x - 1, bar_y - 1, kBarWidth + 2, kBarHeight + 2, kFrame);
    const int label_y = bar_y + kBarHeight + 6;
    canvas.DrawText(x, label_y, FormatValue(bar.lo), kMuted, ts);
    DrawCentered(canvas, x + kBarWidth / 2, label_y, FormatValue((bar.lo + bar.hi) / 2), kMuted,
                 ts);
    const std::string hi = FormatValue(bar.hi);
    canvas.DrawText(x + kBarWidth - TextWidth(hi, ts), label_y, hi, kMuted, ts);
  }
  return canvas;
}

}  // namespace kiln::viz
