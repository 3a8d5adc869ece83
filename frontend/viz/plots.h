// Line charts of training history: loss and accuracy per epoch for the training and validation
// sets, as two panels with ticked axes and a legend.
#ifndef KILN_FRONTEND_VIZ_PLOTS_H_
#define KILN_FRONTEND_VIZ_PLOTS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "frontend/training.h"
#include "frontend/viz/canvas.h"

namespace kiln::viz {

// Axis ticks for [lo, hi]: about `target` round values (1, 2 or 5 times a power of ten) that
// cover the range, first <= lo and last >= hi.
std::vector<double> NiceTicks(double lo, double hi, int target = 5);

// The two panels ("loss", "accuracy"; "training" from loss/accuracy, "validation" from
// val_loss/val_accuracy where present), 960x420 pixels. Fails when there are no epochs.
absl::StatusOr<Canvas> RenderTrainingCurves(const History& history,
                                            const std::string& title = "Training curves");

// RenderTrainingCurves written as a PNG to `path` (atomically).
absl::Status WriteTrainingCurves(const History& history, const std::string& path,
                                 const std::string& title = "Training curves");

}  // namespace kiln::viz

#endif  // KILN_FRONTEND_VIZ_PLOTS_H_
