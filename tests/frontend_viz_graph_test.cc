// Graphviz output: fused groups drawn as clusters of the ops they fuse, and rendering with `dot`.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "frontend/viz/graphviz.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/dot.h"
#include "ir/graph.h"

namespace kiln {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// x -> FusedConv2D(x, w, b, relu) -> Elementwise("in0 in1 add relu")(conv, x2) -> output.
Graph FusedGraph() {
  Graph g("fused");
  const NodeId x = *g.AddSource(OpKind::kInput, "x", {DType::kF32, {1, 5, 5, 1}});
  const NodeId w = *g.AddSource(OpKind::kParameter, "w", {DType::kF32, {3, 3, 1, 2}});
  const NodeId b = *g.AddSource(OpKind::kParameter, "b", {DType::kF32, {2}});
  const NodeId other = *g.AddSource(OpKind::kInput, "other", {DType::kF32, {1, 3, 3, 2}});
  auto conv = g.AddOp(OpKind::kFusedConv2D, "conv", {x, w, b},
                      {{"strides", AttrValue::Ints({1, 1})},
                       {"padding", AttrValue::Str("valid")},
                       {"epilogue", AttrValue::Str("in0 relu")},
                       {"keep", AttrValue::Int(0)}});
  EXPECT_TRUE(conv.ok()) << conv.status();
  auto sum = g.AddOp(OpKind::kElementwise, "sum", {*conv, other},
                     {{"program", AttrValue::Str("in0 in1 add relu")}});
  EXPECT_TRUE(sum.ok()) << sum.status();
  g.set_outputs({*sum});
  return g;
}

TEST(DotTest, FusedGroupsAreClustersOfTheirOps) {
  const std::string dot = GraphToDot(FusedGraph());
  // Node ids: x 0, w 1, b 2, other 3, conv 4, sum 5.
  EXPECT_THAT(dot, HasSubstr("subgraph cluster_n4 {"));
  EXPECT_THAT(dot, HasSubstr("label=\"conv\\nFusedConv2D\\nf32[1,3,3,2]\""));
  EXPECT_THAT(dot, HasSubstr("n4_0 [label=\"Conv2D\""));
  EXPECT_THAT(dot, HasSubstr("n4_1 [label=\"BiasAdd\""));
  EXPECT_THAT(dot, HasSubstr("n4_2 [label=\"relu\""));
  EXPECT_THAT(dot, HasSubstr("n4_0 -> n4_1;"));
  EXPECT_THAT(dot, HasSubstr("n4_1 -> n4_2;"));
  EXPECT_THAT(dot, HasSubstr("n0 -> n4_0;"));  // x and w feed the convolution,
  EXPECT_THAT(dot, HasSubstr("n1 -> n4_0;"));
  EXPECT_THAT(dot, HasSubstr("n2 -> n4_1;"));  // the bias the bias add.
  // The elementwise program: add then relu, the conv cluster feeding the add from its border.
  EXPECT_THAT(dot, HasSubstr("subgraph cluster_n5 {"));
  EXPECT_THAT(dot, HasSubstr("n5_0 [label=\"add\""));
  EXPECT_THAT(dot, HasSubstr("n5_1 [label=\"relu\""));
  EXPECT_THAT(dot, HasSubstr("n4_2 -> n5_0 [ltail=cluster_n4];"));
  EXPECT_THAT(dot, HasSubstr("n3 -> n5_0;"));
  EXPECT_THAT(dot, Not(HasSubstr("n4 [")));  // Fused nodes are clusters, not boxes.
}

TEST(DotTest, RendersSvgWhenGraphvizIsInstalled) {
  EXPECT_THAT(viz::RenderDot("digraph g {}", "gif", "").message(), HasSubstr("svg or png"));
  if (viz::FindDot().empty()) GTEST_SKIP() << "Graphviz's dot is not installed";
  const std::string path =
      (std::filesystem::temp_directory_path() / ("kiln_dot_" + std::to_string(::getpid()) + ".svg"))
          .string();
  ASSERT_TRUE(viz::RenderDot(GraphToDot(FusedGraph()), "svg", path).ok());
  std::ifstream in(path);
  std::stringstream svg;
  svg << in.rdbuf();
  EXPECT_THAT(svg.str(), HasSubstr("<svg"));
  EXPECT_THAT(svg.str(), HasSubstr("FusedConv2D"));
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace kiln
