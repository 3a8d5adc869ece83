// Symbolic reverse-mode differentiation: a graph -> graph transform.
#ifndef KILN_AUTODIFF_DIFFERENTIATE_H_
#define KILN_AUTODIFF_DIFFERENTIATE_H_

#include <vector>

#include "absl/status/statusor.h"
#include "ir/graph.h"

namespace kiln {

// Appends to `graph` the nodes computing d(loss)/d(p) for every p in `parameters` and returns
// their ids in the same order. `loss` must be an f32[] scalar. Gradients reaching a node along
// several paths are summed; a parameter the loss does not depend on gets a zero Constant. An op on
// the path from a parameter to the loss without a gradient rule is an error naming the op and
// node. Gradient nodes are named "grad/<node>".
absl::StatusOr<std::vector<NodeId>> Differentiate(Graph& graph, NodeId loss,
                                                  const std::vector<NodeId>& parameters);

}  // namespace kiln

#endif  // KILN_AUTODIFF_DIFFERENTIATE_H_
