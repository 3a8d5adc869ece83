#include "ir/dot.h"

#include <algorithm>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "ir/elementwise_program.h"

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

// The ops a fused node stands for, drawn inside its cluster: a chain or small DAG of labels,
// the edges between them, and which parts each of the node's inputs feeds.
struct FusedParts {
  std::vector<std::string> ops;
  std::vector<std::pair<int, int>> edges;
  std::vector<std::vector<int>> input_to;  // Per node input.
};

std::string StrAttr(const Node& node, const std::string& key) {
  auto it = node.attrs.find(key);
  return it != node.attrs.end() && it->second.kind == AttrKind::kStr ? it->second.s : "";
}

// Appends the parts of postfix `program` to `p`: program input k reads part `in_part[k]` when
// that is >= 0, else node input `in_node[k]`. Returns the part of the result, or -1 for a bad
// program (the graph does not verify; nothing is drawn).
int AppendProgram(absl::string_view program_text, const std::vector<int>& in_part,
                  const std::vector<int>& in_node, FusedParts& p) {
  auto program = ParseElementwiseProgram(program_text, static_cast<int>(in_part.size()));
  if (!program.ok()) return -1;
  std::vector<int> stack;  // >= 0: a part; < 0: node input -1 - value.
  for (const ElementwiseInstr& instr : *program) {
    if (instr.op == OpKind::kInput) {
      stack.push_back(in_part[instr.input] >= 0 ? in_part[instr.input] : -1 - in_node[instr.input]);
      continue;
    }
    const int part = static_cast<int>(p.ops.size());
    p.ops.push_back(ElementwiseToken(instr));
    const int arity = ElementwiseArity(instr.op);
    if (static_cast<int>(stack.size()) < arity) return -1;
    for (size_t k = stack.size() - arity; k < stack.size(); ++k) {
      if (stack[k] >= 0) {
        p.edges.push_back({stack[k], part});
      } else {
        std::vector<int>& feeds = p.input_to[-1 - stack[k]];
        if (std::find(feeds.begin(), feeds.end(), part) == feeds.end()) feeds.push_back(part);
      }
    }
    stack.resize(stack.size() - arity);
    stack.push_back(part);
  }
  return stack.empty() ? -1 : stack.back();
}

// A conv or matmul, then a bias add when there is a bias input, then the activation (the
// FusedConv2DMaxPool form) or the epilogue program.
FusedParts ProductEpilogue(const Node& node, const char* product) {
  FusedParts p;
  p.ops.push_back(product);
  p.input_to.assign(node.inputs.size(), {});
  p.input_to[0] = {0};
  if (node.inputs.size() > 1) p.input_to[1] = {0};
  const std::string program = StrAttr(node, "epilogue");
  // Extras are the inputs the program reads past in0; a bias is the one input before them.
  int extras = 0;
  for (absl::string_view tok : absl::StrSplit(program, ' ', absl::SkipEmpty())) {
    int k;
    if (absl::StartsWith(tok, "in") && absl::SimpleAtoi(tok.substr(2), &k)) {
      extras = std::max(extras, k);
    }
  }
  const int base = static_cast<int>(node.inputs.size()) - extras;
  int last = 0;
  if (base > 2) {
    p.ops.push_back("BiasAdd");
    p.input_to[2].push_back(1);
    p.edges.push_back({0, 1});
    last = 1;
  }
  if (node.attrs.count("epilogue")) {
    std::vector<int> in_part = {last}, in_node = {-1};
    for (int k = 0; k < extras; ++k) {
      in_part.push_back(-1);
      in_node.push_back(base + k);
    }
    if (AppendProgram(program, in_part, in_node, p) < 0) return {};
    return p;
  }
  const std::string act = StrAttr(node, "activation");
  if (!act.empty() && act != "none" && act != "linear") {
    p.ops.push_back(act == "relu" ? "Relu" : act);
    p.edges.push_back({last, last + 1});
  }
  return p;
}

// The postfix program as a DAG: one part per instruction that is not an input load.
FusedParts ElementwiseParts(const Node& node) {
  FusedParts p;
  p.input_to.resize(node.inputs.size());
  std::vector<int> in_part(node.inputs.size(), -1), in_node(node.inputs.size());
  for (size_t i = 0; i < in_node.size(); ++i) in_node[i] = static_cast<int>(i);
  if (AppendProgram(StrAttr(node, "program"), in_part, in_node, p) < 0) return {};
  return p;
}

// Empty for ops that are not fused groups. (Not a switch: most ops need no case here.)
FusedParts Expand(const Node& node) {
  if (node.op == OpKind::kFusedConv2D) return ProductEpilogue(node, "Conv2D");
  if (node.op == OpKind::kFusedDense) return ProductEpilogue(node, "MatMul");
  if (node.op == OpKind::kFusedConv2DMaxPool) {
    FusedParts p = ProductEpilogue(node, "Conv2D");
    p.ops.push_back("MaxPool2D");
    p.edges.push_back({static_cast<int>(p.ops.size()) - 2, static_cast<int>(p.ops.size()) - 1});
    return p;
  }
  if (node.op == OpKind::kFusedMaxPool2DGrad) {  // (x, dy): ReluGrad(x, MaxPool2DGrad(x, dy)).
    return {{"MaxPool2DGrad", "ReluGrad"}, {{0, 1}}, {{0, 1}, {0}}};
  }
  if (node.op == OpKind::kFusedConvPoolFilterGrad) {  // (x, y, dpool) -> [dw | db].
    return {{"MaxPool2DGrad", "ReluGrad", "Conv2DBackpropFilter", "ReduceSum"},
            {{0, 1}, {1, 2}, {1, 3}},
            {{2}, {0, 1}, {0}}};
  }
  if (node.op == OpKind::kElementwise) return ElementwiseParts(node);
  if (node.op == OpKind::kSoftmaxCrossEntropyWithGrad) {  // (logits, labels, dloss).
    return {{"SoftmaxCrossEntropy", "SoftmaxCrossEntropyGrad"}, {}, {{0, 1}, {0, 1}, {1}}};
  }
  return {};
}

}  // namespace

std::vector<std::string> FusedOps(const Node& node) { return Expand(node).ops; }

std::string GraphToDot(const Graph& g) {
  std::vector<bool> is_output(g.num_nodes(), false);
  for (NodeId out : g.outputs()) {
    if (out >= 0 && out < g.num_nodes()) is_output[out] = true;
  }
  std::string out = absl::StrCat("digraph ", DotQuote(g.name()), " {\n");
  out += "  rankdir=TB;\n  compound=true;\n";
  out += "  node [fontname=\"Helvetica\", fontsize=10];\n";
  out += "  edge [color=\"#555555\", arrowsize=0.7];\n";
  // Fused groups are clusters of their parts; edges leave a cluster from its border.
  std::vector<FusedParts> parts(g.num_nodes());
  std::vector<std::string> anchor(g.num_nodes());
  for (const Node& node : g.nodes()) {
    parts[node.id] = Expand(node);
    std::string label =
        absl::StrCat(node.name, "\n", OpName(node.op), "\n", TypeToString(node.type));
    if (parts[node.id].ops.empty()) {
      anchor[node.id] = absl::StrCat("n", node.id);
      absl::StrAppend(&out, "  n", node.id, " [label=", DotQuote(label), ", ", NodeStyle(node.op));
      if (is_output[node.id]) out += ", penwidth=2.5, color=\"#c92a2a\"";
      out += "];\n";
      continue;
    }
    const FusedParts& p = parts[node.id];
    anchor[node.id] = absl::StrCat("n", node.id, "_", p.ops.size() - 1);
    absl::StrAppend(&out, "  subgraph cluster_n", node.id, " {\n    label=", DotQuote(label),
                    ";\n    fontname=\"Helvetica\"; fontsize=10; style=\"rounded,filled\";"
                    " fillcolor=\"#e6fcf5\"; color=",
                    is_output[node.id] ? "\"#c92a2a\"; penwidth=2.5" : "\"#20c997\"", ";\n");
    for (size_t k = 0; k < p.ops.size(); ++k) {
      absl::StrAppend(&out, "    n", node.id, "_", k, " [label=", DotQuote(p.ops[k]),
                      ", shape=box, style=\"rounded,filled\", fillcolor=white];\n");
    }
    for (const auto& [from, to] : p.edges) {
      absl::StrAppend(&out, "    n", node.id, "_", from, " -> n", node.id, "_", to, ";\n");
    }
    out += "  }\n";
  }
  for (const Node& node : g.nodes()) {
    const FusedParts& p = parts[node.id];
    for (size_t j = 0; j < node.inputs.size(); ++j) {
      const NodeId in = node.inputs[j];
      if (in < 0 || in >= g.num_nodes()) continue;
      const std::string tail =
          parts[in].ops.empty() ? "" : absl::StrCat(" [ltail=cluster_n", in, "]");
      if (p.ops.empty()) {
        absl::StrAppend(&out, "  ", anchor[in], " -> n", node.id, tail, ";\n");
        continue;
      }
      const bool fed = j < p.input_to.size() && !p.input_to[j].empty();
      for (int k : fed ? p.input_to[j] : std::vector<int>{0}) {
        absl::StrAppend(&out, "  ", anchor[in], " -> n", node.id, "_", k, tail, ";\n");
      }
    }
  }
  return out + "}\n";
}

}  // namespace kiln
