#include "frontend/viz/plots.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"

namespace kiln::viz {
namespace {

constexpr int kWidth = 960;
constexpr int kHeight = 420;
constexpr int kMargin = 20;
constexpr int kText = 2;  // Text scale for labels.
constexpr Rgb kTrainColor{0x1c, 0x7e, 0xd6};
constexpr Rgb kValidationColor{0xf7, 0x67, 0x07};

struct Series {
  std::string name;
  Rgb color;
  std::vector<double> values;  // One per epoch; non-finite values are not drawn.
};

std::string TickLabel(double v, double step) {
  const int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
  return absl::StrFormat("%.*f", decimals, v == 0 ? 0.0 : v);  // No "-0.00".
}

void Marker(Canvas& canvas, int x, int y, Rgb color) {
  canvas.FillRect(x - 3, y - 3, 7, 7, color);
  canvas.StrokeRect(x - 3, y - 3, 7, 7, kWhite);
}

// One panel: `title` above a plot of `series` against epochs 1..epochs.
void DrawPanel(Canvas& canvas, int left, int top, int width, int height, const std::string& title,
               const std::vector<Series>& series, int epochs) {
  double lo = INFINITY, hi = -INFINITY;
  for (const Series& s : series) {
    for (double v : s.values) {
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
  }
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  const std::vector<double> ticks = NiceTicks(lo, hi);
  const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : 1;
  int label_w = 0;
  for (double t : ticks) label_w = std::max(label_w, TextWidth(TickLabel(t, step), kText));

  canvas.DrawText(left + (width - TextWidth(title, kText)) / 2, top, title, kInk, kText);
  const int px0 = left + label_w + 10, px1 = left + width;
  const int py0 = top + TextHeight(kText) + 12, py1 = top + height - 2 * TextHeight(kText) - 16;
  const double x_lo = 0.5, x_hi = epochs + 0.5;
  auto sx = [&](double epoch) {
    return px0 + static_cast<int>(std::lround((epoch - x_lo) / (x_hi - x_lo) * (px1 - px0)));
  };
  auto sy = [&](double v) {
    const double t = (v - ticks.front()) / (ticks.back() - ticks.front());
    return py1 - static_cast<int>(std::lround(t * (py1 - py0)));
  };

  // Grid and y-axis labels.
  for (double t : ticks) {
    const int y = sy(t);
    canvas.FillRect(px0, y, px1 - px0, 1, kGridLine);
    const std::string text = TickLabel(t, step);
    canvas.DrawText(px0 - 8 - TextWidth(text, kText), y - TextHeight(kText) / 2 + kText, text,
                    kMuted, kText);
  }
  // X-axis: every epoch up to 12, else round steps.
  std::vector<double> xticks;
  if (epochs <= 12) {
    for (int e = 1; e <= epochs; ++e) xticks.push_back(e);
  } else {
    for (double t : NiceTicks(1, epochs, 8)) {
      if (t >= 1 && t <= epochs && t == std::floor(t)) xticks.push_back(t);
    }
  }
  for (double e : xticks) {
    const int x = sx(e);
    canvas.FillRect(x, py1, 1, 5, kInk);
    const std::string text = TickLabel(e, 1);
    canvas.DrawText(x - TextWidth(text, kText) / 2, py1 + 8, text, kMuted, kText);
  }
  canvas.DrawText(px0 + (px1 - px0 - TextWidth("epoch", kText)) / 2, py1 + 12 + TextHeight(kText),
                  "epoch", kInk, kText);
  canvas.FillRect(px0, py0, 1, py1 - py0 + 1, kInk);
  canvas.FillRect(px0, py1, px1 - px0, 1, kInk);

  for (const Series& s : series) {
    int prev_x = 0, prev_y = 0;
    bool have_prev = false;
    for (size_t i = 0; i < s.values.size(); ++i) {
      if (!std::isfinite(s.values[i])) {
        have_prev = false;
        continue;
      }
      const int x = sx(static_cast<double>(i + 1)), y = sy(s.values[i]);
      if (have_prev) canvas.DrawLine(prev_x, prev_y, x, y, s.color, 2);
      prev_x = x, prev_y = y, have_prev = true;
    }
    for (size_t i = 0; i < s.values.size(); ++i) {
      if (std::isfinite(s.values[i])) {
        Marker(canvas, sx(static_cast<double>(i + 1)), sy(s.values[i]), s.color);
      }
    }
  }
}

std::vector<Series> SeriesFor(const History& history, const std::string& metric) {
  std::vector<Series> out;
  const std::string val = "val_" + metric;
  if (!history.epochs.empty() && history.epochs[0].count(metric)) {
    out.push_back({"training", kTrainColor, history.Metric(metric)});
  }
  if (!history.epochs.empty() && history.epochs[0].count(val)) {
    out.push_back({"validation", kValidationColor, history.Metric(val)});
  }
  return out;
}

}  // namespace

std::vector<double> NiceTicks(double lo, double hi, int target) {
  if (!(hi > lo)) {
    const double pad = lo == 0 ? 1 : std::fabs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / std::max(target, 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / magnitude;
  const double step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * magnitude;
  const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
  std::vector<double> ticks;
  for (double k = first; k <= last; ++k) ticks.push_back(k * step);
  if (ticks.size() < 2) ticks.push_back(ticks.back() + step);
  return ticks;
}

absl::StatusOr<Canvas> RenderTrainingCurves(const History& history, const std::string& title) {
  if (history.epochs.empty()) {
    return absl::InvalidArgumentError("the training history has no epochs to plot");
  }
  const int epochs = static_cast<int>(history.epochs.size());
  Canvas canvas(kWidth, kHeight);
  canvas.DrawText(kMargin, kMargin, title, kInk, kText + 1);

  // Legend, right-aligned on the title line, or on a line of its own when the title is long.
  const std::vector<Series> legend = {{"validation", kValidationColor, {}},
                                      {"training", kTrainColor, {}}};
  int legend_w = 0;
  for (const Series& s : legend) legend_w += TextWidth(s.name, kText) + 58;
  const bool own_line = kMargin + TextWidth(title, kText + 1) + 20 + legend_w > kWidth - kMargin;
  const int legend_y = own_line ? kMargin + TextHeight(kText + 1) + 8 : kMargin + kText;
  int x = kWidth - kMargin;
  for (const Series& s : legend) {
    x -= TextWidth(s.name, kText);
    canvas.DrawText(x, legend_y, s.name, kInk, kText);
    x -= 34;
    canvas.DrawLine(x, legend_y + 8, x + 24, legend_y + 8, s.color, 2);
    Marker(canvas, x + 12, legend_y + 8, s.color);
    x -= 24;
  }

  const int top = (own_line ? legend_y + TextHeight(kText) : kMargin + TextHeight(kText + 1)) + 16;
  const int panel_w = (kWidth - 3 * kMargin) / 2;
  DrawPanel(canvas, kMargin, top, panel_w - 10, kHeight - top - kMargin, "loss",
            SeriesFor(history, "loss"), epochs);
  DrawPanel(canvas, 2 * kMargin + panel_w, top, panel_w - 10, kHeight - top - kMargin, "accuracy",
            SeriesFor(history, "accuracy"), epochs);
  return canvas;
}

absl::Status WriteTrainingCurves(const History& history, const std::string& path,
                                 const std::string& title) {
  absl::StatusOr<Canvas> canvas = RenderTrainingCurves(history, title);
  if (!canvas.ok()) return canvas.status();
  return canvas->WritePng(path);
}

}  // namespace kiln::viz
