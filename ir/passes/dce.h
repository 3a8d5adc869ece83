// Dead-code elimination.
#ifndef KILN_IR_PASSES_DCE_H_
#define KILN_IR_PASSES_DCE_H_

#include "absl/status/statusor.h"
#include "ir/graph.h"

namespace kiln {

// Returns `graph` without the nodes that neither a graph output nor an update op depends on.
// Inputs and Parameters are always kept: they are the executable's interface. Node ids are
// renumbered in their original relative order; names are unchanged.
absl::StatusOr<Graph> EliminateDeadCode(const Graph& graph);

}  // namespace kiln

#endif  // KILN_IR_PASSES_DCE_H_
