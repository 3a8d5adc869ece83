#include "autodiff/differentiate.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "autodiff/grad_rules.h"
#include "ir/status.h"

namespace kiln {
namespace {

// Nodes that depend on some parameter and that the loss depends on: the only ones needing rules.
absl::flat_hash_set<NodeId> NodesOnPaths(const Graph& graph, NodeId loss,
                                         const std::vector<NodeId>& parameters,
                                         const std::vector<NodeId>& order) {
  absl::flat_hash_set<NodeId> from_params(parameters.begin(), parameters.end());
  for (NodeId id : order) {
    for (NodeId in : graph.node(id).inputs) {
      if (from_params.count(in)) {
        from_params.insert(id);
        break;
      }
    }
  }
  absl::flat_hash_set<NodeId> to_loss = {loss};
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    if (!to_loss.count(*it)) continue;
    for (NodeId in : graph.node(*it).inputs) to_loss.insert(in);
  }
  absl::flat_hash_set<NodeId> both;
  for (NodeId id : from_params) {
    if (to_loss.count(id)) both.insert(id);
  }
  return both;
}

}  // namespace

absl::StatusOr<std::vector<NodeId>> Differentiate(Graph& graph, NodeId loss,
                                                  const std::vector<NodeId>& parameters) {
  if (loss < 0 || loss >= graph.num_nodes()) return absl::InvalidArgumentError("no loss node");
  if (graph.node(loss).type != TensorType{DType::kF32, {}}) {
    return absl::InvalidArgumentError(absl::StrCat("loss '", graph.node(loss).name,
                                                   "' must be an f32[] scalar, got ",
                                                   TypeToString(graph.node(loss).type)));
  }
  KILN_ASSIGN_OR_RETURN(std::vector<NodeId> order, graph.TopologicalOrder());
  const absl::flat_hash_set<NodeId> active = NodesOnPaths(graph, loss, parameters, order);

  // Contributions to each node's gradient, summed when the node is processed.
  absl::flat_hash_map<NodeId, std::vector<NodeId>> pending;
  absl::flat_hash_map<NodeId, NodeId> grad;
  KILN_ASSIGN_OR_RETURN(NodeId seed,
                        graph.AddSource(OpKind::kConstant, graph.UniqueName("grad/seed"),
                                        {DType::kF32, {}}, {{"value", AttrValue::Floats({1.0f})}}));
  pending[loss].push_back(seed);

  auto sum = [&](NodeId id) -> absl::StatusOr<NodeId> {
    std::vector<NodeId>& parts = pending[id];
    NodeId total = parts[0];
    for (size_t i = 1; i < parts.size(); ++i) {
      KILN_ASSIGN_OR_RETURN(
          total, graph.AddOp(OpKind::kAdd,
                             graph.UniqueName(absl::StrCat("grad/", graph.node(id).name, "/sum")),
                             {total, parts[i]}));
    }
    return total;
  };

  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const NodeId id = *it;
    if (!active.count(id) || !pending.count(id)) continue;
    KILN_ASSIGN_OR_RETURN(NodeId g, sum(id));
    grad[id] = g;
    if (IsSource(graph.node(id).op)) continue;
    std::vector<bool> wanted;
    for (NodeId in : graph.node(id).inputs) wanted.push_back(active.count(in) > 0);
    KILN_ASSIGN_OR_RETURN(std::vector<NodeId> input_grads, ApplyGradRule(graph, id, g, wanted));
    const std::vector<NodeId> inputs = graph.node(id).inputs;  // Copy: AddOp may reallocate.
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (wanted[i] && input_grads[i] >= 0) pending[inputs[i]].push_back(input_grads[i]);
    }
  }

  std::vector<NodeId> result;
  for (NodeId p : parameters) {
    auto found = grad.find(p);
    if (found != grad.end()) {
      result.push_back(found->second);
      continue;
    }
    // The loss does not depend on p: its gradient is zero.
    const TensorType type = graph.node(p).type;
    std::vector<float> zeros(NumElements(type.dims), 0.0f);
    KILN_ASSIGN_OR_RETURN(
        NodeId zero, graph.AddSource(OpKind::kConstant,
                                     graph.UniqueName(absl::StrCat("grad/", graph.node(p).name)),
                                     type, {{"value", AttrValue::Floats(std::move(zeros))}}));
    result.push_back(zero);
  }
  return result;
}

}  // namespace kiln
