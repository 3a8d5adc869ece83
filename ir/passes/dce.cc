#include "ir/passes/dce.h"

#include "ir/status.h"

namespace kiln {

absl::StatusOr<Graph> EliminateDeadCode(const Graph& graph) {
  KILN_ASSIGN_OR_RETURN(std::vector<NodeId> order, graph.TopologicalOrder());
  std::vector<bool> live(graph.num_nodes(), false);
  for (NodeId out : graph.outputs()) live[out] = true;
  for (const Node& node : graph.nodes()) {
    if (IsSink(node.op) || node.op == OpKind::kInput || node.op == OpKind::kParameter) {
      live[node.id] = true;
    }
  }
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    if (!live[*it]) continue;
    for (NodeId in : graph.node(*it).inputs) live[in] = true;
  }
  Graph result(graph.name());
  std::vector<NodeId> remap(graph.num_nodes(), -1);
  for (const Node& node : graph.nodes()) {
    if (live[node.id]) remap[node.id] = result.AddRaw(node);
  }
  for (NodeId id = 0; id < result.num_nodes(); ++id) {
    for (NodeId& in : result.mutable_node(id).inputs) in = remap[in];
  }
  std::vector<NodeId> outputs;
  for (NodeId out : graph.outputs()) outputs.push_back(remap[out]);
  result.set_outputs(std::move(outputs));
  return result;
}

}  // namespace kiln
