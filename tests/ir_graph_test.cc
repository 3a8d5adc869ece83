#include "gtest/gtest.h"
#include "ir/graph.h"

namespace kiln {
namespace {

TensorType F32(Dims dims) { return {DType::kF32, std::move(dims)}; }

Attrs ConvAttrs(int64_t stride, const char* padding) {
  return {{"strides", AttrValue::Ints({stride, stride})}, {"padding", AttrValue::Str(padding)}};
}
Attrs PoolAttrs(int64_t size, int64_t stride, const char* padding) {
  return {{"pool", AttrValue::Ints({size, size})},
          {"strides", AttrValue::Ints({stride, stride})},
          {"padding", AttrValue::Str(padding)}};
}

// The course's shape arithmetic.
TEST(ShapeInference, CourseConvAndPoolSizes) {
  Graph g;
  NodeId x = *g.AddSource(OpKind::kInput, "x", F32({1, 28, 28, 1}));
  NodeId w3 = *g.AddSource(OpKind::kParameter, "w3", F32({3, 3, 1, 64}));
  NodeId w5 = *g.AddSource(OpKind::kParameter, "w5", F32({5, 5, 1, 64}));
  auto c3 = g.AddOp(OpKind::kConv2D, "c3", {x, w3}, ConvAttrs(1, "valid"));
  ASSERT_TRUE(c3.ok()) << c3.status();
  EXPECT_EQ(g.node(*c3).type.dims, (Dims{1, 26, 26, 64}));
  auto c5 = g.AddOp(OpKind::kConv2D, "c5", {x, w5}, ConvAttrs(1, "valid"));
  ASSERT_TRUE(c5.ok());
  EXPECT_EQ(g.node(*c5).type.dims, (Dims{1, 24, 24, 64}));
  auto p = g.AddOp(OpKind::kMaxPool2D, "p", {*c3}, PoolAttrs(2, 2, "valid"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(g.node(*p).type.dims, (Dims{1, 13, 13, 64}));
  NodeId x11 = *g.AddSource(OpKind::kInput, "x11", F32({1, 11, 11, 64}));
  auto p5 = g.AddOp(OpKind::kMaxPool2D, "p5", {x11}, PoolAttrs(2, 2, "valid"));
  ASSERT_TRUE(p5.ok());
  EXPECT_EQ(g.node(*p5).type.dims, (Dims{1, 5, 5, 64}));
  auto flat = g.AddOp(OpKind::kReshape, "flat", {*p5}, {{"shape", AttrValue::Ints({1, 1600})}});
  ASSERT_TRUE(flat.ok());
  EXPECT_EQ(g.node(*flat).type.dims, (Dims{1, 5 * 5 * 64}));
  auto same = g.AddOp(OpKind::kConv2D, "same", {x, w3}, ConvAttrs(2, "same"));
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(g.node(*same).type.dims, (Dims{1, 14, 14, 64}));
}

TEST(ShapeInference, KernelLargerThanInputNamesNodeAndShapes) {
  Graph g;
  NodeId x = *g.AddSource(OpKind::kInput, "x", F32({1, 3, 3, 1}));
  NodeId w = *g.AddSource(OpKind::kParameter, "w", F32({5, 5, 1, 8}));
  auto c = g.AddOp(OpKind::kConv2D, "conv", {x, w}, ConvAttrs(1, "valid"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("'conv'"), std::string::npos) << c.status();
  EXPECT_NE(c.status().message().find("5x5"), std::string::npos) << c.status();
  EXPECT_NE(c.status().message().find("3x3"), std::string::npos) << c.status();
}

TEST(ShapeInference, RejectsBadAttributesAndTypes) {
  Graph g;
  NodeId x = *g.AddSource(OpKind::kInput, "x", F32({2, 8, 8, 3}));
  NodeId w = *g.AddSource(OpKind::kParameter, "w", F32({3, 3, 4, 8}));
  EXPECT_FALSE(g.AddOp(OpKind::kConv2D, "channels", {x, w}, ConvAttrs(1, "valid")).ok());
  NodeId w3 = *g.AddSource(OpKind::kParameter, "w3", F32({3, 3, 3, 8}));
  EXPECT_FALSE(g.AddOp(OpKind::kConv2D, "stride0", {x, w3}, ConvAttrs(0, "valid")).ok());
  EXPECT_FALSE(g.AddOp(OpKind::kConv2D, "pad", {x, w3}, ConvAttrs(1, "full")).ok());
  EXPECT_FALSE(g.AddOp(OpKind::kConv2D, "noattrs", {x, w3}).ok());
  EXPECT_FALSE(g.AddOp(OpKind::kRelu, "arity", {x, x}).ok());
  NodeId m = *g.AddSource(OpKind::kInput, "m", F32({4, 5}));
  NodeId n = *g.AddSource(OpKind::kInput, "n", F32({4, 5}));
  Attrs mm = {{"transpose_a", AttrValue::Int(0)}, {"transpose_b", AttrValue::Int(0)}};
  EXPECT_FALSE(g.AddOp(OpKind::kMatMul, "mm", {m, n}, mm).ok());
  mm["transpose_b"] = AttrValue::Int(1);
  auto ok = g.AddOp(OpKind::kMatMul, "mm_t", {m, n}, mm);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(g.node(*ok).type.dims, (Dims{4, 4}));
  EXPECT_FALSE(g.AddOp(OpKind::kAdd, "add", {x, m}).ok());
  NodeId labels = *g.AddSource(OpKind::kInput, "labels", {DType::kI32, {4, 5}});
  EXPECT_FALSE(g.AddOp(OpKind::kAdd, "dtype", {m, labels}).ok());
  EXPECT_FALSE(g.AddSource(OpKind::kInput, "x", F32({1})).ok()) << "duplicate name";
}

TEST(ShapeInference, OverflowingShapeIsAnError) {
  Graph g;
  auto big = g.AddSource(OpKind::kInput, "big", F32({int64_t{1} << 40, int64_t{1} << 40}));
  EXPECT_FALSE(big.ok());
  EXPECT_FALSE(CheckedNumElements({-1, 3}).ok());
}

TEST(Verifier, RejectsCycleDanglingAndTypeMismatch) {
  Graph g;
  NodeId x = *g.AddSource(OpKind::kInput, "x", F32({2, 3}));
  NodeId a = *g.AddOp(OpKind::kRelu, "a", {x});
  NodeId b = *g.AddOp(OpKind::kTanh, "b", {a});
  ASSERT_TRUE(Verify(g).ok());
  g.mutable_node(a).inputs = {b};
  auto cycle = Verify(g);
  EXPECT_FALSE(cycle.ok());
  EXPECT_NE(cycle.message().find("cycle"), std::string::npos) << cycle;
  g.mutable_node(a).inputs = {42};
  auto dangling = Verify(g);
  EXPECT_NE(dangling.message().find("'a'"), std::string::npos) << dangling;
  g.mutable_node(a).inputs = {x};
  g.mutable_node(b).type = F32({3, 2});
  auto mismatch = Verify(g);
  EXPECT_NE(mismatch.message().find("'b'"), std::string::npos) << mismatch;
  EXPECT_NE(mismatch.message().find("inferred"), std::string::npos) << mismatch;
}

TEST(Verifier, TopologicalOrderPutsInputsFirst) {
  Graph g;
  Node y;
  y.op = OpKind::kRelu;
  y.name = "y";
  y.inputs = {1};
  y.type = F32({2});
  g.AddRaw(y);
  Node x;
  x.op = OpKind::kInput;
  x.name = "x";
  x.type = F32({2});
  g.AddRaw(x);
  auto order = g.TopologicalOrder();
  ASSERT_TRUE(order.ok());
  EXPECT_EQ(*order, (std::vector<NodeId>{1, 0}));
  EXPECT_TRUE(Verify(g).ok());
}

}  // namespace
}  // namespace kiln
