// Graphviz rendering of a graph, for looking at models: `dot -Tsvg graph.dot -o graph.svg`.
#ifndef KILN_IR_DOT_H_
#define KILN_IR_DOT_H_

#include <string>
#include <vector>

#include "ir/graph.h"

namespace kiln {

// A `digraph` with one box per node labelled name / op / type, an edge from each input to its
// user, sources styled by kind (Input, Parameter, Constant) and graph outputs drawn bold.
// Fused groups (FusedConv2D, FusedDense, MaskedMatMul, FusedMaxPool2DGrad, Elementwise) are
// clusters labelled like a node and holding the ops they fuse, the inputs wired to the op
// each feeds. Total: never fails, even for graphs that do not verify (bad input ids are skipped).
std::string GraphToDot(const Graph& g);

// The ops a fused node stands for, in evaluation order ("Conv2D", "BiasAdd", "Relu"); empty for
// ops that are not fused groups.
std::vector<std::string> FusedOps(const Node& node);

}  // namespace kiln

#endif  // KILN_IR_DOT_H_
