// The graph passes one by one (Simplify, CSE, Fuse), the pipeline that chains them, and the
// memory planner's invariants. Graphs are written in the text form so each case reads like the
// IR it exercises.
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

namespace kiln {
namespace {

using ::testing::ElementsAre;

Graph Parse(const std::string& body) {
  auto g = ParseGraph("graph \"t\" {\n" + body + "\n}\n");
  EXPECT_TRUE(g.ok()) << g.status() << "\n" << body;
  return g.ok() ? *std::move(g) : Graph();
}

const Node& Named(const Graph& g, const std::string& name) {
  const NodeId id = g.Find(name);
  EXPECT_GE(id, 0) << "no node " << name << " in\n" << PrintGraph(g);
  static const Node kMissing;
  return id >= 0 ? g.node(id) : kMissing;
}

// The names of a node's inputs, for readable expectations.
std::vector<std::string> InputNames(const Graph& g, const std::string& name) {
  std::vector<std::string> names;
  for (NodeId in : Named(g, name).inputs) names.push_back(g.node(in).name);
  return names;
}

std::vector<std::string> OutputNames(const Graph& g) {
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

Graph Simplified(const std::string& body, bool expect_changed = true) {
  return RunPass(Parse(body), Simplify, expect_changed);
}
Graph Cse(const std::string& body, bool expect_changed = true) {
  return RunPass(Parse(body), EliminateCommonSubexpressions, expect_changed);
}
Graph Fused(const std::string& body, bool expect_changed = true) {
  return RunPass(Parse(body), Fuse, expect_changed);
}

// ---------------------------------------------------------------------------------------------
// Simplify

TEST(PassesSimplify, ReshapeOfReshapeReadsTheOriginal) {
  Graph g = Simplified(R"(
    %x = Input() : f32[2,6]
    %r1 = Reshape(%x) {shape=[3,4]} : f32[3,4]
    %r2 = Reshape(%r1) {shape=[12]} : f32[12]
    %y = Relu(%r2) : f32[12]
    outputs(%y))");
  EXPECT_THAT(InputNames(g, "r2"), ElementsAre("x"));
  EXPECT_EQ(g.Find("r1"), -1) << PrintGraph(g);  // Dead after the fold.
  EXPECT_THAT(InputNames(g, "y"), ElementsAre("r2"));
}

TEST(PassesSimplify, IdentityReshapeRemoved) {
  Graph g = Simplified(R"(
    %x = Input() : f32[2,3]
    %r = Reshape(%x) {shape=[2,3]} : f32[2,3]
    %y = Relu(%r) : f32[2,3]
    outputs(%y))");
  EXPECT_THAT(InputNames(g, "y"), ElementsAre("x"));
  EXPECT_EQ(g.Find("r"), -1);
}

TEST(PassesSimplify, ReshapeRoundTripBecomesIdentityAndIsRemoved) {
  Graph g = Simplified(R"(
    %x = Input() : f32[2,3]
    %flat = Reshape(%x) {shape=[6]} : f32[6]
    %back = Reshape(%flat) {shape=[2,3]} : f32[2,3]
    %y = Tanh(%back) : f32[2,3]
    outputs(%y))");
  EXPECT_THAT(InputNames(g, "y"), ElementsAre("x"));
  EXPECT_EQ(g.Find("flat"), -1);
  EXPECT_EQ(g.Find("back"), -1);
}

TEST(PassesSimplify, MulAndDivByScalarOneRemoved) {
  Graph g = Simplified(R"(
    %x = Input() : f32[4]
    %one = Constant() {value=[1]} : f32[]
    %m = Mul(%x, %one) : f32[4]
    %d = Div(%m, %one) : f32[4]
    %y = Relu(%d) : f32[4]
    outputs(%y))");
  EXPECT_THAT(InputNames(g, "y"), ElementsAre("x"));
  EXPECT_EQ(g.Find("m"), -1);
  EXPECT_EQ(g.Find("d"), -1);
}

TEST(PassesSimplify, OtherConstantsAndSubKept) {
  // x * 2, x - 1 and x * [1, 1, 1, 1] (not a scalar) are not identities Simplify knows.
  Simplified(R"(
    %x = Input() : f32[4]
    %two = Constant() {value=[2]} : f32[]
    %one = Constant() {value=[1]} : f32[]
    %ones = Constant() {value=[1, 1, 1, 1]} : f32[4]
    %m = Mul(%x, %two) : f32[4]
    %s = Sub(%m, %one) : f32[4]
    %v = Mul(%s, %ones) : f32[4]
    outputs(%v))",
             /*expect_changed=*/false);
}

TEST(PassesSimplify, GraphOutputsUntouched) {
  const std::string body = R"(
    %x = Input() : f32[2,3]
    %one = Constant() {value=[1]} : f32[]
    %r = Reshape(%x) {shape=[2,3]} : f32[2,3]
    %m = Mul(%x, %one) : f32[2,3]
    %d = Div(%x, %one) : f32[2,3]
    outputs(%r, %m, %d))";
  Graph g = Simplified(body, /*expect_changed=*/false);
  EXPECT_THAT(OutputNames(g), ElementsAre("r", "m", "d"));
  EXPECT_EQ(Named(g, "r").op, OpKind::kReshape);
  EXPECT_EQ(Named(g, "m").op, OpKind::kMul);
  EXPECT_EQ(Named(g, "d").op, OpKind::kDiv);
  EXPECT_EQ(PrintGraph(g), PrintGraph(Parse(body)));
}

TEST(PassesSimplify, OutputReshapeOfReshapeKeepsItsName) {
  Graph g = Simplified(R"(
    %x = Input() : f32[2,6]
    %r1 = Reshape(%x) {shape=[3,4]} : f32[3,4]
    %r2 = Reshape(%r1) {shape=[2,6]} : f32[2,6]
    outputs(%r2))");
  // Folded to Reshape(x), an identity, but an output: it stays, under its name.
  EXPECT_THAT(OutputNames(g), ElementsAre("r2"));
  EXPECT_EQ(Named(g, "r2").op, OpKind::kReshape);
  EXPECT_THAT(InputNames(g, "r2"), ElementsAre("x"));
}

// ---------------------------------------------------------------------------------------------
// EliminateCommonSubexpressions

TEST(PassesCse, IdenticalReluOfSameInputMerged) {
  Graph g = Cse(R"(
    %x = Input() : f32[3]
    %a = Relu(%x) : f32[3]
    %b = Relu(%x) : f32[3]
    %s = Add(%a, %b) : f32[3]
    outputs(%s))");
  // Which copy survives is the pass's choice; exactly one does, and s reads it twice.
  EXPECT_NE(g.Find("a") >= 0, g.Find("b") >= 0) << PrintGraph(g);
  const Node& s = Named(g, "s");
  ASSERT_EQ(s.inputs.size(), 2u);
  EXPECT_EQ(s.inputs[0], s.inputs[1]);
  EXPECT_EQ(g.node(s.inputs[0]).op, OpKind::kRelu);
  EXPECT_EQ(g.num_nodes(), 3);
}

TEST(PassesCse, MergesTransitively) {
  // Once a and b are one node, ta and tb read the same input and merge too.
  Graph g = Cse(R"(
    %x = Input() : f32[3]
    %a = Relu(%x) : f32[3]
    %b = Relu(%x) : f32[3]
    %ta = Tanh(%a) : f32[3]
    %tb = Tanh(%b) : f32[3]
    %s = Sub(%ta, %tb) : f32[3]
    outputs(%s))");
  const Node& s = Named(g, "s");
  ASSERT_EQ(s.inputs.size(), 2u);
  EXPECT_EQ(s.inputs[0], s.inputs[1]);
  EXPECT_EQ(g.node(s.inputs[0]).op, OpKind::kTanh);
  EXPECT_EQ(g.num_nodes(), 4) << PrintGraph(g);  // x, one Relu, one Tanh, s.
}

TEST(PassesCse, IdenticalConstantsMerged) {
  Graph g = Cse(R"(
    %x = Input() : f32[2]
    %c1 = Constant() {value=[0.5, 2]} : f32[2]
    %c2 = Constant() {value=[0.5, 2]} : f32[2]
    %c3 = Constant() {value=[0.5, 3]} : f32[2]
    %c4 = Constant() {value=[0.5, 2]} : f32[1,2]
    %m = Mul(%x, %c1) : f32[2]
    %n = Mul(%m, %c2) : f32[2]
    %o = Mul(%n, %c3) : f32[2]
    %r = Reshape(%c4) {shape=[2]} : f32[2]
    outputs(%o, %r))");
  EXPECT_THAT(InputNames(g, "n"), ElementsAre("m", "c1"));
  EXPECT_THAT(InputNames(g, "o"), ElementsAre("n", "c3"));  // Different value.
  EXPECT_THAT(InputNames(g, "r"), ElementsAre("c4"));       // Same value, other type.
  EXPECT_EQ(g.Find("c2"), -1);
}

TEST(PassesCse, DifferentAttributesNotMerged) {
  Graph g = Cse(R"(
    %x = Input() : f32[2,3]
    %s0 = ReduceSum(%x) {axes=[0], keepdims=0} : f32[3]
    %s1 = ReduceSum(%x) {axes=[1], keepdims=0} : f32[2]
    %k0 = ReduceSum(%x) {axes=[0], keepdims=1} : f32[1,3]
    %m0 = ReduceMean(%x) {axes=[0], keepdims=0} : f32[3]
    %a = Add(%s0, %m0) : f32[3]
    outputs(%a, %s1, %k0))",
                /*expect_changed=*/false);
  EXPECT_THAT(InputNames(g, "a"), ElementsAre("s0", "m0"));
}

TEST(PassesCse, InputsAndParametersNeverMerged) {
  Graph g = Cse(R"(
    %x = Input() : f32[3]
    %y = Input() : f32[3]
    %p = Parameter() {trainable=1} : f32[3]
    %q = Parameter() {trainable=1} : f32[3]
    %a = Add(%x, %y) : f32[3]
    %b = Add(%p, %q) : f32[3]
    %c = Add(%a, %b) : f32[3]
    outputs(%c))",
                /*expect_changed=*/false);
  EXPECT_THAT(InputNames(g, "a"), ElementsAre("x", "y"));
  EXPECT_THAT(InputNames(g, "b"), ElementsAre("p", "q"));
}

TEST(PassesCse, UpdateOpsNeverMerged) {
  // Two updates of one parameter do not verify, so the pass is run on the raw graph: it must
  // leave both sinks alone rather than merge them.
  Graph g = Parse(R"(
    %p = Parameter() {trainable=1} : f32[3]
    %q = Parameter() {trainable=1} : f32[3]
    %r = Parameter() {trainable=1} : f32[3]
    %t = Parameter() {trainable=1} : f32[3]
    %vel = Parameter() {trainable=0} : f32[3]
    %wel = Parameter() {trainable=0} : f32[3]
    %g = Input() : f32[3]
    %u1 = Assign(%p, %g) : f32[]
    %u2 = Assign(%q, %g) : f32[]
    %s1 = ApplySgd(%r, %vel, %g) {lr=0.1, momentum=0.9, nesterov=0, weight_decay=0.0} : f32[]
    %s2 = ApplySgd(%t, %wel, %g) {lr=0.1, momentum=0.9, nesterov=0, weight_decay=0.0} : f32[]
    outputs())");
  ASSERT_EQ(g.num_nodes(), 11);
  g.mutable_node(g.Find("u2")).inputs = Named(g, "u1").inputs;
  g.mutable_node(g.Find("s2")).inputs = Named(g, "s1").inputs;
  const std::string before = PrintGraph(g);
  auto changed = EliminateCommonSubexpressions(g);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_FALSE(*changed);
  EXPECT_EQ(PrintGraph(g), before);
  auto pruned = EliminateDeadCode(g);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  for (const char* name : {"u1", "u2", "s1", "s2"}) EXPECT_GE(pruned->Find(name), 0) << name;
}

TEST(PassesCse, OutputsKeepTheirNames) {
  Graph g = Cse(R"(
    %x = Input() : f32[3]
    %a = Relu(%x) : f32[3]
    %b = Relu(%x) : f32[3]
    %c = Relu(%x) : f32[3]
    %d = Relu(%x) : f32[3]
    %t = Tanh(%d) : f32[3]
    outputs(%a, %b, %t))");
  // a and b are outputs: both stay, under their own names (never merged away). Of the
  // non-outputs c and d one survives; t still reads a Relu of x.
  EXPECT_THAT(OutputNames(g), ElementsAre("a", "b", "t"));
  EXPECT_EQ(Named(g, "a").op, OpKind::kRelu);
  EXPECT_EQ(Named(g, "b").op, OpKind::kRelu);
  ASSERT_EQ(Named(g, "t").inputs.size(), 1u);
  const Node& relu = g.node(Named(g, "t").inputs[0]);
  EXPECT_EQ(relu.op, OpKind::kRelu);
  EXPECT_THAT(InputNames(g, relu.name), ElementsAre("x"));
}

// ---------------------------------------------------------------------------------------------
// Fuse

constexpr char kConvRelu[] = R"(
    %x = Input() : f32[2,5,5,3]
    %w = Parameter() {trainable=1} : f32[3,3,3,4]
    %b = Parameter() {trainable=1} : f32[4]
    %c = Conv2D(%x, %w, %b) {padding="same", strides=[2,2]} : f32[2,3,3,4]
    %y = Relu(%c) : f32[2,3,3,4])";

TEST(PassesFuse, Conv2DReluBecomesFusedConv2D) {
  Graph g = Fused(std::string(kConvRelu) + "\noutputs(%y)");
  const Node& y = Named(g, "y");
  EXPECT_EQ(y.op, OpKind::kFusedConv2D);
  EXPECT_THAT(InputNames(g, "y"), ElementsAre("x", "w", "b"));
  EXPECT_EQ(y.GetStr("epilogue"), "in0 relu");
  EXPECT_EQ(y.GetStr("padding"), "same");
  EXPECT_EQ(y.GetInts("strides"), (Dims{2, 2}));
  EXPECT_EQ(g.Find("c"), -1);
  EXPECT_THAT(OutputNames(g), ElementsAre("y"));
}

TEST(PassesFuse, AnyActivationJoinsTheConvEpilogue) {
  for (const char* act : {"Tanh", "Sigmoid"}) {
    Graph g = Fused(absl::StrCat(R"(
    %x = Input() : f32[1,4,4,1]
    %w = Parameter() {trainable=1} : f32[3,3,1,2]
    %b = Parameter() {trainable=1} : f32[2]
    %c = Conv2D(%x, %w, %b) {padding="same", strides=[1,1]} : f32[1,4,4,2]
    %y = )", act, R"((%c) : f32[1,4,4,2]
    outputs(%y))"));
    const Node& y = Named(g, "y");
    EXPECT_EQ(y.op, OpKind::kFusedConv2D);
    EXPECT_THAT(InputNames(g, "y"), ElementsAre("x", "w", "b"));
    EXPECT_EQ(y.GetStr("epilogue"), absl::StrCat("in0 ", absl::AsciiStrToLower(act)));
  }
}

// A residual block's tail: relu(h + conv(...)) is one conv kernel; h is an extra input.
TEST(PassesFuse, ResidualAddAndReluJoinTheConvEpilogue) {
  Graph g = Fused(R"(
    %h = Input() : f32[1,4,4,2]
    %w = Parameter() {trainable=1} : f32[3,3,2,2]
    %b = Parameter() {trainable=1} : f32[2]
    %c = Conv2D(%h, %w, %b) {padding="same", strides=[1,1]} : f32[1,4,4,2]
    %s = Add(%h, %c) : f32[1,4,4,2]
    %y = Relu(%s) : f32[1,4,4,2]
    outputs(%y))");
  const Node& y = Named(g, "y");
  EXPECT_EQ(y.op, OpKind::kFusedConv2D);
  EXPECT_THAT(InputNames(g, "y"), ElementsAre("h", "w", "b", "h"));
  EXPECT_EQ(y.GetStr("epilogue"), "in1 in0 add relu");
  EXPECT_EQ(g.Find("c"), -1);
  EXPECT_EQ(g.Find("s"), -1);
}

// Scaling by a scalar and a gradient mask of another activation, on a matmul without bias.
TEST(PassesFuse, ScalarScaleAndSigmoidMaskJoinTheMatMulEpilogue) {
  Graph g = Fused(R"(
    %y = Input() : f32[4,5]
    %dz = Input() : f32[4,3]
    %k = Constant() {value=[0.5]} : f32[]
    %w = Parameter() {trainable=1} : f32[5,3]
    %mm = MatMul(%dz, %w) {transpose_a=0, transpose_b=1} : f32[4,5]
    %s = Mul(%mm, %k) : f32[4,5]
    %g = SigmoidGrad(%y, %s) : f32[4,5]
    outputs(%g))");
  const Node& n = Named(g, "g");
  EXPECT_EQ(n.op, OpKind::kFusedDense);
  EXPECT_THAT(InputNames(g, "g"), ElementsAre("dz", "w", "k", "y"));
  EXPECT_EQ(n.GetStr("epilogue"), "in2 in0 in1 mul sigmoid_grad");
}

TEST(PassesFuse, Conv2DWithoutBiasFuses) {
  Graph g = Fused(R"(
    %x = Input() : f32[1,4,4,1]
    %w = Parameter() {trainable=1} : f32[3,3,1,2]
    %c = Conv2D(%x, %w) {padding="valid", strides=[1,1]} : f32[1,2,2,2]
    %y = Relu(%c) : f32[1,2,2,2]
    outputs(%y))");
  EXPECT_EQ(Named(g, "y").op, OpKind::kFusedConv2D);
  EXPECT_THAT(InputNames(g, "y"), ElementsAre("x", "w"));
}

TEST(PassesFuse, Conv2DThatIsAnOutputOrSharedNotAbsorbed) {
  Graph out = Fused(std::string(kConvRelu) + "\noutputs(%y, %c)", /*expect_changed=*/false);
  EXPECT_EQ(Named(out, "c").op, OpKind::kConv2D);
  EXPECT_EQ(Named(out, "y").op, OpKind::kRelu);
  Graph shared = Fused(std::string(kConvRelu) + R"(
    %t = Tanh(%c) : f32[2,3,3,4]
    outputs(%y, %t))",
                       /*expect_changed=*/false);
  EXPECT_EQ(Named(shared, "c").op, OpKind::kConv2D);
  EXPECT_EQ(Named(shared, "y").op, OpKind::kRelu);
  EXPECT_EQ(Named(shared, "t").op, OpKind::kTanh);
}

constexpr char kConvReluPool[] = R"(
    %x = Input() : f32[2,7,7,1]
    %w = Parameter() {trainable=1} : f32[3,3,1,4]
    %b = Parameter() {trainable=1} : f32[4]
    %c = Conv2D(%x, %w, %b) {padding="valid", strides=[1,1]} : f32[2,5,5,4]
    %y = Relu(%c) : f32[2,5,5,4]
    %p = MaxPool2D(%y) {padding="valid", pool=[2,2], strides=[2,2]} : f32[2,2,2,4])";

TEST(PassesFuse, MaxPoolOfFusedConvPoolsInTheConvEpilogue) {
  Graph g = Fused(std::string(kConvReluPool) + "\noutputs(%p)");
  const Node& p = Named(g, "p");
  ASSERT_EQ(p.op, OpKind::kView);
  const Node& fused = g.node(p.inputs[0]);
  EXPECT_EQ(fused.op, OpKind::kFusedConv2DMaxPool);
  EXPECT_THAT(InputNames(g, fused.name), ElementsAre("x", "w", "b"));
  EXPECT_EQ(fused.GetStr("activation"), "relu");
  EXPECT_EQ(fused.GetInts("pool"), (Dims{2, 2}));
  EXPECT_EQ(fused.GetStr("keep"), "none");  // Nothing else reads the conv: never stored.
  EXPECT_EQ(fused.type, (TensorType{DType::kF32, {32}}));
  EXPECT_EQ(p.GetInt("offset"), 0);
  EXPECT_EQ(g.Find("y"), -1);
}

TEST(PassesFuse, ConvReadByAnotherNodeIsKeptAfterThePooledResult) {
  Graph g = Fused(std::string(kConvReluPool) + R"(
    %t = Tanh(%y) : f32[2,5,5,4]
    outputs(%p, %t))");
  const Node& y = Named(g, "y");
  ASSERT_EQ(y.op, OpKind::kView);
  const Node& fused = g.node(y.inputs[0]);
  EXPECT_EQ(fused.op, OpKind::kFusedConv2DMaxPool);
  EXPECT_EQ(fused.GetStr("keep"), "conv");
  EXPECT_EQ(fused.type, (TensorType{DType::kF32, {32 + 200}}));
  EXPECT_EQ(y.GetInt("offset"), 32);
  EXPECT_EQ(y.type, (TensorType{DType::kF32, {2, 5, 5, 4}}));
  EXPECT_EQ(Named(g, "p").inputs, y.inputs);
}

TEST(PassesFuse, OverlappingPoolStaysSeparate) {
  Graph g = Fused(R"(
    %x = Input() : f32[1,6,6,1]
    %w = Parameter() {trainable=1} : f32[3,3,1,2]
    %c = Conv2D(%x, %w) {padding="valid", strides=[1,1]} : f32[1,4,4,2]
    %y = Relu(%c) : f32[1,4,4,2]
    %p = MaxPool2D(%y) {padding="valid", pool=[3,3], strides=[1,1]} : f32[1,2,2,2]
    outputs(%p))");
  EXPECT_EQ(Named(g, "y").op, OpKind::kFusedConv2D);
  EXPECT_EQ(Named(g, "p").op, OpKind::kMaxPool2D);
}

constexpr char kDense[] = R"(
    %a = Input() : f32[4,3]
    %w = Parameter() {trainable=1} : f32[5,3]
    %bias = Parameter() {trainable=1} : f32[5]
    %mm = MatMul(%a, %w) {transpose_a=0, transpose_b=1} : f32[4,5]
    %d = BiasAdd(%mm, %bias) : f32[4,5])";

TEST(PassesFuse, MatMulBiasAddBecomesFusedDense) {
  Graph g = Fused(std::string(kDense) + "\noutputs(%d)");
  const Node& d = Named(g, "d");
  EXPECT_EQ(d.op, OpKind::kFusedDense);
  EXPECT_THAT(InputNames(g, "d"), ElementsAre("a", "w", "bias"));
  EXPECT_EQ(d.GetStr("epilogue"), "in0");
  EXPECT_EQ(d.GetInt("transpose_a"), 0);
  EXPECT_EQ(d.GetInt("transpose_b"), 1);
  EXPECT_EQ(g.Find("mm"), -1);
}

TEST(PassesFuse, MatMulBiasAddReluBecomesFusedDenseRelu) {
  Graph g = Fused(std::string(kDense) + R"(
    %r = Relu(%d) : f32[4,5]
    outputs(%r))");
  const Node& r = Named(g, "r");
  EXPECT_EQ(r.op, OpKind::kFusedDense);
  EXPECT_THAT(InputNames(g, "r"), ElementsAre("a", "w", "bias"));
  EXPECT_EQ(r.GetStr("epilogue"), "in0 relu");
  EXPECT_EQ(r.GetInt("transpose_b"), 1);
  EXPECT_EQ(g.Find("mm"), -1);
  EXPECT_EQ(g.Find("d"), -1);
  EXPECT_EQ(g.num_nodes(), 4) << PrintGraph(g);
}

TEST(PassesFuse, DenseOutputKeepsReluSeparate) {
  // d is an output, so the Relu cannot absorb it; MatMul+BiasAdd still fuse.
  Graph g = Fused(std::string(kDense) + R"(
    %r = Relu(%d) : f32[4,5]
    outputs(%r, %d))");
  EXPECT_EQ(Named(g, "d").op, OpKind::kFusedDense);
  EXPECT_EQ(Named(g, "d").GetStr("epilogue"), "in0");
  EXPECT_EQ(Named(g, "r").op, OpKind::kRelu);
  EXPECT_THAT(InputNames(g, "r"), ElementsAre("d"));
}

TEST(PassesFuse, SharedMatMulNotAbsorbed) {
  Graph g = Fused(std::string(kDense) + R"(
    %t = Tanh(%mm) : f32[4,5]
    outputs(%d, %t))",
                  /*expect_changed=*/false);
  EXPECT_EQ(Named(g, "mm").op, OpKind::kMatMul);
  EXPECT_EQ(Named(g, "d").op, OpKind::kBiasAdd);
}

TEST(PassesFuse, ReluGradOfMatMulJoinsTheMatMulEpilogue) {
  Graph g = Fused(R"(
    %y = Input() : f32[4,5]
    %dz = Input() : f32[4,3]
    %w = Parameter() {trainable=1} : f32[5,3]
    %mm = MatMul(%dz, %w) {transpose_a=0, transpose_b=1} : f32[4,5]
    %g = ReluGrad(%y, %mm) : f32[4,5]
    outputs(%g))");
  const Node& n = Named(g, "g");
  EXPECT_EQ(n.op, OpKind::kFusedDense);
  EXPECT_THAT(InputNames(g, "g"), ElementsAre("dz", "w", "y"));
  EXPECT_EQ(n.GetStr("epilogue"), "in1 in0 relu_grad");
  EXPECT_EQ(n.GetInt("transpose_a"), 0);
  EXPECT_EQ(n.GetInt("transpose_b"), 1);
  EXPECT_EQ(g.Find("mm"), -1);
}

TEST(PassesFuse, ReluGradOfMaxPoolGradBecomesFusedMaxPool2DGrad) {
  Graph g = Fused(R"(
    %x = Input() : f32[1,4,4,2]
    %dy = Input() : f32[1,2,2,2]
    %pg = MaxPool2DGrad(%x, %dy) {padding="valid", pool=[2,2], strides=[2,2]} : f32[1,4,4,2]
    %g = ReluGrad(%x, %pg) : f32[1,4,4,2]
    outputs(%g))");
  const Node& n = Named(g, "g");
  EXPECT_EQ(n.op, OpKind::kFusedMaxPool2DGrad);
  EXPECT_THAT(InputNames(g, "g"), ElementsAre("x", "dy"));
  EXPECT_EQ(n.GetInts("pool"), (Dims{2, 2}));
  EXPECT_EQ(n.GetInts("strides"), (Dims{2, 2}));
  EXPECT_EQ(n.GetStr("padding"), "valid");
  EXPECT_EQ(g.Find("pg"), -1);
}

constexpr char kDenseWeightAdam[] = R"(
    %x = Input() : f32[4,3]
    %dz = Input() : f32[4,5]
    %t = Input() : f32[]
    %w = Parameter() {trainable=1} : f32[3,5]
    %m = Parameter() {trainable=0} : f32[3,5]
    %v = Parameter() {trainable=0} : f32[3,5]
    %dw = MatMul(%x, %dz) {transpose_a=1, transpose_b=0} : f32[3,5]
    %up = ApplyAdam(%w, %m, %v, %t, %dw) {beta1=0.9, beta2=0.999, epsilon=1e-07, lr=0.001} : f32[]
)";

TEST(PassesFuse, AdamOfAWeightGradientRunsInTheMatMulEpilogue) {
  Graph g = Fused(std::string(kDenseWeightAdam) + "outputs()");
  const Node& up = Named(g, "up");
  EXPECT_EQ(up.op, OpKind::kFusedMatMulApplyAdam);
  EXPECT_THAT(InputNames(g, "up"), ElementsAre("w", "m", "v", "t", "x", "dz"));
  EXPECT_EQ(up.GetInt("transpose_a"), 1);
  EXPECT_EQ(up.GetInt("transpose_b"), 0);
  EXPECT_EQ(up.GetFloat("lr"), 0.001);
  EXPECT_EQ(g.Find("dw"), -1);
}

TEST(PassesFuse, WeightGradientReadElsewhereIsStoredForAdam) {
  Graph g = Fused(std::string(kDenseWeightAdam) + "outputs(%dw)", /*expect_changed=*/false);
  EXPECT_EQ(Named(g, "up").op, OpKind::kApplyAdam);
}

TEST(PassesFuse, SoftmaxCrossEntropyAndItsGradientBecomeOneKernelWithViews) {
  Graph g = Fused(R"(
    %logits = Input() : f32[4,3]
    %labels = Input() : i32[4]
    %one = Constant() {value=[1]} : f32[]
    %loss = SoftmaxCrossEntropy(%logits, %labels) : f32[]
    %dlogits = SoftmaxCrossEntropyGrad(%logits, %labels, %one) : f32[4,3]
    outputs(%loss, %dlogits))");
  const Node& grad = Named(g, "dlogits");
  const Node& loss = Named(g, "loss");
  ASSERT_EQ(grad.op, OpKind::kView);
  ASSERT_EQ(loss.op, OpKind::kView);
  ASSERT_EQ(grad.inputs, loss.inputs);
  const Node& fused = g.node(grad.inputs[0]);
  EXPECT_EQ(fused.op, OpKind::kSoftmaxCrossEntropyWithGrad);
  EXPECT_EQ(fused.type, (TensorType{DType::kF32, {13}}));
  EXPECT_EQ(grad.GetInt("offset"), 0);
  EXPECT_EQ(grad.type, (TensorType{DType::kF32, {4, 3}}));
  EXPECT_EQ(loss.GetInt("offset"), 12);
  EXPECT_EQ(loss.type, (TensorType{DType::kF32, {}}));
  EXPECT_THAT(OutputNames(g), ElementsAre("loss", "dlogits"));
}

// The first conv layer: its pooled ReLU gradient feeds only the filter and bias gradients.
constexpr char kFirstLayerBackward[] = R"(
    %x = Input() : f32[2,6,6,1]
    %y = Input() : f32[2,4,4,3]
    %dp = Input() : f32[2,2,2,3]
    %pg = MaxPool2DGrad(%y, %dp) {padding="valid", pool=[2,2], strides=[2,2]} : f32[2,4,4,3]
    %d = ReluGrad(%y, %pg) : f32[2,4,4,3]
    %dw = Conv2DBackpropFilter(%x, %d) {filter_shape=[3,3,1,3], padding="valid", strides=[1,1]} : f32[3,3,1,3]
    %db = ReduceSum(%d) {axes=[0,1,2], keepdims=0} : f32[3]
)";

TEST(PassesFuse, FirstLayerBackwardBecomesOneKernelWithViews) {
  Graph g = Fused(std::string(kFirstLayerBackward) + "outputs(%dw, %db)");
  const Node& dw = Named(g, "dw");
  const Node& db = Named(g, "db");
  ASSERT_EQ(dw.op, OpKind::kView);
  ASSERT_EQ(db.op, OpKind::kView);
  ASSERT_EQ(dw.inputs, db.inputs);
  const Node& fused = g.node(dw.inputs[0]);
  EXPECT_EQ(fused.op, OpKind::kFusedConvPoolFilterGrad);
  EXPECT_THAT(InputNames(g, fused.name), ElementsAre("x", "y", "dp"));
  EXPECT_EQ(fused.GetInts("pool"), (Dims{2, 2}));
  EXPECT_EQ(fused.GetStr("source"), "conv");
  EXPECT_EQ(fused.type, (TensorType{DType::kF32, {27 + 3}}));
  EXPECT_EQ(dw.GetInt("offset"), 0);
  EXPECT_EQ(db.GetInt("offset"), 27);
  EXPECT_EQ(db.type, (TensorType{DType::kF32, {3}}));
  EXPECT_EQ(g.Find("d"), -1);
}

// A conv + ReLU + 2x2 pool layer over x f32[2,H,W,1], and its pool gradient d (as autodiff
// emits them), for tests to add readers of d to.
std::string ConvPoolLayerWithGradient(int64_t h, int64_t w) {
  const std::string y = absl::StrCat("f32[2,", h - 2, ",", w - 2, ",3]");
  return absl::StrCat("%x = Input() : f32[2,", h, ",", w, R"(,1]
    %w = Input() : f32[3,3,1,3]
    %dp = Input() : f32[2,2,2,3]
    %c = Conv2D(%x, %w) {padding="valid", strides=[1,1]} : )",
                      y, R"(
    %y = Relu(%c) : )",
                      y, R"(
    %p = MaxPool2D(%y) {padding="valid", pool=[2,2], strides=[2,2]} : f32[2,2,2,3]
    %pg = MaxPool2DGrad(%y, %dp) {padding="valid", pool=[2,2], strides=[2,2]} : )",
                      y, R"(
    %d = ReluGrad(%y, %pg) : )",
                      y, "\n");
}

TEST(PassesFuse, FirstLayerForwardKeepsRoutesForItsFusedBackward) {
  // The whole first layer: conv + ReLU + pool forward, and its backward pass.
  Graph g = Fused(ConvPoolLayerWithGradient(6, 6) + R"(
    %dw = Conv2DBackpropFilter(%x, %d) {filter_shape=[3,3,1,3], padding="valid", strides=[1,1]} : f32[3,3,1,3]
    outputs(%p, %dw))");
  EXPECT_EQ(g.Find("y"), -1);  // The conv result is never stored.
  const Node& bwd = g.node(Named(g, "dw").inputs[0]);
  EXPECT_EQ(bwd.op, OpKind::kFusedConvPoolFilterGrad);
  EXPECT_EQ(bwd.GetStr("source"), "routes");
  const Node& routes = g.node(bwd.inputs[1]);  // One per pooled element.
  ASSERT_EQ(routes.op, OpKind::kView);
  EXPECT_EQ(routes.type, (TensorType{DType::kF32, {2, 2, 2, 3}}));
  EXPECT_EQ(routes.GetInt("offset"), 24);
  const Node& fwd = g.node(routes.inputs[0]);
  EXPECT_EQ(fwd.op, OpKind::kFusedConv2DMaxPool);
  EXPECT_EQ(fwd.GetStr("keep"), "routes");
  EXPECT_EQ(fwd.type, (TensorType{DType::kF32, {24 + 24}}));
  EXPECT_EQ(Named(g, "p").inputs, routes.inputs);
}

TEST(PassesFuse, PoolGradientOfAFusedConvPoolReadsRoutes) {
  // A later layer: the input gradient needs d, so the pool gradient stays a kernel of its own.
  Graph g = Fused(ConvPoolLayerWithGradient(7, 6) + R"(
    %dx = Conv2DBackpropInput(%d, %w) {input_shape=[2,7,6,1], padding="valid", strides=[1,1]} : f32[2,7,6,1]
    outputs(%p, %dx))");
  const Node& d = Named(g, "d");
  ASSERT_EQ(d.op, OpKind::kRoutedMaxPool2DGrad);
  EXPECT_EQ(d.GetInts("input_shape"), (Dims{2, 5, 4, 3}));  // Row 4 is outside every window.
  EXPECT_EQ(d.type, (TensorType{DType::kF32, {2, 5, 4, 3}}));
  const Node& routes = g.node(d.inputs[0]);
  ASSERT_EQ(routes.op, OpKind::kView);
  EXPECT_EQ(routes.type, (TensorType{DType::kF32, {2, 2, 2, 3}}));
  EXPECT_EQ(g.node(routes.inputs[0]).GetStr("keep"), "routes");
  EXPECT_EQ(g.node(d.inputs[1]).name, "dp");
  EXPECT_EQ(g.Find("y"), -1);
}

TEST(PassesFuse, PoolGradientWithAnotherReaderIsNotFusedIntoTheFilterGradient) {
  // An input gradient also reads d (a later layer), so d must exist.
  Graph g = Fused(std::string(kFirstLayerBackward) + R"(
    %w = Input() : f32[3,3,1,3]
    %dx = Conv2DBackpropInput(%d, %w) {input_shape=[2,6,6,1], padding="valid", strides=[1,1]} : f32[2,6,6,1]
    outputs(%dw, %db, %dx))");
  EXPECT_EQ(Named(g, "dw").op, OpKind::kConv2DBackpropFilter);
  EXPECT_EQ(Named(g, "d").op, OpKind::kFusedMaxPool2DGrad);
}

TEST(PassesFuse, ViewOutsideItsInputIsAnError) {
  auto g = ParseGraph(R"(graph "t" {
    %x = Input() : f32[12]
    %v = View(%x) {offset=10, shape=[3]} : f32[3]
    outputs(%v)
  })");
  ASSERT_FALSE(g.ok() && Verify(*g).ok());
  const std::string message(g.ok() ? Verify(*g).message() : g.status().message());
  EXPECT_NE(message.find("does not fit"), std::string::npos) << message;
}

TEST(PassesFuse, ReluGradMaskedByAnotherTensorNotFusedWithMaxPoolGrad) {
  // The mask must be the pooled input itself; here it is a different tensor.
  Graph g = Fused(R"(
    %x = Input() : f32[1,4,4,2]
    %z = Input() : f32[1,4,4,2]
    %dy = Input() : f32[1,2,2,2]
    %pg = MaxPool2DGrad(%x, %dy) {padding="valid", pool=[2,2], strides=[2,2]} : f32[1,4,4,2]
    %g = ReluGrad(%z, %pg) : f32[1,4,4,2]
    outputs(%g))",
                  /*expect_changed=*/false);
  EXPECT_EQ(Named(g, "g").op, OpKind::kReluGrad);
  EXPECT_EQ(Named(g, "pg").op, OpKind::kMaxPool2DGrad);
}

// Evaluates a postfix program on scalars, with the interpreter's per-instruction semantics.
float EvalProgram(const std::string& program, const std::vector<float>& inputs) {
  auto code = ParseElementwiseProgram(program, static_cast<int>(inputs.size()));
  EXPECT_TRUE(code.ok()) << code.status();
  if (!code.ok()) return std::numeric_limits<float>::quiet_NaN();
  std::vector<float> stack;
  for (const ElementwiseInstr& instr : *code) {
    if (instr.kind == ElementwiseInstr::kInput) {
      stack.push_back(inputs[instr.input]);
      continue;
    }
    if (ElementwiseArity(instr.kind) == 1) {
      stack.back() = EvalElementwise(instr.kind, stack.back(), 0);
    } else {
      const float b = stack.back();
      stack.pop_back();
      stack.back() = EvalElementwise(instr.kind, stack.back(), b);
    }
  }
  EXPECT_EQ(stack.size(), 1u);
  return stack.back();
}

TEST(PassesFuse, ElementwiseChainBecomesOneProgram) {
  Graph g = Fused(R"(
    %a = Input() : f32[2,3]
    %b = Input() : f32[2,3]
    %c = Input() : f32[2,3]
    %m = Mul(%a, %b) : f32[2,3]
    %s = Add(%m, %c) : f32[2,3]
    %r = Relu(%s) : f32[2,3]
    outputs(%r))");
  const Node& r = Named(g, "r");
  ASSERT_EQ(r.op, OpKind::kElementwise) << PrintGraph(g);
  EXPECT_THAT(InputNames(g, "r"), ElementsAre("a", "b", "c"));
  const std::string program = r.GetStr("program");
  EXPECT_EQ(program, "in0 in1 mul in2 add relu");
  EXPECT_EQ(g.num_nodes(), 4) << PrintGraph(g);
  for (float a : {-2.0f, 0.5f, 3.0f}) {
    for (float c : {-1.0f, 0.25f}) {
      const float want = std::max(0.0f, a * 1.5f + c);
      EXPECT_EQ(EvalProgram(program, {a, 1.5f, c}), want) << a << " " << c;
    }
  }
}

TEST(PassesFuse, ElementwiseReusedInputAndScalarOperand) {
  // x feeds the chain twice: it becomes one program input. The scalar s stays an input too.
  Graph g = Fused(R"(
    %x = Input() : f32[5]
    %s = Input() : f32[]
    %t = Tanh(%x) : f32[5]
    %d = Sub(%t, %x) : f32[5]
    %q = Mul(%d, %s) : f32[5]
    %z = Sigmoid(%q) : f32[5]
    outputs(%z))");
  const Node& z = Named(g, "z");
  ASSERT_EQ(z.op, OpKind::kElementwise) << PrintGraph(g);
  EXPECT_THAT(InputNames(g, "z"), ElementsAre("x", "s"));
  EXPECT_EQ(z.GetStr("program"), "in0 tanh in0 sub in1 mul sigmoid");
  const float x = 0.7f, s = -2.0f;
  const float want = EvalElementwise(ElementwiseInstr::kSigmoid, (std::tanh(x) - x) * s, 0);
  EXPECT_EQ(EvalProgram(z.GetStr("program"), {x, s}), want);
}

TEST(PassesFuse, ElementwiseProducerWithTwoUsersNotAbsorbed) {
  Graph g = Fused(R"(
    %a = Input() : f32[2,3]
    %b = Input() : f32[2,3]
    %c = Input() : f32[2,3]
    %m = Mul(%a, %b) : f32[2,3]
    %s = Add(%m, %c) : f32[2,3]
    %r = Relu(%s) : f32[2,3]
    %t = Tanh(%m) : f32[2,3]
    outputs(%r, %t))");
  EXPECT_EQ(Named(g, "m").op, OpKind::kMul);
  const Node& r = Named(g, "r");
  ASSERT_EQ(r.op, OpKind::kElementwise);
  EXPECT_THAT(InputNames(g, "r"), ElementsAre("m", "c"));
  EXPECT_EQ(r.GetStr("program"), "in0 in1 add relu");
  EXPECT_EQ(Named(g, "t").op, OpKind::kTanh);  // Nothing single-use to absorb.
  EXPECT_THAT(InputNames(g, "t"), ElementsAre("m"));
}

TEST(PassesFuse, ElementwiseProducerThatIsAnOutputNotAbsorbed) {
  Graph g = Fused(R"(
    %a = Input() : f32[2,3]
    %b = Input() : f32[2,3]
    %c = Input() : f32[2,3]
    %m = Mul(%a, %b) : f32[2,3]
    %s = Add(%m, %c) : f32[2,3]
    %r = Relu(%s) : f32[2,3]
    outputs(%r, %m))");
  EXPECT_THAT(OutputNames(g), ElementsAre("r", "m"));
  EXPECT_EQ(Named(g, "m").op, OpKind::kMul);
  EXPECT_THAT(InputNames(g, "m"), ElementsAre("a", "b"));
  const Node& r = Named(g, "r");
  ASSERT_EQ(r.op, OpKind::kElementwise);
  EXPECT_THAT(InputNames(g, "r"), ElementsAre("m", "c"));
  EXPECT_EQ(r.GetStr("program"), "in0 in1 add relu");
  EXPECT_EQ(g.Find("s"), -1);
}

TEST(PassesFuse, LoneElementwiseOpUnchanged) {
  Fused(R"(
    %a = Input() : f32[3]
    %b = Input() : f32[3]
    %s = Add(%a, %b) : f32[3]
    outputs(%s))",
        /*expect_changed=*/false);
}

TEST(PassesFuse, ScalarProducerOfTensorChainStaysSeparate) {
  // The scalar product p has a different type than the chain's result, so it is an input.
  Graph g = Fused(R"(
    %x = Input() : f32[4]
    %u = Input() : f32[]
    %v = Input() : f32[]
    %p = Mul(%u, %v) : f32[]
    %q = Add(%x, %p) : f32[4]
    %r = Relu(%q) : f32[4]
    outputs(%r))");
  const Node& r = Named(g, "r");
  ASSERT_EQ(r.op, OpKind::kElementwise);
  EXPECT_THAT(InputNames(g, "r"), ElementsAre("x", "p"));
  EXPECT_EQ(r.GetStr("program"), "in0 in1 add relu");
  EXPECT_EQ(Named(g, "p").op, OpKind::kMul);
}

// ---------------------------------------------------------------------------------------------
// OptimizeGraph

TEST(PassesPipeline, RunsEveryStageInOrderAndVerifies) {
  Graph input = Parse(R"(
    %x = Input() : f32[2,5,5,3]
    %w = Parameter() {trainable=1} : f32[3,3,3,4]
    %b = Parameter() {trainable=1} : f32[4]
    %id = Reshape(%x) {shape=[2,5,5,3]} : f32[2,5,5,3]
    %c = Conv2D(%id, %w, %b) {padding="valid", strides=[1,1]} : f32[2,3,3,4]
    %y = Relu(%c) : f32[2,3,3,4]
    %flat = Reshape(%y) {shape=[2,36]} : f32[2,36]
    %dw = Parameter() {trainable=1} : f32[36,10]
    %db = Parameter() {trainable=1} : f32[10]
    %mm = MatMul(%flat, %dw) {transpose_a=0, transpose_b=0} : f32[2,10]
    %d = BiasAdd(%mm, %db) : f32[2,10]
    %one = Constant() {value=[1]} : f32[]
    %scaled = Mul(%d, %one) : f32[2,10]
    %t1 = Tanh(%scaled) : f32[2,10]
    %t2 = Tanh(%scaled) : f32[2,10]
    %sum = Add(%t1, %t2) : f32[2,10]
    %out = Sigmoid(%sum) : f32[2,10]
    %unused = Relu(%x) : f32[2,5,5,3]
    outputs(%out))");
  std::vector<std::string> stages;
  auto result = OptimizeGraph(input, [&](const std::string& stage, const Graph& g) {
    stages.push_back(stage);
    EXPECT_TRUE(Verify(g).ok()) << stage << ": " << Verify(g);
  });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(stages, PipelineStages());
  EXPECT_THAT(PipelineStages(), ElementsAre("input", "simplify", "cse", "dce", "fuse", "final"));
  const Graph& g = *result;
  ASSERT_TRUE(Verify(g).ok()) << Verify(g);
  EXPECT_THAT(OutputNames(g), ElementsAre("out"));
  EXPECT_EQ(Named(g, "y").op, OpKind::kFusedConv2D);
  EXPECT_THAT(InputNames(g, "y"), ElementsAre("x", "w", "b"));  // Identity reshape gone.
  const Node& out = Named(g, "out");
  ASSERT_EQ(out.op, OpKind::kElementwise) << PrintGraph(g);
  // x*1 is gone and the two Tanhs are one node, which joined the dense layer's epilogue; read
  // twice, it is not absorbed into the program but is its single input.
  ASSERT_EQ(out.inputs.size(), 1u);
  EXPECT_EQ(out.GetStr("program"), "in0 in0 add sigmoid");
  const Node& tanh = g.node(out.inputs[0]);
  EXPECT_EQ(tanh.op, OpKind::kFusedDense);
  EXPECT_EQ(tanh.GetStr("epilogue"), "in0 tanh");
  EXPECT_THAT(InputNames(g, tanh.name), ElementsAre("flat", "dw", "db"));
  EXPECT_NE(g.Find("t1") >= 0, g.Find("t2") >= 0);
  EXPECT_EQ(g.Find("d"), -1);
  EXPECT_EQ(g.Find("unused"), -1);
  EXPECT_EQ(g.Find("scaled"), -1);
  EXPECT_EQ(g.Find("one"), -1);
  // Interface nodes survive.
  for (const char* name : {"x", "w", "b", "dw", "db"}) EXPECT_GE(g.Find(name), 0) << name;
}

TEST(PassesPipeline, WorksWithoutCallbackAndRejectsBadGraphs) {
  Graph ok = Parse(R"(
    %x = Input() : f32[3]
    %y = Relu(%x) : f32[3]
    outputs(%y))");
  auto result = OptimizeGraph(ok);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(PrintGraph(*result), PrintGraph(ok));

  Graph bad = ok;
  bad.mutable_node(1).type = TensorType{DType::kF32, {4}};  // Not what Relu infers.
  auto rejected = OptimizeGraph(bad);
  ASSERT_FALSE(rejected.ok());
  EXPECT_NE(rejected.status().message().find("input"), std::string::npos) << rejected.status();
}

// ---------------------------------------------------------------------------------------------
// PlanMemory

// The closed schedule interval during which an arena buffer's storage must be kept: from its
// definition to the last read of it or of any Reshape alias of it; to the end for graph outputs.
struct LiveRange {
  int start = 0, end = 0;
};

std::vector<LiveRange> LiveRanges(const Graph& g, const MemoryPlan& plan) {
  const int n = g.num_nodes();
  const int steps = static_cast<int>(plan.schedule.size());
  std::vector<int> pos(n, -1);
  for (int p = 0; p < steps; ++p) pos[plan.schedule[p]] = p;
  auto root = [&](NodeId id) {
    while (g.node(id).op == OpKind::kReshape) id = g.node(id).inputs[0];
    return id;
  };
  std::vector<LiveRange> ranges(n);
  for (NodeId id = 0; id < n; ++id) ranges[id] = {pos[id], pos[id]};
  for (NodeId id = 0; id < n; ++id) {
    const NodeId r = root(id);
    ranges[r].end = std::max(ranges[r].end, pos[id]);
    for (NodeId in : g.node(id).inputs) {
      ranges[root(in)].end = std::max(ranges[root(in)].end, pos[id]);
    }
  }
  for (NodeId out : g.outputs()) ranges[root(out)].end = std::numeric_limits<int>::max();
  return ranges;
}

// The pairs of arena buffers that are live together yet share bytes, one per line.
std::string LiveOverlaps(const Graph& g, const MemoryPlan& plan) {
  const std::vector<LiveRange> live = LiveRanges(g, plan);
  std::string conflicts;
  for (NodeId a = 0; a < g.num_nodes(); ++a) {
    if (plan.buffers[a].kind != MemoryPlan::Kind::kArena) continue;
    for (NodeId b = a + 1; b < g.num_nodes(); ++b) {
      if (plan.buffers[b].kind != MemoryPlan::Kind::kArena) continue;
      if (live[a].start > live[b].end || live[b].start > live[a].end) continue;
      const MemoryPlan::Buffer& x = plan.buffers[a];
      const MemoryPlan::Buffer& y = plan.buffers[b];
      if (x.offset + x.bytes <= y.offset || y.offset + y.bytes <= x.offset) continue;
      absl::StrAppend(&conflicts, g.node(a).name, " [", x.offset, ", ", x.offset + x.bytes,
                      ") overlaps ", g.node(b).name, " [", y.offset, ", ", y.offset + y.bytes,
                      ")\n");
    }
  }
  return conflicts;
}

// Every plan invariant that does not depend on the allocation strategy.
void CheckPlan(const Graph& g, const MemoryPlan& plan) {
  const int n = g.num_nodes();
  ASSERT_EQ(static_cast<int>(plan.buffers.size()), n);
  ASSERT_EQ(static_cast<int>(plan.schedule.size()), n);
  // The schedule: a permutation, inputs first, update ops after everything else.
  std::vector<int> pos(n, -1);
  for (int p = 0; p < n; ++p) {
    const NodeId id = plan.schedule[p];
    ASSERT_TRUE(id >= 0 && id < n);
    ASSERT_EQ(pos[id], -1) << "scheduled twice: " << g.node(id).name;
    pos[id] = p;
  }
  bool seen_sink = false;
  for (NodeId id : plan.schedule) {
    const Node& node = g.node(id);
    for (NodeId in : node.inputs) EXPECT_LT(pos[in], pos[id]) << node.name;
    if (IsSink(node.op))
      seen_sink = true;
    else
      EXPECT_FALSE(seen_sink) << node.name << " scheduled after an update op";
  }
  int64_t naive = 0;
  for (NodeId id = 0; id < n; ++id) {
    const Node& node = g.node(id);
    const MemoryPlan::Buffer& b = plan.buffers[id];
    auto bytes = CheckedByteSize(node.type);
    ASSERT_TRUE(bytes.ok());
    EXPECT_EQ(b.bytes, *bytes) << node.name;
    naive += b.bytes;
    if (IsSource(node.op)) {
      EXPECT_EQ(b.kind, MemoryPlan::Kind::kPersistent) << node.name;
    } else if (node.op == OpKind::kReshape) {
      EXPECT_EQ(b.kind, MemoryPlan::Kind::kAlias) << node.name;
      NodeId r = node.inputs[0];
      while (g.node(r).op == OpKind::kReshape) r = g.node(r).inputs[0];
      EXPECT_EQ(b.alias_of, r) << node.name;
    } else {
      EXPECT_EQ(b.kind, MemoryPlan::Kind::kArena) << node.name;
      EXPECT_EQ(b.offset % 64, 0) << node.name;
      EXPECT_GE(b.offset, 0) << node.name;
      EXPECT_LE(b.offset + b.bytes, plan.arena_bytes) << node.name;
    }
  }
  EXPECT_EQ(plan.naive_bytes, naive);
  // Arena buffers live at the same time never share a byte.
  EXPECT_EQ(LiveOverlaps(g, plan), "") << plan.ToString(g);
}

// x -> tanh -> ... (`length` ops) with a Reshape pair in the middle, a parameter update at the
// end, and the last value and one middle value as outputs.
Graph Chain(int length) {
  std::string body = R"(
    %x = Input() : f32[16,16]
    %p = Parameter() {trainable=1} : f32[16,16]
    %k = Constant() {value=[0.5]} : f32[]
  )";
  std::string prev = "x";
  for (int i = 0; i < length; ++i) {
    const std::string name = absl::StrCat("v", i);
    if (i == length / 2) {
      absl::StrAppend(&body, "%flat = Reshape(%", prev, ") {shape=[256]} : f32[256]\n",
                      "%back = Reshape(%flat) {shape=[16,16]} : f32[16,16]\n");
      prev = "back";
    }
    if (i % 3 == 0) {
      absl::StrAppend(&body, "%", name, " = Mul(%", prev, ", %k) : f32[16,16]\n");
    } else if (i % 3 == 1) {
      absl::StrAppend(&body, "%", name, " = Tanh(%", prev, ") : f32[16,16]\n");
    } else {
      absl::StrAppend(&body, "%", name, " = Add(%", prev, ", %p) : f32[16,16]\n");
    }
    prev = name;
  }
  absl::StrAppend(&body, "%upd = Assign(%p, %", prev, ") : f32[]\n");
  absl::StrAppend(&body, "outputs(%", prev, ", %v", length / 4, ")");
  return Parse(body);
}

TEST(PassesMemoryPlan, LongChainReusesMemory) {
  const Graph g = Chain(40);
  auto plan = PlanMemory(g);
  ASSERT_TRUE(plan.ok()) << plan.status();
  CheckPlan(g, *plan);
  EXPECT_LT(plan->arena_bytes, plan->naive_bytes);
  // 40 values of 1 KiB: two outputs plus a couple of live temporaries fit in a few KiB.
  EXPECT_LE(plan->arena_bytes, 6 * 1024) << plan->ToString(g);
  EXPECT_EQ(plan->schedule.back(), g.Find("upd"));
  for (const char* source : {"x", "p", "k"}) {
    EXPECT_EQ(plan->buffers[g.Find(source)].kind, MemoryPlan::Kind::kPersistent) << source;
  }
  const MemoryPlan::Buffer& flat = plan->buffers[g.Find("flat")];
  const MemoryPlan::Buffer& back = plan->buffers[g.Find("back")];
  EXPECT_EQ(flat.kind, MemoryPlan::Kind::kAlias);
  EXPECT_EQ(back.kind, MemoryPlan::Kind::kAlias);
  EXPECT_EQ(flat.alias_of, g.Find("v19"));
  EXPECT_EQ(back.alias_of, g.Find("v19"));
}

TEST(PassesMemoryPlan, OverlapCheckCatchesACorruptedPlan) {
  // The checker itself: moving a value onto the storage of its own input must be caught.
  const Graph g = Chain(10);
  auto plan = PlanMemory(g);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(LiveOverlaps(g, *plan), "");
  MemoryPlan bad = *plan;
  bad.buffers[g.Find("v3")].offset = bad.buffers[g.Find("v2")].offset;
  EXPECT_NE(LiveOverlaps(g, bad), "");
}

TEST(PassesMemoryPlan, GraphOutputsAreNeverReused) {
  const Graph g = Chain(30);
  auto plan = PlanMemory(g);
  ASSERT_TRUE(plan.ok()) << plan.status();
  CheckPlan(g, *plan);
  std::vector<int> pos(g.num_nodes());
  for (int p = 0; p < static_cast<int>(plan->schedule.size()); ++p) pos[plan->schedule[p]] = p;
  for (NodeId out : g.outputs()) {
    const MemoryPlan::Buffer& o = plan->buffers[out];
    ASSERT_EQ(o.kind, MemoryPlan::Kind::kArena);
    for (NodeId id = 0; id < g.num_nodes(); ++id) {
      const MemoryPlan::Buffer& b = plan->buffers[id];
      if (id == out || b.kind != MemoryPlan::Kind::kArena || pos[id] < pos[out]) continue;
      EXPECT_TRUE(b.offset + b.bytes <= o.offset || o.offset + o.bytes <= b.offset)
          << g.node(id).name << " reuses output " << g.node(out).name << "\n"
          << plan->ToString(g);
    }
  }
}

TEST(PassesMemoryPlan, OutputThroughReshapeKeepsItsRootAlive) {
  const Graph g = Parse(R"(
    %x = Input() : f32[8,8]
    %a = Tanh(%x) : f32[8,8]
    %r = Reshape(%a) {shape=[64]} : f32[64]
    %b = Sigmoid(%x) : f32[8,8]
    %c = Tanh(%b) : f32[8,8]
    %d = Relu(%c) : f32[8,8]
    %e = Tanh(%d) : f32[8,8]
    outputs(%r, %e))");
  auto plan = PlanMemory(g);
  ASSERT_TRUE(plan.ok()) << plan.status();
  CheckPlan(g, *plan);
  EXPECT_EQ(plan->buffers[g.Find("r")].alias_of, g.Find("a"));
}

// Deterministic pseudo-random DAGs: three "lanes" of different shapes (so first fit must handle
// holes of different sizes), binary and unary ops over random earlier values of the same lane,
// Reshape round trips (aliases read later), and random outputs.
class Lcg {
 public:
  explicit Lcg(uint64_t seed) : s_(seed * 6364136223846793005ull + 1442695040888963407ull) {}
  int Below(int n) {
    s_ = s_ * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<int>((s_ >> 33) % static_cast<uint64_t>(n));
  }

 private:
  uint64_t s_;
};

Graph RandomDag(uint64_t seed) {
  Lcg rng(seed);
  const char* lane_types[] = {"f32[4,4]", "f32[30,10]", "f32[3,100]"};
  const char* lane_flat[] = {"[16]", "[300]", "[300]"};
  const char* lane_shape[] = {"[4,4]", "[30,10]", "[3,100]"};
  std::vector<std::string> lanes[3];
  std::string body;
  for (int l = 0; l < 3; ++l) {
    absl::StrAppend(&body, "%in", l, " = Input() : ", lane_types[l], "\n");
    lanes[l].push_back(absl::StrCat("in", l));
  }
  const char* binary[] = {"Add", "Mul", "Sub"};
  const char* unary[] = {"Tanh", "Relu", "Sigmoid"};
  std::vector<std::string> all;
  for (int i = 0; i < 60; ++i) {
    const int l = rng.Below(3);
    auto& lane = lanes[l];
    // Mostly recent values, sometimes old ones (long live ranges).
    auto pick = [&] {
      const int n = static_cast<int>(lane.size());
      return lane[rng.Below(4) == 0 ? rng.Below(n) : std::max(0, n - 1 - rng.Below(3))];
    };
    const std::string name = absl::StrCat("n", i);
    const int kind = rng.Below(10);
    if (kind < 5) {
      absl::StrAppend(&body, "%", name, " = ", binary[rng.Below(3)], "(%", pick(), ", %", pick(),
                      ") : ", lane_types[l], "\n");
    } else if (kind < 8) {
      absl::StrAppend(&body, "%", name, " = ", unary[rng.Below(3)], "(%", pick(),
                      ") : ", lane_types[l], "\n");
    } else {
      const std::string src = pick();
      absl::StrAppend(&body, "%", name, "_flat = Reshape(%", src, ") {shape=", lane_flat[l],
                      "} : f32", lane_flat[l], "\n", "%", name, " = Reshape(%", name,
                      "_flat) {shape=", lane_shape[l], "} : ", lane_types[l], "\n");
    }
    lane.push_back(name);
    all.push_back(name);
  }
  std::string outs;
  std::vector<std::string> chosen;
  while (chosen.size() < 4) {
    const std::string& name = all[rng.Below(static_cast<int>(all.size()))];
    if (std::find(chosen.begin(), chosen.end(), name) != chosen.end()) continue;
    absl::StrAppend(&outs, chosen.empty() ? "%" : ", %", name);
    chosen.push_back(name);
  }
  absl::StrAppend(&body, "outputs(", outs, ")");
  return Parse(body);
}

TEST(PassesMemoryPlan, RandomDagsNeverOverlapLiveBuffers) {
  for (uint64_t seed = 1; seed <= 25; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    const Graph g = RandomDag(seed);
    ASSERT_TRUE(Verify(g).ok()) << Verify(g);
    auto plan = PlanMemory(g);
    ASSERT_TRUE(plan.ok()) << plan.status();
    CheckPlan(g, *plan);
    EXPECT_LT(plan->arena_bytes, plan->naive_bytes);
    if (HasFailure()) break;
  }
}

}  // namespace
}  // namespace kiln
