#include "ir/graph.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "ir/status.h"

namespace kiln {

namespace {
const AttrValue& GetAttr(const Node& node, const std::string& key, AttrKind kind) {
  auto it = node.attrs.find(key);
  KILN_CHECK(it != node.attrs.end() && it->second.kind == kind);
  return it->second;
}
}  // namespace

int64_t Node::GetInt(const std::string& key) const { return GetAttr(*this, key, AttrKind::kInt).i; }
const std::vector<int64_t>& Node::GetInts(const std::string& key) const {
  return GetAttr(*this, key, AttrKind::kInts).ints;
}
double Node::GetFloat(const std::string& key) const {
  return GetAttr(*this, key, AttrKind::kFloat).f;
}
const std::vector<float>& Node::GetFloats(const std::string& key) const {
  return GetAttr(*this, key, AttrKind::kFloats).floats;
}
const std::string& Node::GetStr(const std::string& key) const {
  return GetAttr(*this, key, AttrKind::kStr).s;
}

absl::StatusOr<NodeId> Graph::AddSource(OpKind op, std::string name, TensorType type, Attrs attrs) {
  if (!IsSource(op)) {
    return absl::InvalidArgumentError(absl::StrCat(OpName(op), " is not a source op"));
  }
  Node node;
  node.op = op;
  node.name = std::move(name);
  node.attrs = std::move(attrs);
  node.type = std::move(type);
  if (op == OpKind::kParameter && !node.attrs.count("trainable")) {
    node.attrs["trainable"] = AttrValue::Int(1);
  }
  if (by_name_.count(node.name)) {
    return absl::InvalidArgumentError(absl::StrCat("duplicate node name '", node.name, "'"));
  }
  auto inferred = InferType(node, {});
  if (!inferred.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("node '", node.name, "' (", OpName(op), "): ", inferred.status().message()));
  }
  return AddRaw(std::move(node));
}

absl::StatusOr<NodeId> Graph::AddOp(OpKind op, std::string name, std::vector<NodeId> inputs,
                                    Attrs attrs) {
  Node node;
  node.op = op;
  node.name = std::move(name);
  node.inputs = std::move(inputs);
  node.attrs = std::move(attrs);
  auto error = [&](absl::string_view msg) {
    return absl::InvalidArgumentError(
        absl::StrCat("node '", node.name, "' (", OpName(op), "): ", msg));
  };
  if (IsSource(op)) return error("sources are added with AddSource");
  if (by_name_.count(node.name)) return error("duplicate node name");
  std::vector<TensorType> types;
  for (NodeId in : node.inputs) {
    if (in < 0 || in >= num_nodes()) return error(absl::StrCat("input id ", in, " does not exist"));
    types.push_back(nodes_[in].type);
  }
  auto type = InferType(node, types);
  if (!type.ok()) return error(type.status().message());
  node.type = *std::move(type);
  return AddRaw(std::move(node));
}

NodeId Graph::AddRaw(Node node) {
  node.id = num_nodes();
  by_name_.emplace(node.name, node.id);
  nodes_.push_back(std::move(node));
  return nodes_.back().id;
}

std::string Graph::UniqueName(absl::string_view base) const {
  std::string name(base);
  for (int i = 1; by_name_.count(name); ++i) name = absl::StrCat(base, "_", i);
  return name;
}

NodeId Graph::Find(absl::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? -1 : it->second;
}

absl::StatusOr<std::vector<NodeId>> Graph::TopologicalOrder() const {
  const int n = num_nodes();
  std::vector<int> pending(n, 0);
  std::vector<std::vector<NodeId>> users(n);
  for (const Node& node : nodes_) {
    for (NodeId in : node.inputs) {
      if (in < 0 || in >= n) {
        return absl::InvalidArgumentError(
            absl::StrCat("node '", node.name, "' has a dangling input (id ", in, ")"));
      }
      users[in].push_back(node.id);
      ++pending[node.id];
    }
  }
  // Kahn's algorithm with a stack of ready nodes: deterministic for a given graph.
  std::vector<NodeId> order;
  std::vector<NodeId> ready;
  for (NodeId id = n - 1; id >= 0; --id) {
    if (pending[id] == 0) ready.push_back(id);
  }
  while (!ready.empty()) {
    NodeId id = ready.back();
    ready.pop_back();
    order.push_back(id);
    for (NodeId user : users[id]) {
      if (--pending[user] == 0) ready.push_back(user);
    }
  }
  if (static_cast<int>(order.size()) != n) {
    for (NodeId id = 0; id < n; ++id) {
      if (pending[id] > 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("node '", nodes_[id].name, "' is on a cycle"));
      }
    }
  }
  return order;
}

absl::Status Verify(const Graph& graph) {
  absl::flat_hash_map<std::string, NodeId> names;
  for (const Node& node : graph.nodes()) {
    if (node.name.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("node ", node.id, " has an empty name"));
    }
    if (!names.emplace(node.name, node.id).second) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate node name '", node.name, "'"));
    }
  }
  KILN_ASSIGN_OR_RETURN(std::vector<NodeId> order, graph.TopologicalOrder());
  for (NodeId id : order) {
    const Node& node = graph.node(id);
    const OpInfo& info = GetOpInfo(node.op);
    auto error = [&](absl::string_view msg) {
      return absl::InvalidArgumentError(
          absl::StrCat("node '", node.name, "' (", info.name, "): ", msg));
    };
    std::vector<TensorType> types;
    for (NodeId in : node.inputs) types.push_back(graph.node(in).type);
    auto inferred = InferType(node, types);
    if (!inferred.ok()) return error(inferred.status().message());
    if (*inferred != node.type) {
      return error(absl::StrCat("declared type ", TypeToString(node.type),
                                " differs from inferred ", TypeToString(*inferred)));
    }
  }
  // Update ops write Parameters, each at most once, and nothing may read an update's output.
  absl::flat_hash_map<NodeId, NodeId> written_by;
  for (const Node& node : graph.nodes()) {
    for (NodeId in : node.inputs) {
      if (IsSink(graph.node(in).op)) {
        return absl::InvalidArgumentError(
            absl::StrCat("node '", node.name, "' reads the update op '", graph.node(in).name, "'"));
      }
    }
    for (int i = 0; i < NumMutatedInputs(node.op); ++i) {
      const Node& target = graph.node(node.inputs[i]);
      if (target.op != OpKind::kParameter) {
        return absl::InvalidArgumentError(absl::StrCat("node '", node.name, "' (", OpName(node.op),
                                                       ") writes '", target.name,
                                                       "', which is not a Parameter"));
      }
      auto [it, inserted] = written_by.emplace(target.id, node.id);
      if (!inserted) {
        return absl::InvalidArgumentError(
            absl::StrCat("parameter '", target.name, "' is written by both '",
                         graph.node(it->second).name, "' and '", node.name, "'"));
      }
    }
  }
  for (NodeId out : graph.outputs()) {
    if (out < 0 || out >= graph.num_nodes()) {
      return absl::InvalidArgumentError(absl::StrCat("graph output id ", out, " does not exist"));
    }
  }
  return absl::OkStatus();
}

}  // namespace kiln
