// The computation graph: single-output nodes in a vector, edges by node id.
#ifndef KILN_IR_GRAPH_H_
#define KILN_IR_GRAPH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ir/op.h"
#include "ir/types.h"

namespace kiln {

using NodeId = int32_t;

struct Node {
  NodeId id = -1;
  OpKind op = OpKind::kInput;
  std::string name;  // Unique in the graph; the handle users and the text IR use.
  std::vector<NodeId> inputs;
  Attrs attrs;
  TensorType type;  // Declared for sources, inferred for everything else.

  // Typed attribute access; the verifier guarantees presence and kind.
  int64_t GetInt(const std::string& key) const;
  const std::vector<int64_t>& GetInts(const std::string& key) const;
  double GetFloat(const std::string& key) const;
  const std::vector<float>& GetFloats(const std::string& key) const;
  const std::string& GetStr(const std::string& key) const;
};

class Graph {
 public:
  explicit Graph(std::string name = "graph") : name_(std::move(name)) {}

  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }

  // Adds a source node (Input, Parameter, Constant) of the given type.
  absl::StatusOr<NodeId> AddSource(OpKind op, std::string name, TensorType type, Attrs attrs = {});
  // Adds an op over existing nodes and infers its type; errors name the node and the rule broken.
  absl::StatusOr<NodeId> AddOp(OpKind op, std::string name, std::vector<NodeId> inputs,
                               Attrs attrs = {});
  // Appends a node as given, unchecked (parsers and deserializers); run Verify afterwards.
  NodeId AddRaw(Node node);

  // A fresh unique name starting with `base` ("conv2d", "conv2d_1", ...).
  std::string UniqueName(absl::string_view base) const;

  const Node& node(NodeId id) const { return nodes_[id]; }
  Node& mutable_node(NodeId id) { return nodes_[id]; }
  const std::vector<Node>& nodes() const { return nodes_; }
  int num_nodes() const { return static_cast<int>(nodes_.size()); }

  // Looks a node up by name; -1 when absent.
  NodeId Find(absl::string_view name) const;

  const std::vector<NodeId>& outputs() const { return outputs_; }
  void AddOutput(NodeId id) { outputs_.push_back(id); }
  void set_outputs(std::vector<NodeId> outputs) { outputs_ = std::move(outputs); }

  // Nodes ordered so that every node follows its inputs; an error naming a node on a cycle.
  absl::StatusOr<std::vector<NodeId>> TopologicalOrder() const;

 private:
  std::string name_;
  std::vector<Node> nodes_;
  std::vector<NodeId> outputs_;
  absl::flat_hash_map<std::string, NodeId> by_name_;
};

// Infers the output type of `node` from its op, attributes and input types. Errors name the rule
// broken; the caller adds the node's name.
absl::StatusOr<TensorType> InferType(const Node& node, const std::vector<TensorType>& inputs);
// The contraction's own result type of a FusedConv2D or FusedDense (its epilogue's in0): the
// node's type unless it keeps in0 beside the program's result.
absl::StatusOr<TensorType> ContractionType(const Node& node, const std::vector<TensorType>& inputs);

// Checks the whole graph: ids in range, unique names, no cycles, arity, attribute schema, types
// equal to the inferred ones, valid outputs. Errors name the offending node and rule.
absl::Status Verify(const Graph& graph);

// Output spatial size of a window op (conv or pool) along one axis, or an error.
absl::StatusOr<int64_t> WindowOutputSize(int64_t in, int64_t window, int64_t stride,
                                         absl::string_view padding);
// Padding before the first element along one axis ("same": TF/Keras convention, extra at the end).
int64_t WindowPadBefore(int64_t in, int64_t out, int64_t window, int64_t stride,
                        absl::string_view padding);

}  // namespace kiln

#endif  // KILN_IR_GRAPH_H_
