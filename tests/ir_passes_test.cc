// The graph passes Simplify and CSE one by one, and the pipeline that chains them with Fuse.
// Graphs are written in the text form so each case reads like the IR it exercises. Fuse:
// ir_passes_fuse_*_test.cc; the memory planner: ir_memory_plan_test.cc.
#include "tests/ir_passes_util.h"

namespace kiln {
namespace {

using ::testing::ElementsAre;
using namespace pass_test;  // NOLINT(build/namespaces)

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

}  // namespace
}  // namespace kiln
