#include "frontend/progress.h"

#include <unistd.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kiln {
namespace {

std::string Duration(double seconds) {
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  if (s >= 3600) return absl::StrFormat("%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
  if (s >= 60) return absl::StrFormat("%d:%02d", s / 60, s % 60);
  return absl::StrCat(s, "s");
}

}  // namespace

ProgressBar::ProgressBar(int64_t total_steps, FILE* out)
    : total_(total_steps),
      out_(out),
      tty_(isatty(fileno(out)) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

std::string ProgressBar::Line(int64_t step, int64_t total, double elapsed_s, const Logs& logs,
                              bool finished) {
  constexpr int kWidth = 30;
  const int digits = static_cast<int>(absl::StrCat(total).size());
  std::string bar(kWidth, '.');
  const int filled = total > 0 ? static_cast<int>(kWidth * step / total) : kWidth;
  for (int i = 0; i < filled; ++i) bar[i] = '=';
  if (filled > 0 && filled < kWidth) bar[filled - 1] = '>';
  if (filled < kWidth && filled == 0) bar[0] = '>';
  std::string line = absl::StrFormat("%*d/%d [%s] - ", digits, step, total, bar);
  const double per_step = step > 0 ? elapsed_s / step : 0;
  if (finished) {
    absl::StrAppend(&line, Duration(elapsed_s));
  } else {
    absl::StrAppend(&line, "ETA: ", Duration(per_step * (total - step)));
  }
  absl::StrAppendFormat(&line, " %.0fms/step", per_step * 1e3);
  for (const char* key : {"loss", "accuracy", "val_loss", "val_accuracy"}) {
    auto it = logs.find(key);
    if (it != logs.end()) absl::StrAppendFormat(&line, " - %s: %.4f", key, it->second);
  }
  return line;
}

void ProgressBar::Update(int64_t step, const Logs& logs) {
  if (!tty_) return;
  auto now = std::chrono::steady_clock::now();
  if (step < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  std::fprintf(out_, "\r%s\033[K", Line(step, total_, elapsed, logs, false).c_str());
  std::fflush(out_);
}

void ProgressBar::Finish(const Logs& logs) {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::fprintf(out_, "%s%s\n", tty_ ? "\r\033[K" : "",
               Line(total_, total_, elapsed, logs, true).c_str());
  std::fflush(out_);
}

}  // namespace kiln
