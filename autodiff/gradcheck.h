// Finite-difference checking of symbolic gradients, on the interpreter.
#ifndef KILN_AUTODIFF_GRADCHECK_H_
#define KILN_AUTODIFF_GRADCHECK_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/graph.h"
#include "ir/tensor.h"

namespace kiln {

struct GradCheckOptions {
  double epsilon = 1e-3;
  // Check at most this many elements of each parameter (evenly spaced); 0 checks all.
  int64_t max_elements = 0;
  // An element whose forward and backward one-sided differences differ by more than this fraction
  // straddles a kink (ReLU at 0, a max-pool switch) and is skipped, and counted as skipped.
  double kink_threshold = 0.02;
};

struct GradCheckResult {
  std::string parameter;
  int64_t checked = 0;
  int64_t skipped_kinks = 0;
  // max_i |symbolic_i - numeric_i| / max(max_i |numeric_i|, 1e-3): the error relative to the
  // gradient's scale, so tiny entries do not dominate.
  double max_relative_error = 0;
  double max_abs_numeric = 0;
};

// Compares Differentiate(graph, loss, parameters) with central differences
// (L(p + eps) - L(p - eps)) / 2 eps, evaluated in double from the float32 interpreter's loss.
// `feeds` gives every Input and Parameter of `graph` a value. `loss` must be f32[].
absl::StatusOr<std::vector<GradCheckResult>> CheckGradients(
    const Graph& graph, NodeId loss, const std::vector<NodeId>& parameters,
    const std::map<std::string, Tensor>& feeds, const GradCheckOptions& options = {});

}  // namespace kiln

#endif  // KILN_AUTODIFF_GRADCHECK_H_
