// Fuse, backward and elsewhere: pool gradients, updates in weight-gradient kernels, softmax
// cross-entropy with its gradient, the first layer's backward pass, elementwise programs.
#include "tests/ir_passes_util.h"

namespace kiln {
namespace {

using ::testing::ElementsAre;
using namespace pass_test;  // NOLINT(build/namespaces)

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
  std::vector<const float*> in;
  for (const float& v : inputs) in.push_back(&v);
  float out = 0;
  kiln::EvalProgram(*code, in, std::vector<bool>(inputs.size(), false), &out, 1);
  return out;
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
  const float want = EvalElementwise(OpKind::kSigmoid, (std::tanh(x) - x) * s);
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

}  // namespace
}  // namespace kiln
