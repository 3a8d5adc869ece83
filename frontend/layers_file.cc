#include "frontend/layers_file.h"

#include <cstring>
#include <map>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"
#include "frontend/layer_args.h"
#include "frontend/pycall.h"
#include "ir/status.h"

namespace kiln {
namespace {

using layer_args::Args;
using layer_args::StripPrefix;

constexpr int64_t kMaxUnits = int64_t{1} << 20;   // Filters and dense units.
constexpr int64_t kMaxWindow = int64_t{1} << 12;  // Kernel, pool and stride sizes.
constexpr int64_t kMaxInputDim = int64_t{1} << 16;

// Module prefixes a pasted line may carry before a layer or activation name.
constexpr const char* kLayerPrefixes[] = {"tf.keras.layers.", "keras.layers.", "layers.",
                                          "tf.keras.models.", "keras.models.", "models.",
                                          "tf.keras.",        "keras."};

using Binder = absl::StatusOr<LayerCall> (*)(const Args&);

absl::StatusOr<LayerCall> BindConv2D(const Args& a) {
  KILN_ASSIGN_OR_RETURN(int64_t filters, a.Int("filters", std::nullopt, 1, kMaxUnits));
  KILN_ASSIGN_OR_RETURN(Window kernel, a.Pair("kernel_size", std::nullopt, 1, kMaxWindow));
  Conv2DOptions o;
  KILN_ASSIGN_OR_RETURN(o.strides, a.Pair("strides", Window{1, 1}, 1, kMaxWindow));
  KILN_ASSIGN_OR_RETURN(o.padding, a.Choice("padding", "valid", {"valid", "same"}));
  KILN_ASSIGN_OR_RETURN(o.activation, a.Activation("activation"));
  KILN_ASSIGN_OR_RETURN(o.use_bias, a.Bool("use_bias", true));
  KILN_ASSIGN_OR_RETURN(o.name, a.Str("name", ""));
  KILN_RETURN_IF_ERROR(a.Fixed("data_format", {"channels_last"}));
  KILN_RETURN_IF_ERROR(a.Fixed("dilation_rate", {"1", "1,1"}));
  KILN_RETURN_IF_ERROR(a.Fixed("groups", {"1"}));
  KILN_RETURN_IF_ERROR(a.Fixed("kernel_initializer", {"glorot_uniform"}));
  KILN_RETURN_IF_ERROR(a.Fixed("bias_initializer", {"zeros"}));
  return LayerCall{"Conv2D", 0,
                   [=](GraphBuilder& b, NodeId x) { return b.Conv2D(x, filters, kernel, o); }};
}

template <bool kMax>
absl::StatusOr<LayerCall> BindPool(const Args& a) {
  KILN_ASSIGN_OR_RETURN(Window pool, a.Pair("pool_size", Window{2, 2}, 1, kMaxWindow));
  PoolOptions o;
  KILN_ASSIGN_OR_RETURN(o.strides, a.Pair("strides", pool, 1, kMaxWindow));
  KILN_ASSIGN_OR_RETURN(o.padding, a.Choice("padding", "valid", {"valid", "same"}));
  KILN_ASSIGN_OR_RETURN(o.name, a.Str("name", ""));
  KILN_RETURN_IF_ERROR(a.Fixed("data_format", {"channels_last"}));
  return LayerCall{kMax ? "MaxPooling2D" : "AveragePooling2D", 0, [=](GraphBuilder& b, NodeId x) {
                     return kMax ? b.MaxPooling2D(x, pool, o) : b.AveragePooling2D(x, pool, o);
                   }};
}

absl::StatusOr<LayerCall> BindFlatten(const Args& a) {
  KILN_ASSIGN_OR_RETURN(std::string name, a.Str("name", ""));
  KILN_RETURN_IF_ERROR(a.Fixed("data_format", {"channels_last"}));
  return LayerCall{"Flatten", 0, [=](GraphBuilder& b, NodeId x) { return b.Flatten(x, name); }};
}

template <bool kMax>
absl::StatusOr<LayerCall> BindGlobalPool(const Args& a) {
  KILN_ASSIGN_OR_RETURN(std::string name, a.Str("name", ""));
  KILN_RETURN_IF_ERROR(a.Fixed("data_format", {"channels_last"}));
  if (const PyValue* keep = a.Get("keepdims");
      keep != nullptr && !(keep->kind == PyValue::Kind::kBool && !keep->bool_value)) {
    return a.Bad("keepdims", *keep, "only keepdims=False is supported");
  }
  return LayerCall{
      kMax ? "GlobalMaxPooling2D" : "GlobalAveragePooling2D", 0, [=](GraphBuilder& b, NodeId x) {
        return kMax ? b.GlobalMaxPooling2D(x, name) : b.GlobalAveragePooling2D(x, name);
      }};
}

absl::StatusOr<LayerCall> BindRescaling(const Args& a) {
  KILN_ASSIGN_OR_RETURN(double scale, a.Number("scale", std::nullopt));
  KILN_ASSIGN_OR_RETURN(double offset, a.Number("offset", 0.0));
  KILN_ASSIGN_OR_RETURN(std::string name, a.Str("name", ""));
  return LayerCall{"Rescaling", 0, [=](GraphBuilder& b, NodeId x) {
                     return b.Rescaling(x, static_cast<float>(scale), static_cast<float>(offset),
                                        name);
                   }};
}

absl::StatusOr<LayerCall> BindBatchNormalization(const Args& a) {
  KILN_ASSIGN_OR_RETURN(double momentum, a.Number("momentum", 0.99));
  KILN_ASSIGN_OR_RETURN(double epsilon, a.Number("epsilon", 1e-3));
  KILN_ASSIGN_OR_RETURN(std::string name, a.Str("name", ""));
  KILN_RETURN_IF_ERROR(a.Fixed("axis", {"-1", "3"}));
  for (const char* flag : {"center", "scale"}) {
    KILN_ASSIGN_OR_RETURN(bool on, a.Bool(flag, true));
    if (!on) return a.Bad(flag, *a.Get(flag), absl::StrCat("only ", flag, "=True is supported"));
  }
  for (const char* init : {"beta_initializer", "moving_mean_initializer"}) {
    KILN_RETURN_IF_ERROR(a.Fixed(init, {"zeros"}));
  }
  for (const char* init : {"gamma_initializer", "moving_variance_initializer"}) {
    KILN_RETURN_IF_ERROR(a.Fixed(init, {"ones"}));
  }
  return LayerCall{"BatchNormalization", 0, [=](GraphBuilder& b, NodeId x) {
                     return b.BatchNormalization(x, momentum, epsilon, name);
                   }};
}

absl::StatusOr<LayerCall> BindDropout(const Args& a) {
  KILN_ASSIGN_OR_RETURN(double rate, a.Number("rate", std::nullopt));
  if (!(rate >= 0 && rate < 1)) return a.Bad("rate", *a.Get("rate"), "must be in [0, 1)");
  KILN_ASSIGN_OR_RETURN(int64_t seed, a.Int("seed", -1, 0, INT32_MAX));
  KILN_ASSIGN_OR_RETURN(std::string name, a.Str("name", ""));
  if (const PyValue* shape = a.Get("noise_shape")) {
    return a.Bad("noise_shape", *shape, "only noise_shape=None is supported");
  }
  return LayerCall{"Dropout", 0,
                   [=](GraphBuilder& b, NodeId x) { return b.Dropout(x, rate, seed, name); }};
}

absl::StatusOr<LayerCall> BindDense(const Args& a) {
  KILN_ASSIGN_OR_RETURN(int64_t units, a.Int("units", std::nullopt, 1, kMaxUnits));
  KILN_ASSIGN_OR_RETURN(std::string activation, a.Activation("activation"));
  KILN_ASSIGN_OR_RETURN(bool use_bias, a.Bool("use_bias", true));
  KILN_ASSIGN_OR_RETURN(std::string name, a.Str("name", ""));
  KILN_RETURN_IF_ERROR(a.Fixed("kernel_initializer", {"glorot_uniform"}));
  KILN_RETURN_IF_ERROR(a.Fixed("bias_initializer", {"zeros"}));
  return LayerCall{"Dense", 0, [=](GraphBuilder& b, NodeId x) {
                     return b.Dense(x, units, activation, name, use_bias);
                   }};
}

// Activation('tanh'), and the activation layers ReLU() and Softmax().
template <const char* kFixed>
absl::StatusOr<LayerCall> BindActivation(const Args& a) {
  std::string activation = kFixed;
  if (activation.empty()) {
    KILN_ASSIGN_OR_RETURN(activation, a.Activation("activation"));
    if (activation.empty()) return a.At(a.call(), "Activation needs an activation name");
  }
  KILN_ASSIGN_OR_RETURN(std::string name, a.Str("name", ""));
  KILN_RETURN_IF_ERROR(a.Fixed("axis", {"-1"}));
  return LayerCall{"Activation", 0,
                   [=](GraphBuilder& b, NodeId x) { return b.Activation(x, activation, name); }};
}
constexpr char kAny[] = "";
constexpr char kRelu[] = "relu";
constexpr char kSoftmax[] = "softmax";

struct LayerKind {
  const char* name;
  std::vector<std::string> params;  // Keras's positional order.
  Binder bind;
};

const std::vector<LayerKind>& LayerKinds() {
  static const auto* kinds = new std::vector<LayerKind>{
      {"Conv2D",
       {"filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups",
        "activation", "use_bias", "kernel_initializer", "bias_initializer"},
       BindConv2D},
      {"MaxPooling2D", {"pool_size", "strides", "padding", "data_format"}, BindPool<true>},
      {"AveragePooling2D", {"pool_size", "strides", "padding", "data_format"}, BindPool<false>},
      {"GlobalAveragePooling2D", {"data_format", "keepdims"}, BindGlobalPool<false>},
      {"GlobalMaxPooling2D", {"data_format", "keepdims"}, BindGlobalPool<true>},
      {"Rescaling", {"scale", "offset"}, BindRescaling},
      {"Dropout", {"rate", "noise_shape", "seed"}, BindDropout},
      {"BatchNormalization",
       {"axis", "momentum", "epsilon", "center", "scale", "beta_initializer", "gamma_initializer",
        "moving_mean_initializer", "moving_variance_initializer"},
       BindBatchNormalization},
      {"Flatten", {"data_format"}, BindFlatten},
      {"Dense",
       {"units", "activation", "use_bias", "kernel_initializer", "bias_initializer"},
       BindDense},
      {"Activation", {"activation"}, BindActivation<kAny>},
      {"ReLU", {}, BindActivation<kRelu>},
      {"Softmax", {"axis"}, BindActivation<kSoftmax>},
  };
  return *kinds;
}

const std::map<std::string, std::string>& Aliases() {
  static const auto* aliases =
      new std::map<std::string, std::string>{{"Convolution2D", "Conv2D"},
                                             {"MaxPool2D", "MaxPooling2D"},
                                             {"AvgPool2D", "AveragePooling2D"},
                                             {"GlobalAvgPool2D", "GlobalAveragePooling2D"},
                                             {"GlobalMaxPool2D", "GlobalMaxPooling2D"}};
  return *aliases;
}

absl::StatusOr<Dims> Shape(const PyValue& v, const Args& a, const std::string& arg) {
  if ((v.kind != PyValue::Kind::kTuple && v.kind != PyValue::Kind::kList) || v.items.empty() ||
      v.items.size() > 3) {
    return a.Bad(arg, v, "expected a shape such as (28, 28, 1)");
  }
  Dims dims;
  for (const PyValue& d : v.items) {
    if (d.kind != PyValue::Kind::kInt || d.int_value < 1 || d.int_value > kMaxInputDim) {
      return a.Bad(arg, d, absl::StrCat("dimensions are integers from 1 to ", kMaxInputDim));
    }
    dims.push_back(d.int_value);
  }
  return dims;
}

class FileBinder {
 public:
  explicit FileBinder(absl::string_view filename) { spec_.filename = std::string(filename); }

  absl::Status Statement(const PyValue& v) {
    if (v.kind != PyValue::Kind::kCall) {
      return Error(v, absl::StrCat("expected a layer call such as Dense(10), got ", v.Describe()));
    }
    const std::string callee = StripPrefix(v.text, kLayerPrefixes);
    if (callee == "Sequential") return SequentialCall(v);
    if (absl::EndsWith(callee, ".add") && v.items.size() == 1 && v.kwargs.empty()) {
      return Layer(v.items[0]);
    }
    if (absl::StrContains(callee, ".")) {
      return Error(v, absl::StrCat(v.text,
                                   "(...) is not a layer; a .layers file lists the model's "
                                   "layers only (training settings are kiln train's flags)"));
    }
    return Layer(v);
  }

  absl::StatusOr<LayersSpec> Finish() && {
    if (spec_.layers.empty())
      return absl::InvalidArgumentError(
          absl::StrCat(spec_.filename, ": no layers (expected lines such as Dense(10))"));
    if (spec_.input_shape.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(spec_.filename,
                       ": no input shape: start with Input(shape=(28, 28, 1)) or give the "
                       "first layer input_shape=(28, 28, 1)"));
    }
    return std::move(spec_);
  }

 private:
  absl::Status Error(const PyValue& at, absl::string_view msg) const {
    return absl::InvalidArgumentError(
        absl::StrCat(spec_.filename, ":", at.line, ":", at.column, ": ", msg));
  }

  absl::Status SequentialCall(const PyValue& v) {
    Args a(v, "Sequential", spec_.filename);
    KILN_RETURN_IF_ERROR(a.Bind({"layers"}));
    KILN_ASSIGN_OR_RETURN(spec_.name, a.Str("name", ""));
    if (const PyValue* shape = a.Get("input_shape")) {
      KILN_RETURN_IF_ERROR(SetInput(*shape, a, "input_shape"));
    }
    const PyValue* layers = a.Get("layers");
    if (layers == nullptr) return absl::OkStatus();
    if (layers->kind != PyValue::Kind::kList && layers->kind != PyValue::Kind::kTuple) {
      return a.Bad("layers", *layers, "expected a list of layers");
    }
    for (const PyValue& layer : layers->items) KILN_RETURN_IF_ERROR(Layer(layer));
    return absl::OkStatus();
  }

  absl::Status SetInput(const PyValue& shape, const Args& a, const std::string& arg) {
    KILN_ASSIGN_OR_RETURN(Dims dims, Shape(shape, a, arg));
    if (!spec_.layers.empty()) {
      return Error(shape, "the input shape must come before the first layer");
    }
    if (!spec_.input_shape.empty() && spec_.input_shape != dims) {
      return Error(shape, absl::StrCat("input shape ", DimsToString(dims), " differs from ",
                                       DimsToString(spec_.input_shape), " given before"));
    }
    spec_.input_shape = std::move(dims);
    return absl::OkStatus();
  }

  absl::Status Layer(const PyValue& v) {
    if (v.kind != PyValue::Kind::kCall) {
      return Error(v, absl::StrCat("expected a layer call such as Dense(10), got ", v.Describe()));
    }
    std::string callee = StripPrefix(v.text, kLayerPrefixes);
    if (auto alias = Aliases().find(callee); alias != Aliases().end()) callee = alias->second;
    if (callee == "Input" || callee == "InputLayer") {
      Args a(v, callee, spec_.filename);
      KILN_RETURN_IF_ERROR(a.Bind({"shape", "batch_size"}));
      const char* arg = a.Get("shape") != nullptr ? "shape" : "input_shape";
      const PyValue* shape = a.Get(arg);
      if (shape == nullptr) return Error(v, absl::StrCat(callee, " needs shape=(...)"));
      return SetInput(*shape, a, arg);
    }
    const LayerKind* kind = nullptr;
    for (const LayerKind& k : LayerKinds()) {
      if (callee == k.name) kind = &k;
    }
    if (kind == nullptr) {
      return Error(v, absl::StrCat("unknown layer '", v.text,
                                   "' (known: ", absl::StrJoin(KnownLayerNames(), ", "), ")"));
    }
    if (spec_.layers.size() >= static_cast<size_t>(kMaxLayersInFile)) {
      return Error(v, absl::StrCat("more than ", kMaxLayersInFile, " layers"));
    }
    Args a(v, kind->name, spec_.filename);
    KILN_RETURN_IF_ERROR(a.Bind(kind->params));
    if (const PyValue* shape = a.Get("input_shape")) {
      KILN_RETURN_IF_ERROR(SetInput(*shape, a, "input_shape"));
    }
    KILN_ASSIGN_OR_RETURN(LayerCall call, kind->bind(a));
    call.line = v.line;
    spec_.layers.push_back(std::move(call));
    return absl::OkStatus();
  }

  LayersSpec spec_;
};

}  // namespace

std::vector<std::string> KnownLayerNames() {
  std::vector<std::string> names = {"Input"};
  for (const LayerKind& k : LayerKinds()) names.push_back(k.name);
  for (const auto& [alias, unused] : Aliases()) names.push_back(alias);
  return names;
}

absl::StatusOr<LayersSpec> ParseLayersText(absl::string_view text, absl::string_view filename) {
  KILN_ASSIGN_OR_RETURN(std::vector<PyStatement> statements, ParsePyStatements(text, filename));
  FileBinder binder(filename);
  for (const PyStatement& st : statements) KILN_RETURN_IF_ERROR(binder.Statement(st.value));
  return std::move(binder).Finish();
}

absl::StatusOr<NodeId> ApplyLayers(const LayersSpec& spec, GraphBuilder& builder, NodeId x) {
  for (const LayerCall& layer : spec.layers) {
    auto out = layer.apply(builder, x);
    if (!out.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(spec.filename, ":", layer.line, ": ", out.status().message()));
    }
    x = *out;
  }
  return x;
}

absl::StatusOr<std::string> LayersText(absl::string_view model_name, const Dims& input_shape,
                                       const std::vector<LayerRecord>& layers) {
  std::vector<std::string> dims;
  for (int64_t d : input_shape) dims.push_back(absl::StrCat(d));
  std::string out = absl::StrCat("# ", model_name, " (kiln dump --format layers)\nInput(shape=(",
                                 absl::StrJoin(dims, ", "), dims.size() == 1 ? ",))\n" : "))\n");
  for (const LayerRecord& l : layers) {
    if (l.config.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "layer '", l.name, "' (", l.type, ") has no layers-form line: ",
          l.type == "Add" ? "it joins two branches, and the layers form describes Sequential "
                            "models only"
                          : "the model was saved before Kiln recorded layer lines"));
    }
    absl::StrAppend(&out, l.config, "\n");
  }
  return out;
}

}  // namespace kiln
