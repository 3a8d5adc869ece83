// The gradient rules: one case per op kind, mapping the output gradient to input gradients.
#ifndef KILN_AUTODIFF_GRAD_RULES_H_
#define KILN_AUTODIFF_GRAD_RULES_H_

#include <vector>

#include "absl/status/statusor.h"
#include "ir/graph.h"

namespace kiln {

// Emits the gradients of node `id`'s inputs given `dy`, the gradient of its output. Returns one id
// per input, -1 where `wanted[i]` is false. An op without a rule is an error naming it.
absl::StatusOr<std::vector<NodeId>> ApplyGradRule(Graph& graph, NodeId id, NodeId dy,
                                                  const std::vector<bool>& wanted);

}  // namespace kiln

#endif  // KILN_AUTODIFF_GRAD_RULES_H_
