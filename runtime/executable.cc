#include "runtime/executable.h"

#include "absl/strings/str_cat.h"

namespace kiln {

absl::StatusOr<NodeId> FindBindable(const Graph& graph, absl::string_view name,
                                    const Tensor& value) {
  NodeId id = graph.Find(name);
  if (id < 0) return absl::NotFoundError(absl::StrCat("no node named '", name, "'"));
  const Node& node = graph.node(id);
  if (node.op != OpKind::kInput && node.op != OpKind::kParameter) {
    return absl::InvalidArgumentError(
        absl::StrCat("node '", name, "' is a ", OpName(node.op), ", not an Input or Parameter"));
  }
  if (value.type() != node.type) {
    return absl::InvalidArgumentError(absl::StrCat("node '", name, "' expects ",
                                                   TypeToString(node.type), ", got ",
                                                   TypeToString(value.type())));
  }
  return id;
}

}  // namespace kiln
