// Fuse, forward: contractions absorb their elementwise consumers into epilogues (any
// activation, bias, residual adds, scaling, gradient masks) and pools join the conv kernel.
#include "tests/ir_passes_util.h"

namespace kiln {
namespace {

using ::testing::ElementsAre;
using namespace pass_test;  // NOLINT(build/namespaces)

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

// A one-channel 4x4 input through a "same" 3x3 conv with two filters and a bias.
constexpr char kSmallConv[] = R"(
    %x = Input() : f32[1,4,4,1]
    %w = Parameter() {trainable=1} : f32[3,3,1,2]
    %b = Parameter() {trainable=1} : f32[2]
    %c = Conv2D(%x, %w, %b) {padding="same", strides=[1,1]} : f32[1,4,4,2])";

TEST(PassesFuse, AnyActivationJoinsTheConvEpilogue) {
  for (const char* act : {"Tanh", "Sigmoid"}) {
    Graph g =
        Fused(absl::StrCat(kSmallConv, "\n    %y = ", act, "(%c) : f32[1,4,4,2]\n    outputs(%y)"));
    const Node& y = Named(g, "y");
    EXPECT_EQ(y.op, OpKind::kFusedConv2D);
    EXPECT_THAT(InputNames(g, "y"), ElementsAre("x", "w", "b"));
    EXPECT_EQ(y.GetStr("epilogue"), absl::StrCat("in0 ", absl::AsciiStrToLower(act)));
  }
}

// GELU's gradient reads the conv result, so the conv has two readers: one kernel keeps both
// (keep = 1), and the conv and the activation become Views of its flat result.
TEST(PassesFuse, ActivationWhoseGradientReadsItsInputKeepsTheConvResult) {
  Graph g = Fused(std::string(kSmallConv) + R"(
    %y = Gelu(%c) : f32[1,4,4,2]
    %dy = Input() : f32[1,4,4,2]
    %dc = GeluGrad(%c, %dy) : f32[1,4,4,2]
    outputs(%y, %dc))");
  const Node& y = Named(g, "y");
  const Node& c = Named(g, "c");
  ASSERT_EQ(y.op, OpKind::kView) << PrintGraph(g);
  ASSERT_EQ(c.op, OpKind::kView) << PrintGraph(g);
  ASSERT_EQ(y.inputs, c.inputs);
  const Node& fused = g.node(y.inputs[0]);
  EXPECT_EQ(fused.op, OpKind::kFusedConv2D);
  EXPECT_EQ(fused.GetStr("epilogue"), "in0 gelu");
  EXPECT_EQ(fused.GetInt("keep"), 1);
  EXPECT_EQ(fused.type, (TensorType{DType::kF32, {64}}));
  EXPECT_EQ(y.GetInt("offset"), 0);
  EXPECT_EQ(c.GetInt("offset"), 32);
  EXPECT_EQ(c.GetInts("shape"), (Dims{1, 4, 4, 2}));
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

// A conv that is an output or has another reader is kept beside the first activation (one
// kernel writes both); a second activation reads the kept result.
TEST(PassesFuse, Conv2DThatIsAnOutputOrSharedIsKeptBesideTheActivation) {
  Graph out = Fused(std::string(kConvRelu) + "\noutputs(%y, %c)");
  ASSERT_EQ(Named(out, "c").op, OpKind::kView) << PrintGraph(out);
  ASSERT_EQ(Named(out, "y").op, OpKind::kView) << PrintGraph(out);
  const Node& fused = out.node(Named(out, "y").inputs[0]);
  EXPECT_EQ(fused.op, OpKind::kFusedConv2D);
  EXPECT_EQ(fused.GetInt("keep"), 1);
  EXPECT_EQ(Named(out, "c").inputs, Named(out, "y").inputs);
  EXPECT_THAT(OutputNames(out), ElementsAre("y", "c"));
  Graph shared = Fused(std::string(kConvRelu) + R"(
    %t = Tanh(%c) : f32[2,3,3,4]
    outputs(%y, %t))");
  EXPECT_EQ(Named(shared, "c").op, OpKind::kView) << PrintGraph(shared);
  // Whichever activation the pass met first is kept with the conv; the other reads c.
  const bool y_kept = Named(shared, "y").op == OpKind::kView;
  EXPECT_NE(y_kept, Named(shared, "t").op == OpKind::kView) << PrintGraph(shared);
  EXPECT_THAT(InputNames(shared, y_kept ? "t" : "y"), ElementsAre("c"));
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

TEST(PassesFuse, DenseOutputIsKeptBesideTheRelu) {
  // d is an output: MatMul+BiasAdd fuse, and the Relu joins them keeping d (keep = 1).
  Graph g = Fused(std::string(kDense) + R"(
    %r = Relu(%d) : f32[4,5]
    outputs(%r, %d))");
  ASSERT_EQ(Named(g, "d").op, OpKind::kView) << PrintGraph(g);
  ASSERT_EQ(Named(g, "r").op, OpKind::kView) << PrintGraph(g);
  const Node& fused = g.node(Named(g, "r").inputs[0]);
  EXPECT_EQ(fused.op, OpKind::kFusedDense);
  EXPECT_EQ(fused.GetStr("epilogue"), "in0 relu");
  EXPECT_EQ(fused.GetInt("keep"), 1);
  EXPECT_EQ(Named(g, "d").GetInt("offset"), 20);
}

TEST(PassesFuse, SharedMatMulIsKeptBesideItsActivation) {
  // mm has two readers: the bias add stays, reading the matmul kept beside tanh(mm).
  Graph g = Fused(std::string(kDense) + R"(
    %t = Tanh(%mm) : f32[4,5]
    outputs(%d, %t))");
  EXPECT_EQ(Named(g, "mm").op, OpKind::kView) << PrintGraph(g);
  EXPECT_EQ(Named(g, "t").op, OpKind::kView);
  EXPECT_EQ(Named(g, "d").op, OpKind::kBiasAdd);
  EXPECT_THAT(InputNames(g, "d"), ElementsAre("mm", "bias"));
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

}  // namespace
}  // namespace kiln
