// Differentiate itself: fan-in sums, unused parameters, ops without a rule, bad losses.
#include "tests/autodiff_gradcheck.h"

namespace kiln {
namespace {

using namespace gradcheck_test;  // NOLINT(build/namespaces)

// ---------------------------------------------------------------------------------------------
// Differentiate itself.

// Runs `graph` with `feeds` and returns node `name`.
Tensor Evaluate(Graph graph, const std::vector<NodeId>& outputs,
                const std::map<std::string, Tensor>& feeds, const std::string& name) {
  graph.set_outputs(outputs);
  auto exe = CreateInterpreter(std::move(graph));
  EXPECT_TRUE(exe.ok()) << exe.status();
  if (!exe.ok()) return Tensor();
  for (const auto& [n, v] : feeds) EXPECT_TRUE((*exe)->SetTensor(n, v).ok()) << n;
  EXPECT_TRUE((*exe)->Run().ok());
  auto t = (*exe)->GetTensor(name);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *t : Tensor();
}

TEST(Differentiate, FanInSumsGradients) {
  // y = x*x + x uses x three times; d sum(y) / dx = 2x + 1.
  Case t("FanIn");
  const std::vector<float> xs = {-1.5f, -0.25f, 0.0f, 0.5f, 2.0f};
  NodeId x = t.Param("x", {5}, xs);
  NodeId sq = t.Op(OpKind::kMul, "sq", {x, x});
  NodeId y = t.Op(OpKind::kAdd, "y", {sq, x});
  NodeId loss = t.Op(OpKind::kReduceSum, "loss", {y},
                     {{"axes", AttrValue::Ints({0})}, {"keepdims", AttrValue::Int(0)}});
  ASSERT_GE(loss, 0);
  Graph g = t.graph();
  auto grads = Differentiate(g, loss, {x});
  ASSERT_TRUE(grads.ok()) << grads.status();
  ASSERT_EQ(grads->size(), 1u);
  EXPECT_EQ(g.node((*grads)[0]).type, F32({5}));
  Tensor dx = Evaluate(g, {loss, (*grads)[0]}, t.feeds(), g.node((*grads)[0]).name);
  ASSERT_EQ(dx.size(), 5);
  for (int i = 0; i < 5; ++i) EXPECT_FLOAT_EQ(dx.f32()[i], 2.0f * xs[i] + 1.0f) << "x=" << xs[i];
  t.Check(loss);
}

TEST(Differentiate, FanInThroughTwoBranches) {
  // The same parameter reaching the loss through two different ops, and a projection.
  Case t("FanIn", 107);
  NodeId x = t.Param("x", {2, 3});
  NodeId s = t.Op(OpKind::kSigmoid, "s", {x});
  NodeId th = t.Op(OpKind::kTanh, "th", {x});
  NodeId y = t.Op(OpKind::kMul, "y", {s, th});
  ASSERT_GE(y, 0);
  t.ProjectAndCheck(y);
}

TEST(Differentiate, UnusedParameterGetsZeros) {
  Case t("Unused");
  NodeId x = t.Param("x", {3});
  NodeId unused = t.Param("unused", {2, 2});
  NodeId y = t.Op(OpKind::kTanh, "y", {x});
  NodeId loss = t.Op(OpKind::kReduceSum, "loss", {y},
                     {{"axes", AttrValue::Ints({0})}, {"keepdims", AttrValue::Int(0)}});
  ASSERT_GE(loss, 0);
  Graph g = t.graph();
  auto grads = Differentiate(g, loss, {x, unused});
  ASSERT_TRUE(grads.ok()) << grads.status();
  ASSERT_EQ(grads->size(), 2u);
  EXPECT_EQ(g.node((*grads)[1]).type, F32({2, 2}));
  Tensor dz = Evaluate(g, {loss, (*grads)[0], (*grads)[1]}, t.feeds(), g.node((*grads)[1]).name);
  ASSERT_EQ(dz.size(), 4);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(dz.f32()[i], 0.0f);
  Tensor dx = Evaluate(g, {loss, (*grads)[0], (*grads)[1]}, t.feeds(), g.node((*grads)[0]).name);
  const Tensor& xv = t.feeds().at("x");
  for (int i = 0; i < 3; ++i) {
    const float th = std::tanh(xv.f32()[i]);
    EXPECT_NEAR(dx.f32()[i], 1.0f - th * th, 1e-6);
  }
}

TEST(Differentiate, OpWithoutRuleNamesOpAndNode) {
  Graph g;
  NodeId x = *g.AddSource(OpKind::kParameter, "x", F32({2, 3}), {{"trainable", AttrValue::Int(1)}});
  // ReduceMax has a rule only without keepdims.
  auto max = g.AddOp(OpKind::kReduceMax, "row_max", {x},
                     {{"axes", AttrValue::Ints({1})}, {"keepdims", AttrValue::Int(1)}});
  ASSERT_TRUE(max.ok()) << max.status();
  auto loss = g.AddOp(OpKind::kReduceSum, "loss", {*max},
                      {{"axes", AttrValue::Ints({0, 1})}, {"keepdims", AttrValue::Int(0)}});
  ASSERT_TRUE(loss.ok()) << loss.status();
  auto grads = Differentiate(g, *loss, {x});
  ASSERT_FALSE(grads.ok());
  EXPECT_NE(grads.status().message().find("ReduceMax"), std::string::npos) << grads.status();
  EXPECT_NE(grads.status().message().find("row_max"), std::string::npos) << grads.status();
}

TEST(Differentiate, OpWithoutRuleOffThePathIsFine) {
  // ReduceMax of an Input that no parameter reaches needs no rule.
  Graph g;
  NodeId x = *g.AddSource(OpKind::kParameter, "x", F32({3}), {{"trainable", AttrValue::Int(1)}});
  NodeId in = *g.AddSource(OpKind::kInput, "in", F32({3}));
  NodeId m = *g.AddOp(OpKind::kReduceMax, "m", {in},
                      {{"axes", AttrValue::Ints({0})}, {"keepdims", AttrValue::Int(0)}});
  NodeId y = *g.AddOp(OpKind::kMul, "y", {x, m});
  NodeId loss = *g.AddOp(OpKind::kReduceSum, "loss", {y},
                         {{"axes", AttrValue::Ints({0})}, {"keepdims", AttrValue::Int(0)}});
  auto grads = Differentiate(g, loss, {x});
  ASSERT_TRUE(grads.ok()) << grads.status();
  Tensor dx = Evaluate(g, {loss, (*grads)[0]},
                       {{"x", Tensor::F32({3}, {1, 2, 3})}, {"in", Tensor::F32({3}, {-1, 4, 2})}},
                       g.node((*grads)[0]).name);
  ASSERT_EQ(dx.size(), 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(dx.f32()[i], 4.0f);
}

TEST(Differentiate, RejectsNonScalarLoss) {
  Graph g;
  NodeId x = *g.AddSource(OpKind::kParameter, "x", F32({3}), {{"trainable", AttrValue::Int(1)}});
  NodeId y = *g.AddOp(OpKind::kTanh, "vector_loss", {x});
  auto grads = Differentiate(g, y, {x});
  ASSERT_FALSE(grads.ok());
  EXPECT_NE(grads.status().message().find("vector_loss"), std::string::npos) << grads.status();

  NodeId one = *g.AddOp(OpKind::kReduceSum, "one_element", {x},
                        {{"axes", AttrValue::Ints({0})}, {"keepdims", AttrValue::Int(1)}});
  ASSERT_EQ(g.node(one).type, F32({1}));
  EXPECT_FALSE(Differentiate(g, one, {x}).ok()) << "f32[1] is not a scalar";

  // CheckGradients rejects it too.
  auto checked = CheckGradients(g, y, {x}, {{"x", Tensor::F32({3}, {1, 2, 3})}});
  EXPECT_FALSE(checked.ok());
}

}  // namespace
}  // namespace kiln
