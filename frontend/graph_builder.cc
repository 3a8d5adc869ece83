#include "frontend/graph_builder.h"

#include <cmath>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "frontend/pycall.h"
#include "ir/status.h"

namespace kiln {
namespace {

absl::Status LayerError(const std::string& context, absl::string_view msg) {
  return absl::InvalidArgumentError(absl::StrCat(context, msg));
}

// Rewrites a graph error so it leads with the layer and its input shape.
absl::Status Wrap(const std::string& context, const absl::Status& status) {
  return absl::InvalidArgumentError(absl::StrCat(context, status.message()));
}

int64_t Spatial(const Dims& d) { return d[1] * d[2]; }

// Products and sums for the summary's counts, saturating instead of overflowing on the huge
// layers an untrusted model file may ask for (the graph refuses tensors that overflow).
int64_t Count(std::initializer_list<int64_t> factors) {
  int64_t n = 1;
  for (int64_t f : factors) {
    if (__builtin_mul_overflow(n, f, &n)) return INT64_MAX;
  }
  return n;
}
int64_t Sum(std::initializer_list<int64_t> terms) {
  int64_t n = 0;
  for (int64_t t : terms) {
    if (__builtin_add_overflow(n, t, &n)) return INT64_MAX;
  }
  return n;
}

std::string PyPair(Window w) { return absl::StrCat("(", w[0], ", ", w[1], ")"); }

// ", activation='relu'" for a non-linear activation, else nothing.
std::string ActivationArg(const std::string& activation) {
  if (activation.empty() || activation == "linear") return "";
  return absl::StrCat(", activation=", PyQuote(activation));
}

}  // namespace

std::string KerasShape(const Dims& dims) {
  std::vector<std::string> parts = {"None"};
  for (size_t i = 1; i < dims.size(); ++i) parts.push_back(absl::StrCat(dims[i]));
  if (parts.size() == 1) return "(None,)";
  return absl::StrCat("(", absl::StrJoin(parts, ", "), ")");
}

GraphBuilder::GraphBuilder(std::string graph_name, int64_t batch)
    : graph_(std::move(graph_name)), batch_(batch) {}

std::string GraphBuilder::Context(const std::string& layer, const char* type, NodeId x) const {
  std::string shape = x >= 0 && x < graph_.num_nodes() ? KerasShape(graph_.node(x).type.dims) : "?";
  return absl::StrCat("layer '", layer, "' (", type, ") on input ", shape, ": ");
}

std::string GraphBuilder::LayerName(const std::string& requested, const std::string& keras_base) {
  return requested.empty() ? graph_.UniqueName(keras_base) : requested;
}

absl::StatusOr<NodeId> GraphBuilder::Input(const std::string& name, const Dims& shape) {
  if (batch_ <= 0) return absl::InvalidArgumentError(absl::StrCat("batch size ", batch_));
  Dims dims = {batch_};
  dims.insert(dims.end(), shape.begin(), shape.end());
  for (int64_t d : shape) {
    if (d <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", name, "': dimensions must be positive, got ", DimsToString(shape)));
    }
  }
  return graph_.AddSource(OpKind::kInput, name, {DType::kF32, dims});
}

absl::StatusOr<NodeId> GraphBuilder::LabelInput(const std::string& name, const Dims& shape) {
  Dims dims = {batch_};
  dims.insert(dims.end(), shape.begin(), shape.end());
  return graph_.AddSource(OpKind::kInput, name, {DType::kI32, dims});
}

absl::StatusOr<NodeId> GraphBuilder::AddParameter(const std::string& context,
                                                  const std::string& name, Dims dims, Init init,
                                                  bool trainable) {
  auto id = graph_.AddSource(OpKind::kParameter, name, {DType::kF32, std::move(dims)},
                             {{"trainable", AttrValue::Int(trainable ? 1 : 0)}});
  if (!id.ok()) return Wrap(context, id.status());
  parameters_.emplace_back(name, init);
  return id;
}

absl::StatusOr<NodeId> GraphBuilder::ApplyActivation(NodeId x, const std::string& activation,
                                                     const std::string& layer, bool final_name) {
  std::string name = final_name ? layer : absl::StrCat(layer, "/", activation);
  if (activation.empty() || activation == "linear") return x;
  if (activation == "softmax") {
    logits_ = x;
    return graph_.AddOp(OpKind::kSoftmax, name, {x}, {{"axis", AttrValue::Int(-1)}});
  }
  // Every activation row of ops.def, by its program token.
  auto op = ParseElementwiseToken(activation, ElementwiseCategory::kActivation);
  if (!op.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("unknown activation '", activation,
                                                   "' (expected ", ActivationNames(),
                                                   ", softmax or linear)"));
  }
  return graph_.AddOp(*op, name, {x});
}

absl::StatusOr<NodeId> GraphBuilder::Conv2D(NodeId x, int64_t filters, Window kernel,
                                            const Conv2DOptions& options) {
  const std::string layer = LayerName(options.name, "conv2d");
  const std::string context = Context(layer, "Conv2D", x);
  if (x < 0 || x >= graph_.num_nodes()) return LayerError(context, "input does not exist");
  const Dims in = graph_.node(x).type.dims;  // A copy: adding nodes below moves the node storage.
  if (in.size() != 4) {
    return LayerError(context, "expects a 4-D (batch, height, width, channels) input");
  }
  if (filters <= 0)
    return LayerError(context, absl::StrCat("filters must be positive, got ", filters));
  if (kernel[0] <= 0 || kernel[1] <= 0) {
    return LayerError(
        context, absl::StrCat("kernel size must be positive, got ", kernel[0], "x", kernel[1]));
  }
  KILN_ASSIGN_OR_RETURN(NodeId w,
                        AddParameter(context, absl::StrCat(layer, "/kernel"),
                                     {kernel[0], kernel[1], in[3], filters}, Init::kGlorotUniform));
  std::vector<NodeId> inputs = {x, w};
  if (options.use_bias) {
    KILN_ASSIGN_OR_RETURN(
        NodeId b, AddParameter(context, absl::StrCat(layer, "/bias"), {filters}, Init::kZeros));
    inputs.push_back(b);
  }
  const bool has_act = !options.activation.empty() && options.activation != "linear";
  Attrs attrs = {{"strides", AttrValue::Ints({options.strides[0], options.strides[1]})},
                 {"padding", AttrValue::Str(options.padding)}};
  auto conv =
      graph_.AddOp(OpKind::kConv2D, has_act ? absl::StrCat(layer, "/conv") : layer, inputs, attrs);
  if (!conv.ok()) return Wrap(context, conv.status());
  auto out = ApplyActivation(*conv, options.activation, layer, /*final_name=*/true);
  if (!out.ok()) return Wrap(context, out.status());
  const Dims& od = graph_.node(*out).type.dims;
  int64_t outputs = Count({Spatial(od), filters});
  int64_t params =
      Sum({Count({kernel[0], kernel[1], in[3], filters}), options.use_bias ? filters : 0});
  int64_t flops = Sum({Count({2, outputs, kernel[0], kernel[1], in[3]}),
                       options.use_bias ? outputs : 0, has_act ? outputs : 0});
  std::string config = absl::StrCat("Conv2D(", filters, ", ", PyPair(kernel));
  if (options.strides != Window{1, 1})
    absl::StrAppend(&config, ", strides=", PyPair(options.strides));
  if (options.padding != "valid") absl::StrAppend(&config, ", padding=", PyQuote(options.padding));
  absl::StrAppend(&config, ActivationArg(options.activation));
  if (!options.use_bias) absl::StrAppend(&config, ", use_bias=False");
  absl::StrAppend(&config, ", name=", PyQuote(layer), ")");
  layers_.push_back({layer, "Conv2D", *out, params, flops, std::move(config)});
  return *out;
}

absl::StatusOr<NodeId> GraphBuilder::Pool(OpKind op, const char* type, const char* base, NodeId x,
                                          Window pool, const PoolOptions& options) {
  const std::string layer = LayerName(options.name, base);
  const std::string context = Context(layer, type, x);
  if (x < 0 || x >= graph_.num_nodes()) return LayerError(context, "input does not exist");
  Window strides = options.strides[0] == 0 && options.strides[1] == 0 ? pool : options.strides;
  Attrs attrs = {{"pool", AttrValue::Ints({pool[0], pool[1]})},
                 {"strides", AttrValue::Ints({strides[0], strides[1]})},
                 {"padding", AttrValue::Str(options.padding)}};
  auto out = graph_.AddOp(op, layer, {x}, attrs);
  if (!out.ok()) return Wrap(context, out.status());
  const Dims& od = graph_.node(*out).type.dims;
  std::string config = absl::StrCat(type, "(", PyPair(pool));
  if (strides != pool) absl::StrAppend(&config, ", strides=", PyPair(strides));
  if (options.padding != "valid") absl::StrAppend(&config, ", padding=", PyQuote(options.padding));
  absl::StrAppend(&config, ", name=", PyQuote(layer), ")");
  layers_.push_back(
      {layer, type, *out, 0, Count({Spatial(od), od[3], pool[0], pool[1]}), std::move(config)});
  return *out;
}

absl::StatusOr<NodeId> GraphBuilder::MaxPooling2D(NodeId x, Window pool,
                                                  const PoolOptions& options) {
  return Pool(OpKind::kMaxPool2D, "MaxPooling2D", "max_pooling2d", x, pool, options);
}

absl::StatusOr<NodeId> GraphBuilder::AveragePooling2D(NodeId x, Window pool,
                                                      const PoolOptions& options) {
  return Pool(OpKind::kAvgPool2D, "AveragePooling2D", "average_pooling2d", x, pool, options);
}

absl::StatusOr<NodeId> GraphBuilder::GlobalPool(OpKind op, const char* type, const char* base,
                                                NodeId x, const std::string& name) {
  const std::string layer = LayerName(name, base);
  const std::string context = Context(layer, type, x);
  if (x < 0 || x >= graph_.num_nodes()) return LayerError(context, "input does not exist");
  const Dims in = graph_.node(x).type.dims;
  if (in.size() != 4) {
    return LayerError(context, "expects a 4-D (batch, height, width, channels) input");
  }
  auto out = graph_.AddOp(op, layer, {x},
                          {{"axes", AttrValue::Ints({1, 2})}, {"keepdims", AttrValue::Int(0)}});
  if (!out.ok()) return Wrap(context, out.status());
  layers_.push_back({layer, type, *out, 0, Count({in[1], in[2], in[3]}),
                     absl::StrCat(type, "(name=", PyQuote(layer), ")")});
  return *out;
}

absl::StatusOr<NodeId> GraphBuilder::GlobalAveragePooling2D(NodeId x, const std::string& name) {
  return GlobalPool(OpKind::kReduceMean, "GlobalAveragePooling2D", "global_average_pooling2d", x,
                    name);
}

absl::StatusOr<NodeId> GraphBuilder::GlobalMaxPooling2D(NodeId x, const std::string& name) {
  return GlobalPool(OpKind::kReduceMax, "GlobalMaxPooling2D", "global_max_pooling2d", x, name);
}

absl::StatusOr<NodeId> GraphBuilder::Rescaling(NodeId x, float scale, float offset,
                                               const std::string& name) {
  const std::string layer = LayerName(name, "rescaling");
  const std::string context = Context(layer, "Rescaling", x);
  if (x < 0 || x >= graph_.num_nodes()) return LayerError(context, "input does not exist");
  if (!std::isfinite(scale) || !std::isfinite(offset)) {
    return LayerError(
        context, absl::StrCat("scale and offset must be finite, got ", scale, " and ", offset));
  }
  auto constant = [&](const char* what, float v) {
    return graph_.AddSource(OpKind::kConstant, absl::StrCat(layer, "/", what), {DType::kF32, {}},
                            {{"value", AttrValue::Floats({v})}});
  };
  auto s = constant("scale", scale);
  if (!s.ok()) return Wrap(context, s.status());
  auto out = graph_.AddOp(OpKind::kMul, offset != 0 ? absl::StrCat(layer, "/mul") : layer, {x, *s});
  if (!out.ok()) return Wrap(context, out.status());
  if (offset != 0) {
    auto o = constant("offset", offset);
    if (!o.ok()) return Wrap(context, o.status());
    out = graph_.AddOp(OpKind::kAdd, layer, {*out, *o});
    if (!out.ok()) return Wrap(context, out.status());
  }
  const int64_t elements = NumElements(graph_.node(*out).type.dims) / batch_;
  // %.9g: a float's shortest form that reads back to the same float.
  std::string config = absl::StrFormat("Rescaling(%.9g", scale);
  if (offset != 0) absl::StrAppend(&config, absl::StrFormat(", offset=%.9g", offset));
  absl::StrAppend(&config, ", name=", PyQuote(layer), ")");
  layers_.push_back(
      {layer, "Rescaling", *out, 0, offset != 0 ? 2 * elements : elements, std::move(config)});
  return *out;
}

absl::StatusOr<NodeId> GraphBuilder::BatchNormalization(NodeId x, double momentum, double epsilon,
                                                        const std::string& name) {
  const std::string layer = LayerName(name, "batch_normalization");
  const std::string context = Context(layer, "BatchNormalization", x);
  if (x < 0 || x >= graph_.num_nodes()) return LayerError(context, "input does not exist");
  const Dims in = graph_.node(x).type.dims;
  if (in.size() < 2) return LayerError(context, "expects a batch and a feature axis");
  if (!(momentum >= 0 && momentum <= 1) || !(epsilon > 0)) {
    return LayerError(context, absl::StrCat("momentum must be in [0, 1] and epsilon positive, got ",
                                            momentum, " and ", epsilon));
  }
  const int64_t c = in.back();
  std::vector<NodeId> inputs = {x};
  for (auto [what, init, trainable] :
       {std::tuple{"gamma", Init::kOnes, true}, std::tuple{"beta", Init::kZeros, true},
        std::tuple{"moving_mean", Init::kZeros, false},
        std::tuple{"moving_variance", Init::kOnes, false}}) {
    KILN_ASSIGN_OR_RETURN(
        NodeId p, AddParameter(context, absl::StrCat(layer, "/", what), {c}, init, trainable));
    inputs.push_back(p);
  }
  auto out = graph_.AddOp(
      OpKind::kBatchNorm, layer, inputs,
      {{"epsilon", AttrValue::Float(epsilon)}, {"momentum", AttrValue::Float(momentum)}});
  if (!out.ok()) return Wrap(context, out.status());
  std::string config = "BatchNormalization(";
  if (momentum != 0.99) absl::StrAppend(&config, absl::StrFormat("momentum=%.9g, ", momentum));
  if (epsilon != 1e-3) absl::StrAppend(&config, absl::StrFormat("epsilon=%.9g, ", epsilon));
  absl::StrAppend(&config, "name=", PyQuote(layer), ")");
  // Per element: subtract, scale, shift (the statistics are per channel).
  layers_.push_back({layer, "BatchNormalization", *out, 4 * c, Count({3, NumElements(in) / batch_}),
                     std::move(config)});
  return *out;
}

absl::StatusOr<NodeId> GraphBuilder::Dropout(NodeId x, double rate, int64_t seed,
                                             const std::string& name) {
  const std::string layer = LayerName(name, "dropout");
  const std::string context = Context(layer, "Dropout", x);
  if (x < 0 || x >= graph_.num_nodes()) return LayerError(context, "input does not exist");
  if (!(rate >= 0 && rate < 1)) {
    return LayerError(context, absl::StrCat("rate must be in [0, 1), got ", rate));
  }
  int64_t key = seed;
  if (key < 0) {  // FNV-1a of the name: stable across runs, builds and machines.
    uint32_t h = 2166136261u;
    for (unsigned char c : layer) h = (h ^ c) * 16777619u;
    key = h;
  }
  auto out = graph_.AddOp(OpKind::kDropout, layer, {x},
                          {{"rate", AttrValue::Float(rate)}, {"seed", AttrValue::Int(key)}});
  if (!out.ok()) return Wrap(context, out.status());
  std::string config = absl::StrFormat("Dropout(%.9g", rate);
  if (seed >= 0) absl::StrAppend(&config, ", seed=", seed);
  absl::StrAppend(&config, ", name=", PyQuote(layer), ")");
  layers_.push_back({layer, "Dropout", *out, 0, NumElements(graph_.node(*out).type.dims) / batch_,
                     std::move(config)});
  return *out;
}

absl::StatusOr<NodeId> GraphBuilder::Flatten(NodeId x, const std::string& name) {
  const std::string layer = LayerName(name, "flatten");
  const std::string context = Context(layer, "Flatten", x);
  if (x < 0 || x >= graph_.num_nodes()) return LayerError(context, "input does not exist");
  const Dims in = graph_.node(x).type.dims;
  int64_t features = 1;
  for (size_t i = 1; i < in.size(); ++i) features *= in[i];
  auto out =
      graph_.AddOp(OpKind::kReshape, layer, {x}, {{"shape", AttrValue::Ints({in[0], features})}});
  if (!out.ok()) return Wrap(context, out.status());
  layers_.push_back(
      {layer, "Flatten", *out, 0, 0, absl::StrCat("Flatten(name=", PyQuote(layer), ")")});
  return *out;
}

absl::StatusOr<NodeId> GraphBuilder::Dense(NodeId x, int64_t units, const std::string& activation,
                                           const std::string& name, bool use_bias) {
  const std::string layer = LayerName(name, "dense");
  const std::string context = Context(layer, "Dense", x);
  if (x < 0 || x >= graph_.num_nodes()) return LayerError(context, "input does not exist");
  const Dims in = graph_.node(x).type.dims;  // A copy: AddParameter moves the node storage.
  if (in.size() != 2) {
    return LayerError(context, "expects a 2-D (batch, features) input; add a Flatten layer first");
  }
  if (units <= 0) return LayerError(context, absl::StrCat("units must be positive, got ", units));
  KILN_ASSIGN_OR_RETURN(NodeId w, AddParameter(context, absl::StrCat(layer, "/kernel"),
                                               {in[1], units}, Init::kGlorotUniform));
  NodeId b = -1;
  if (use_bias) {
    KILN_ASSIGN_OR_RETURN(
        b, AddParameter(context, absl::StrCat(layer, "/bias"), {units}, Init::kZeros));
  }
  const bool has_act = !activation.empty() && activation != "linear";
  auto mm = graph_.AddOp(OpKind::kMatMul,
                         has_act || use_bias ? absl::StrCat(layer, "/matmul") : layer, {x, w},
                         {{"transpose_a", AttrValue::Int(0)}, {"transpose_b", AttrValue::Int(0)}});
  if (!mm.ok()) return Wrap(context, mm.status());
  NodeId biased = *mm;
  if (use_bias) {
    auto added = graph_.AddOp(OpKind::kBiasAdd, has_act ? absl::StrCat(layer, "/bias_add") : layer,
                              {*mm, b});
    if (!added.ok()) return Wrap(context, added.status());
    biased = *added;
  }
  auto out = ApplyActivation(biased, activation, layer, /*final_name=*/true);
  if (!out.ok()) return Wrap(context, out.status());
  int64_t flops = Sum({Count({2, in[1], units}), use_bias ? units : 0, has_act ? units : 0});
  int64_t params = Sum({Count({in[1], units}), use_bias ? units : 0});
  layers_.push_back(
      {layer, "Dense", *out, params, flops,
       absl::StrCat("Dense(", units, ActivationArg(activation), use_bias ? "" : ", use_bias=False",
                    ", name=", PyQuote(layer), ")")});
  return *out;
}

absl::StatusOr<NodeId> GraphBuilder::Activation(NodeId x, const std::string& activation,
                                                const std::string& name) {
  const std::string layer = LayerName(name, "activation");
  const std::string context = Context(layer, "Activation", x);
  if (x < 0 || x >= graph_.num_nodes()) return LayerError(context, "input does not exist");
  if (activation.empty() || activation == "linear") {
    return LayerError(context, "needs a non-linear activation");
  }
  auto out = ApplyActivation(x, activation, layer, /*final_name=*/true);
  if (!out.ok()) return Wrap(context, out.status());
  layers_.push_back(
      {layer, "Activation", *out, 0, NumElements(graph_.node(*out).type.dims) / batch_,
       absl::StrCat("Activation(", PyQuote(activation), ", name=", PyQuote(layer), ")")});
  return *out;
}

absl::StatusOr<NodeId> GraphBuilder::Add(NodeId a, NodeId b, const std::string& name) {
  const std::string layer = LayerName(name, "add");
  const std::string context = Context(layer, "Add", a);
  if (a < 0 || a >= graph_.num_nodes() || b < 0 || b >= graph_.num_nodes()) {
    return LayerError(context, "input does not exist");
  }
  if (graph_.node(a).type != graph_.node(b).type) {
    return LayerError(context, absl::StrCat("shapes differ: ", KerasShape(graph_.node(a).type.dims),
                                            " vs ", KerasShape(graph_.node(b).type.dims)));
  }
  auto out = graph_.AddOp(OpKind::kAdd, layer, {a, b});
  if (!out.ok()) return Wrap(context, out.status());
  layers_.push_back({layer, "Add", *out, 0, NumElements(graph_.node(*out).type.dims) / batch_, ""});
  return *out;
}

absl::StatusOr<NodeId> GraphBuilder::Replay(const Graph& saved, NodeId x,
                                            const std::vector<LayerRecord>& layers,
                                            const std::string& logits) {
  const NodeId image = saved.Find("image");
  if (image < 0 || saved.outputs().size() != 1) {
    return absl::InvalidArgumentError("saved graph needs an Input 'image' and one output");
  }
  const int64_t saved_batch = saved.node(image).type.dims[0];
  // The saved order when it is already topological (as built), so names and ids line up.
  std::vector<NodeId> order(saved.num_nodes());
  bool ordered = true;
  for (const Node& n : saved.nodes()) {
    order[n.id] = n.id;
    for (NodeId in : n.inputs) ordered &= in < n.id;
  }
  if (!ordered) {
    KILN_ASSIGN_OR_RETURN(order, saved.TopologicalOrder());
  }
  std::vector<NodeId> map(saved.num_nodes(), -1);
  for (NodeId id : order) {
    const Node& n = saved.node(id);
    if (id == image) {
      map[id] = x;
      continue;
    }
    absl::StatusOr<NodeId> added;
    if (n.op == OpKind::kParameter) {
      added = AddParameter("", n.name, n.type.dims, Init::kZeros, n.GetInt("trainable") != 0);
    } else if (IsSource(n.op)) {
      added = graph_.AddSource(n.op, n.name, n.type, n.attrs);
    } else {
      std::vector<NodeId> inputs;
      for (NodeId in : n.inputs) inputs.push_back(map[in]);
      Attrs attrs = n.attrs;
      auto shape = attrs.find("shape");
      if (n.op == OpKind::kReshape && shape != attrs.end() && !shape->second.ints.empty() &&
          shape->second.ints[0] == saved_batch) {
        shape->second.ints[0] = batch_;
      }
      added = graph_.AddOp(n.op, n.name, std::move(inputs), std::move(attrs));
    }
    if (!added.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "replaying saved node '", n.name, "' at batch ", batch_, ": ", added.status().message()));
    }
    map[id] = *added;
  }
  for (const LayerRecord& layer : layers) {
    layers_.push_back({layer.name, layer.type, map[layer.output], layer.params,
                       layer.flops_per_example, layer.config});
  }
  if (!logits.empty()) logits_ = map[saved.Find(logits)];
  return map[saved.outputs()[0]];
}

}  // namespace kiln
