#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/dot.h"
#include "ir/graph.h"
#include "ir/text_format.h"

namespace kiln {
namespace {

using ::testing::HasSubstr;

TensorType F32(Dims dims) { return {DType::kF32, std::move(dims)}; }

// A small CNN touching every attribute kind and a tricky Constant.
Graph BuildCnn() {
  Graph g("mnist-cnn");
  NodeId image = *g.AddSource(OpKind::kInput, "image", F32({4, 8, 8, 1}));
  NodeId kernel = *g.AddSource(OpKind::kParameter, "conv2d/kernel", F32({3, 3, 1, 2}));
  NodeId bias =
      *g.AddSource(OpKind::kParameter, "conv2d/bias", F32({2}), {{"trainable", AttrValue::Int(0)}});
  Attrs conv_attrs = {{"strides", AttrValue::Ints({1, 1})}, {"padding", AttrValue::Str("valid")}};
  NodeId conv = *g.AddOp(OpKind::kConv2D, "conv2d", {image, kernel, bias}, conv_attrs);
  NodeId relu = *g.AddOp(OpKind::kRelu, "conv2d/relu", {conv});
  NodeId pool = *g.AddOp(OpKind::kMaxPool2D, "max_pooling2d", {relu},
                         {{"pool", AttrValue::Ints({2, 2})},
                          {"strides", AttrValue::Ints({2, 2})},
                          {"padding", AttrValue::Str("valid")}});
  NodeId flat =
      *g.AddOp(OpKind::kReshape, "flatten", {pool}, {{"shape", AttrValue::Ints({4, 18})}});
  NodeId w = *g.AddSource(OpKind::kParameter, "dense/kernel", F32({18, 10}));
  NodeId mm = *g.AddOp(OpKind::kMatMul, "dense/matmul", {flat, w},
                       {{"transpose_a", AttrValue::Int(0)}, {"transpose_b", AttrValue::Int(0)}});
  NodeId b = *g.AddSource(OpKind::kParameter, "dense/bias", F32({10}));
  NodeId dense = *g.AddOp(OpKind::kBiasAdd, "dense", {mm, b});
  NodeId probs = *g.AddOp(OpKind::kSoftmax, "probs", {dense}, {{"axis", AttrValue::Int(-1)}});
  NodeId half =
      *g.AddSource(OpKind::kConstant, "half", F32({}), {{"value", AttrValue::Floats({0.5f})}});
  NodeId scaled = *g.AddOp(OpKind::kMul, "scaled", {probs, half});
  NodeId loss = *g.AddOp(OpKind::kReduceMean, "loss", {scaled},
                         {{"axes", AttrValue::Ints({0, 1})}, {"keepdims", AttrValue::Int(0)}});
  NodeId pred = *g.AddOp(OpKind::kArgMax, "pred", {probs}, {{"axis", AttrValue::Int(1)}});
  std::vector<float> values = {0.1f, -3.4e38f, FLT_MIN, 1e-45f, -0.0f, 1.0f / 3.0f};
  NodeId c =
      *g.AddSource(OpKind::kConstant, "c", F32({2, 3}), {{"value", AttrValue::Floats(values)}});
  g.set_outputs({loss, pred, c});
  return g;
}

void ExpectSameGraph(const Graph& a, const Graph& b) {
  EXPECT_EQ(a.name(), b.name());
  ASSERT_EQ(a.num_nodes(), b.num_nodes());
  for (NodeId id = 0; id < a.num_nodes(); ++id) {
    const Node& x = a.node(id);
    const Node& y = b.node(id);
    EXPECT_EQ(x.id, y.id);
    EXPECT_EQ(x.op, y.op) << x.name;
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.inputs, y.inputs) << x.name;
    EXPECT_TRUE(x.attrs == y.attrs) << x.name;
    EXPECT_EQ(x.type, y.type) << x.name;
  }
  EXPECT_EQ(a.outputs(), b.outputs());
}

TEST(TextFormat, CnnRoundTripsExactly) {
  Graph g = BuildCnn();
  ASSERT_TRUE(Verify(g).ok());
  std::string text = PrintGraph(g);
  EXPECT_THAT(text, HasSubstr("graph \"mnist-cnn\" {\n"));
  EXPECT_THAT(text, HasSubstr("  %image = Input() : f32[4,8,8,1]\n"));
  EXPECT_THAT(text, HasSubstr("  %conv2d/bias = Parameter() {trainable=0} : f32[2]\n"));
  EXPECT_THAT(text, HasSubstr("  %conv2d = Conv2D(%image, %conv2d/kernel, %conv2d/bias) "
                              "{padding=\"valid\", strides=[1,1]} : f32[4,6,6,2]\n"));
  EXPECT_THAT(text, HasSubstr("{value=[0.1, -3.4e+38, 1.1754944e-38, 1e-45, -0, 0.33333334]}"));
  EXPECT_THAT(text, HasSubstr("  %pred = ArgMax(%probs) {axis=1} : i32[4]\n"));
  EXPECT_THAT(text, HasSubstr("  outputs(%loss, %pred, %c)\n}\n"));
  auto parsed = ParseGraph(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << text;
  ExpectSameGraph(g, *parsed);
  EXPECT_EQ(PrintGraph(*parsed), text);
  const auto& values = parsed->node(parsed->Find("c")).GetFloats("value");
  ASSERT_EQ(values.size(), 6u);
  EXPECT_TRUE(std::signbit(values[4]));
  EXPECT_EQ(values[3], 1e-45f);
}

TEST(TextFormat, ParsesHandWrittenTextWithForwardReferences) {
  auto g = ParseGraph(R"(graph "tiny" {
    # The user comes before its input.
    %y = Relu(%x) : f32[2,3]
    %x = Input() : f32[2,3]
    %s = ReduceSum(%y) {keepdims=0, axes=[1]} : f32[2]
    %"odd name" = Tanh(%s) : f32[2]
    outputs(%s, %"odd name")
  })");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->name(), "tiny");
  ASSERT_EQ(g->num_nodes(), 4);
  EXPECT_EQ(g->node(0).name, "y");
  EXPECT_EQ(g->node(0).op, OpKind::kRelu);
  EXPECT_EQ(g->node(0).inputs, (std::vector<NodeId>{1}));
  EXPECT_EQ(g->node(1).type, F32({2, 3}));
  EXPECT_EQ(g->node(2).GetInts("axes"), (std::vector<int64_t>{1}));
  EXPECT_EQ(g->node(2).GetInt("keepdims"), 0);
  EXPECT_EQ(g->node(3).name, "odd name");
  EXPECT_EQ(g->outputs(), (std::vector<NodeId>{2, 3}));
  std::string text = PrintGraph(*g);
  EXPECT_THAT(text, HasSubstr("%\"odd name\" = Tanh(%s) : f32[2]"));
  auto again = ParseGraph(text);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(PrintGraph(*again), text);
}

TEST(TextFormat, QuotedNamesRoundTrip) {
  Graph g("a \"quoted\" \\ name\n");
  NodeId x = *g.AddSource(OpKind::kInput, "x y\t\"z\"\x01", F32({1}));
  g.set_outputs({*g.AddOp(OpKind::kRelu, "\xc3\xa9t\xc3\xa9", {x})});
  std::string text = PrintGraph(g);
  auto parsed = ParseGraph(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << text;
  ExpectSameGraph(g, *parsed);
  EXPECT_EQ(PrintGraph(*parsed), text);
}

TEST(TextFormat, AttrValuesRoundTrip) {
  EXPECT_EQ(FormatAttrValue(AttrValue::Float(3.0)), "3.0");
  EXPECT_EQ(FormatAttrValue(AttrValue::Float(0.1)), "0.1");
  EXPECT_EQ(FormatAttrValue(AttrValue::Float(-0.0)), "-0.0");
  EXPECT_EQ(FormatAttrValue(AttrValue::Float(1e300)), "1e+300");
  EXPECT_EQ(FormatAttrValue(AttrValue::Float(INFINITY)), "inf");
  EXPECT_EQ(FormatAttrValue(AttrValue::Float(-INFINITY)), "-inf");
  EXPECT_EQ(FormatAttrValue(AttrValue::Ints({})), "[]");
  EXPECT_EQ(FormatAttrValue(AttrValue::Ints({1, -2})), "[1,-2]");
  EXPECT_EQ(FormatAttrValue(AttrValue::Floats({1.0f, 2.5f})), "[1, 2.5]");
  EXPECT_EQ(FormatAttrValue(AttrValue::Str("a\"b\\c")), R"("a\"b\\c")");
  const double doubles[] = {0.1, 1.0 / 3.0, -1e-300, 4.9e-324, DBL_MAX, 123456789.0, 1e22};
  for (double d : doubles) {
    auto back = ParseAttrValue(FormatAttrValue(AttrValue::Float(d)), AttrKind::kFloat);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->f, d);
  }
  auto nan = ParseAttrValue(FormatAttrValue(AttrValue::Float(NAN)), AttrKind::kFloat);
  ASSERT_TRUE(nan.ok());
  EXPECT_TRUE(std::isnan(nan->f));
  std::vector<float> floats = {0.1f, 1e-45f, FLT_MAX, -FLT_MAX, -0.0f, INFINITY, 16777217.0f};
  auto back = ParseAttrValue(FormatAttrValue(AttrValue::Floats(floats)), AttrKind::kFloats);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->floats.size(), floats.size());
  EXPECT_EQ(std::memcmp(back->floats.data(), floats.data(), floats.size() * sizeof(float)), 0);
  std::string odd = std::string("q\"\\\n\t\r\x01\x7f\xff", 9);
  auto str = ParseAttrValue(FormatAttrValue(AttrValue::Str(odd)), AttrKind::kStr);
  ASSERT_TRUE(str.ok()) << str.status();
  EXPECT_EQ(str->s, odd);
  // The schema decides: an integer literal is a fine float, not the other way round.
  EXPECT_EQ(ParseAttrValue("3", AttrKind::kFloat)->f, 3.0);
  EXPECT_EQ(ParseAttrValue("-9223372036854775808", AttrKind::kInt)->i, INT64_MIN);
  for (const char* bad : {"9223372036854775808", "1.5", "1x", "0x10", "", "[1]", "1 2"}) {
    EXPECT_FALSE(ParseAttrValue(bad, AttrKind::kInt).ok()) << bad;
  }
  for (const char* bad : {"1e999", "1.0.0", "--1", "[1]", "x", "\"1\""}) {
    EXPECT_FALSE(ParseAttrValue(bad, AttrKind::kFloat).ok()) << bad;
  }
  for (const char* bad : {"[1,,2]", "[1,]", "[1e39]", "[1", "1", "[\"a\"]"}) {
    EXPECT_FALSE(ParseAttrValue(bad, AttrKind::kFloats).ok()) << bad;
  }
  for (const char* bad : {"valid", "\"abc", "\"a\\qb\"", "\"a\\x4\"", "\"a\nb\""}) {
    EXPECT_FALSE(ParseAttrValue(bad, AttrKind::kStr).ok()) << bad;
  }
}

// Parses `body` wrapped in a graph (body starts on line 2) and expects an InvalidArgument error
// containing every one of `parts`.
void ExpectError(const std::string& body, std::vector<std::string> parts) {
  std::string text = "graph \"g\" {\n" + body + "\n}\n";
  auto g = ParseGraph(text);
  ASSERT_FALSE(g.ok()) << text;
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
  for (const std::string& part : parts) {
    EXPECT_THAT(std::string(g.status().message()), HasSubstr(part)) << text;
  }
}

TEST(TextFormat, ErrorsNameTheLineAndNode) {
  const std::string x = "%x = Input() : f32[2,3]\n";
  ExpectError(x + "%a = Foo(%x) : f32[2,3]", {"line 3", "unknown op 'Foo'", "'a'"});
  ExpectError(x + "%b = Relu(%nope) : f32[2,3]", {"line 3", "dangling input '%nope' of node 'b'"});
  ExpectError(x + "%x = Relu(%x) : f32[2,3]", {"line 3", "duplicate node name 'x'", "line 2"});
  ExpectError(x + "%y = Relu(%x) : f32[3,2]", {"'y'", "inferred f32[2,3]"});
  ExpectError(x + "%y = Relu(%x) : i32[2,3]", {"'y'", "f32"});
  ExpectError("%p = Relu(%q) : f32[1]\n%q = Relu(%p) : f32[1]", {"cycle"});
  ExpectError(x + "%s = Softmax(%x) : f32[2,3]", {"line 3", "'s'", "missing attribute 'axis'"});
  ExpectError(x + "%r = Relu(%x) {alpha=1} : f32[2,3]",
              {"line 3", "unknown attribute 'alpha'", "'r'"});
  ExpectError(x + "%s = Softmax(%x) {axis=1, axis=1} : f32[2,3]", {"duplicate attribute 'axis'"});
  ExpectError("%x = Input() : f64[2]", {"line 2", "bad dtype 'f64'", "'x'"});
  ExpectError("%x = Input() : f32[-1]", {"line 2", "bad dimension -1", "'x'"});
  ExpectError("%x = Input() : f32[2,y]", {"dimension", "found 'y'", "'x'"});
  ExpectError("%x = Input() : f32[99999999999999999999]", {"dimension", "'x'"});
  ExpectError("%x = Input() : f32[4294967296,4294967296]", {"line 2", "too large", "'x'"});
  ExpectError("%x = Input() : f32[2", {"line 3", "expected ']'", "'x'"});
  ExpectError(x + "%s = Softmax(%x) {axis=1.5} : f32[2,3]",
              {"line 3", "integer", "'axis'", "'1.5'"});
  ExpectError(x + "%s = Softmax(%x) {axis=1x} : f32[2,3]", {"line 3", "integer", "'s'"});
  ExpectError("%c = Constant() {value=[1.0.0]} : f32[1]", {"line 2", "float32", "'c'"});
  ExpectError("%c = Constant() {value=[1e39]} : f32[1]", {"float32", "'c'"});
  ExpectError("%c = Constant() {value=[1, 2]} : f32[3]", {"'c'", "2 values"});
  ExpectError(x + "%p = MaxPool2D(%x) {padding=valid, pool=[2,2], strides=[2,2]} : f32[1]",
              {"line 3", "quoted string", "'padding'", "'p'"});
  ExpectError("%x = Input() : f32[1]\noutputs(%x, %zz)", {"line 3", "unknown graph output '%zz'"});
  ExpectError("%x = Input() : f32[1]\noutputs(%x)\noutputs(%x)",
              {"line 4", "one 'outputs(...)'", "found 'outputs'"});
  ExpectError(x + "%r = Relu(%x, %x) : f32[2,3]", {"'r'", "inputs"});
  ExpectError("%x = Input() : f32[1] %", {"line 2", "node name"});
  ExpectError("%x = Input() : f32[1] @", {"line 2", "unexpected character @"});
  ExpectError("%\"x = Input() : f32[1]", {"line 2", "unterminated"});
  ExpectError("%x = Input() : f32[1]\n}\nextra", {"line 4", "end of input", "'extra'"});
  ExpectError("%x Input() : f32[1]", {"line 2", "expected '='", "'x'"});
  ExpectError("%x = Input() f32[1]", {"line 2", "expected ':'", "'x'"});
  EXPECT_THAT(std::string(ParseGraph("graf \"g\" {}").status().message()), HasSubstr("line 1"));
  EXPECT_THAT(std::string(ParseGraph("graph g {}").status().message()), HasSubstr("quoted"));
  EXPECT_TRUE(ParseGraph("graph \"empty\" {}").ok());
}

TEST(TextFormat, EveryPrefixErrorsOrParsesWithoutCrashing) {
  std::string text = PrintGraph(BuildCnn());
  for (size_t n = 0; n <= text.size(); ++n) {
    auto g = ParseGraph(absl::string_view(text.data(), n));
    if (n + 1 < text.size()) {
      ASSERT_FALSE(g.ok()) << n;
      EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(g.status().message().substr(0, 5), "line ") << g.status();
    } else {
      EXPECT_TRUE(g.ok()) << g.status();
    }
  }
}

TEST(TextFormat, GarbageAndMutationsNeverCrash) {
  std::mt19937 rng(1234);
  for (int i = 0; i < 2000; ++i) {
    std::string junk(rng() % 200, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    EXPECT_FALSE(ParseGraph(junk).ok());
    EXPECT_FALSE(ParseGraph("graph \"g\" {\n" + junk).ok());
  }
  const std::string text = PrintGraph(BuildCnn());
  const std::string alphabet = "%=(){}[],:\"\\#-+.0123456789eEfinx_/ \n";
  int parsed = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string m = text;
    for (int edits = 1 + rng() % 3; edits > 0; --edits) {
      size_t at = rng() % m.size();
      char c = rng() % 2 ? alphabet[rng() % alphabet.size()] : static_cast<char>(rng());
      switch (rng() % 3) {
        case 0:
          m[at] = c;
          break;
        case 1:
          m.insert(m.begin() + at, c);
          break;
        default:
          m = m.substr(0, at) + m.substr(std::min(m.size(), at + 1 + rng() % 8));
      }
      if (m.empty()) m.push_back('x');
    }
    auto g = ParseGraph(m);
    if (!g.ok()) continue;
    ++parsed;
    // Whatever parses must print to text that parses back identically.
    std::string printed = PrintGraph(*g);
    auto again = ParseGraph(printed);
    ASSERT_TRUE(again.ok()) << again.status() << "\n" << printed;
    EXPECT_EQ(PrintGraph(*again), printed);
  }
  EXPECT_GT(parsed, 0);
}

TEST(Dot, ContainsNodesEdgesAndStyles) {
  Graph g = BuildCnn();
  std::string dot = GraphToDot(g);
  EXPECT_THAT(dot, HasSubstr("digraph \"mnist-cnn\" {"));
  for (const Node& node : g.nodes()) EXPECT_THAT(dot, HasSubstr(node.name)) << node.name;
  NodeId image = g.Find("image");
  NodeId conv = g.Find("conv2d");
  EXPECT_THAT(dot, HasSubstr(absl::StrCat("n", image, " -> n", conv, ";")));
  EXPECT_THAT(dot, HasSubstr("conv2d\\nConv2D\\nf32[4,6,6,2]"));
  EXPECT_THAT(dot, HasSubstr("invhouse"));
  EXPECT_THAT(dot, HasSubstr("penwidth"));
  Graph quoted("q\"g");
  ASSERT_TRUE(quoted.AddSource(OpKind::kInput, "a\"b", F32({1})).ok());
  EXPECT_THAT(GraphToDot(quoted), HasSubstr("a\\\"b"));
}

}  // namespace
}  // namespace kiln
