// Graph -> graph passes and the pipeline that runs them. Each pass returns whether it changed
// the graph; the pipeline verifies after every pass and can dump the IR after any stage.
#ifndef KILN_IR_PASSES_PASSES_H_
#define KILN_IR_PASSES_PASSES_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/graph.h"

namespace kiln {

// Folds identity Reshapes, Reshape chains, and multiplication/division by a scalar 1.
absl::StatusOr<bool> Simplify(Graph& graph);
// Merges nodes computing the same op on the same inputs with the same attributes, and equal
// Constants. Sources other than Constants and update ops are never merged.
absl::StatusOr<bool> EliminateCommonSubexpressions(Graph& graph);
// Rewrites patterns into fused-group nodes: Conv2D+ReLU -> FusedConv2D; MatMul+BiasAdd(+ReLU) ->
// FusedDense; ReluGrad(MatMul) -> MaskedMatMul; ReluGrad(x, MaxPool2DGrad(x, dy)) ->
// FusedMaxPool2DGrad; chains of elementwise ops -> Elementwise; SoftmaxCrossEntropy with its
// gradient -> SoftmaxCrossEntropyWithGrad (the two nodes become Views of its result); bias
// gradients summed over pooled tensors. Only single-use producers that are not graph outputs are
// absorbed. Leaves the absorbed nodes dead (run DCE after).
absl::StatusOr<bool> Fuse(Graph& graph);

// The pipeline's stage names, in order: "input", "simplify", "cse", "dce", "fuse", "final".
const std::vector<std::string>& PipelineStages();

// Runs simplify, CSE, DCE, fusion and DCE, verifying after each. `after_stage` (optional) sees
// the graph after every stage.
absl::StatusOr<Graph> OptimizeGraph(
    Graph graph, const std::function<void(const std::string&, const Graph&)>& after_stage = {});

}  // namespace kiln

#endif  // KILN_IR_PASSES_PASSES_H_
