// Helpers shared by the graph-pass tests: graphs in the text form, nodes by name, and a pass run
// that checks the result verifies.
#ifndef KILN_TESTS_IR_PASSES_UTIL_H_
#define KILN_TESTS_IR_PASSES_UTIL_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/elementwise_program.h"
#include "ir/graph.h"
#include "ir/passes/dce.h"
#include "ir/passes/memory_plan.h"
#include "ir/passes/passes.h"
#include "ir/text_format.h"

namespace kiln::pass_test {

inline Graph Parse(const std::string& body) {
  auto g = ParseGraph("graph \"t\" {\n" + body + "\n}\n");
  EXPECT_TRUE(g.ok()) << g.status() << "\n" << body;
  return g.ok() ? *std::move(g) : Graph();
}

inline const Node& Named(const Graph& g, const std::string& name) {
  const NodeId id = g.Find(name);
  EXPECT_GE(id, 0) << "no node " << name << " in\n" << PrintGraph(g);
  static const Node kMissing;
  return id >= 0 ? g.node(id) : kMissing;
}

// The names of a node's inputs, for readable expectations.
inline std::vector<std::string> InputNames(const Graph& g, const std::string& name) {
  std::vector<std::string> names;
  for (NodeId in : Named(g, name).inputs) names.push_back(g.node(in).name);
  return names;
}

inline std::vector<std::string> OutputNames(const Graph& g) {
  std::vector<std::string> names;
  for (NodeId out : g.outputs()) names.push_back(g.node(out).name);
  return names;
}

// Runs a pass, checks it verifies, and drops the nodes it left dead.
template <typename Pass>
Graph RunPass(Graph g, Pass pass, bool expect_changed = true) {
  auto changed = pass(g);
  EXPECT_TRUE(changed.ok()) << changed.status();
  if (changed.ok()) {
    EXPECT_EQ(*changed, expect_changed) << PrintGraph(g);
  }
  EXPECT_TRUE(Verify(g).ok()) << Verify(g) << "\n" << PrintGraph(g);
  auto pruned = EliminateDeadCode(g);
  EXPECT_TRUE(pruned.ok()) << pruned.status();
  return pruned.ok() ? *std::move(pruned) : Graph();
}

inline Graph Simplified(const std::string& body, bool expect_changed = true) {
  return RunPass(Parse(body), Simplify, expect_changed);
}
inline Graph Cse(const std::string& body, bool expect_changed = true) {
  return RunPass(Parse(body), EliminateCommonSubexpressions, expect_changed);
}
inline Graph Fused(const std::string& body, bool expect_changed = true) {
  return RunPass(Parse(body), Fuse, expect_changed);
}

}  // namespace kiln::pass_test

#endif  // KILN_TESTS_IR_PASSES_UTIL_H_
