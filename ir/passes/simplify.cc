#include <algorithm>

#include "ir/passes/passes.h"

namespace kiln {
namespace {

bool IsScalarOne(const Node& node) {
  return node.op == OpKind::kConstant && node.type.rank() == 0 && node.type.dtype == DType::kF32 &&
         node.GetFloats("value")[0] == 1.0f;
}

// Points every use of `from` (and graph outputs) at `to`.
void ReplaceUses(Graph& graph, NodeId from, NodeId to) {
  for (NodeId id = 0; id < graph.num_nodes(); ++id) {
    for (NodeId& in : graph.mutable_node(id).inputs) {
      if (in == from) in = to;
    }
  }
  std::vector<NodeId> outputs = graph.outputs();
  for (NodeId& out : outputs) {
    if (out == from) out = to;
  }
  graph.set_outputs(outputs);
}

}  // namespace

absl::StatusOr<bool> Simplify(Graph& graph) {
  bool changed = false;
  for (NodeId id = 0; id < graph.num_nodes(); ++id) {
    Node& node = graph.mutable_node(id);
    if (node.op == OpKind::kReshape) {
      const Node& in = graph.node(node.inputs[0]);
      if (in.op == OpKind::kReshape) {  // reshape(reshape(x)) = reshape(x)
        node.inputs[0] = in.inputs[0];
        changed = true;
      }
      const bool is_output =
          std::find(graph.outputs().begin(), graph.outputs().end(), id) != graph.outputs().end();
      if (!is_output && graph.node(node.inputs[0]).type == node.type) {
        ReplaceUses(graph, id, node.inputs[0]);  // Identity reshape.
        changed = true;
      }
    } else if ((node.op == OpKind::kMul || node.op == OpKind::kDiv) &&
               IsScalarOne(graph.node(node.inputs[1])) &&
               graph.node(node.inputs[0]).type == node.type) {
      const bool is_output =
          std::find(graph.outputs().begin(), graph.outputs().end(), id) != graph.outputs().end();
      if (!is_output) {
        ReplaceUses(graph, id, node.inputs[0]);
        changed = true;
      }
    }
  }
  return changed;
}

absl::StatusOr<bool> EliminateCommonSubexpressions(Graph& graph) {
  auto order = graph.TopologicalOrder();
  if (!order.ok()) return order.status();
  std::vector<NodeId> canonical(graph.num_nodes());
  for (NodeId id = 0; id < graph.num_nodes(); ++id) canonical[id] = id;
  std::vector<NodeId> seen;
  bool changed = false;
  for (NodeId id : *order) {
    Node& node = graph.mutable_node(id);
    for (NodeId& in : node.inputs) in = canonical[in];
    if (IsSink(node.op) || node.op == OpKind::kInput || node.op == OpKind::kParameter) continue;
    // Graph outputs keep their own names, so they are never merged away.
    if (std::find(graph.outputs().begin(), graph.outputs().end(), id) != graph.outputs().end()) {
      continue;
    }
    for (NodeId other : seen) {
      const Node& o = graph.node(other);
      if (o.op == node.op && o.inputs == node.inputs && o.attrs == node.attrs &&
          o.type == node.type) {
        canonical[id] = other;
        changed = true;
        break;
      }
    }
    if (canonical[id] == id) seen.push_back(id);
  }
  std::vector<NodeId> outputs = graph.outputs();
  for (NodeId& out : outputs) out = canonical[out];
  graph.set_outputs(outputs);
  return changed;
}

}  // namespace kiln
