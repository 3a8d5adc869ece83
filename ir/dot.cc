#include "ir/dot.h"

#include <vector>

#include "absl/strings/str_cat.h"

namespace kiln {
namespace {

// A DOT double-quoted string; newlines in the text become DOT's centered line breaks.
std::string DotQuote(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c != '\r') {
      out += c;
    }
  }
  return out + "\"";
}

// Node attributes by op: sources stand out from computation.
const char* NodeStyle(OpKind op) {
  if (op == OpKind::kInput) return "shape=invhouse, style=filled, fillcolor=\"#cfe2ff\"";
  if (op == OpKind::kParameter) {
    return "shape=box, style=\"filled,rounded\", fillcolor=\"#fff3bf\"";
  }
  if (op == OpKind::kConstant) return "shape=note, style=filled, fillcolor=\"#e9ecef\"";
  return "shape=box";
}

}  // namespace

std::string GraphToDot(const Graph& g) {
  std::vector<bool> is_output(g.num_nodes(), false);
  for (NodeId out : g.outputs()) {
    if (out >= 0 && out < g.num_nodes()) is_output[out] = true;
  }
  std::string out = absl::StrCat("digraph ", DotQuote(g.name()), " {\n");
  out += "  rankdir=TB;\n";
  out += "  node [fontname=\"Helvetica\", fontsize=10];\n";
  out += "  edge [color=\"#555555\", arrowsize=0.7];\n";
  for (const Node& node : g.nodes()) {
    std::string label =
        absl::StrCat(node.name, "\n", OpName(node.op), "\n", TypeToString(node.type));
    absl::StrAppend(&out, "  n", node.id, " [label=", DotQuote(label), ", ", NodeStyle(node.op));
    if (is_output[node.id]) out += ", penwidth=2.5, color=\"#c92a2a\"";
    out += "];\n";
  }
  for (const Node& node : g.nodes()) {
    for (NodeId in : node.inputs) {
      if (in < 0 || in >= g.num_nodes()) continue;
      absl::StrAppend(&out, "  n", in, " -> n", node.id, ";\n");
    }
  }
  return out + "}\n";
}

}  // namespace kiln
