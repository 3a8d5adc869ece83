// Keras's progress line: `steps/total [=====>....] - ETA/elapsed - ms/step - loss - accuracy`.
#ifndef KILN_FRONTEND_PROGRESS_H_
#define KILN_FRONTEND_PROGRESS_H_

#include <chrono>
#include <cstdio>
#include <string>

#include "frontend/training.h"

namespace kiln {

class ProgressBar {
 public:
  // Redraws in place when `out` is a terminal; otherwise prints one line per epoch at Finish.
  ProgressBar(int64_t total_steps, FILE* out);
  void Update(int64_t step, const Logs& logs);
  void Finish(const Logs& logs);
  // The line for `step` after `elapsed_s` seconds (exposed for tests).
  static std::string Line(int64_t step, int64_t total, double elapsed_s, const Logs& logs,
                          bool finished);

 private:
  int64_t total_;
  FILE* out_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace kiln

#endif  // KILN_FRONTEND_PROGRESS_H_
