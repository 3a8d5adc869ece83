#include "frontend/layers_file.h"

#include <cstring>
#include <map>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"
#include "frontend/pycall.h"
#include "ir/status.h"

namespace kiln {
namespace {

constexpr int64_t kMaxUnits = int64_t{1} << 20;   // Filters and dense units.
constexpr int64_t kMaxWindow = int64_t{1} << 12;  // Kernel, pool and stride sizes.
constexpr int64_t kMaxInputDim = int64_t{1} << 16;

// Module prefixes a pasted line may carry before a layer or activation name.
constexpr const char* kLayerPrefixes[] = {"tf.keras.layers.", "keras.layers.", "layers.",
                                          "tf.keras.models.", "keras.models.", "models.",
                                          "tf.keras.",        "keras."};
constexpr const char* kActivationPrefixes[] = {
    "tf.keras.activations.", "keras.activations.", "activations.", "tf.nn.", "nn.", "tf.math."};

std::string StripPrefix(const std::string& name, absl::Span<const char* const> prefixes) {
  for (const char* p : prefixes) {
    if (absl::StartsWith(name, p)) return name.substr(std::strlen(p));
  }
  return name;
}

// A call's arguments bound to its parameter names, with typed, range-checked accessors whose
// errors read "FILE:LINE:COLUMN: Conv2D argument 'filters': ...".
class Args {
 public:
  Args(const PyValue& call, std::string layer, absl::string_view file)
      : call_(call), layer_(std::move(layer)), file_(file) {}

  absl::Status Bind(std::vector<std::string> names) {
    // Every layer takes these keywords; unsupported values are errors, not silently ignored.
    for (const char* common : {"name", "input_shape", "dtype", "trainable"}) {
      names.push_back(common);
    }
    if (call_.items.size() > names.size()) {
      return At(call_.items[names.size()],
                absl::StrCat(layer_, " takes at most ", names.size(), " positional arguments"));
    }
    for (size_t i = 0; i < call_.items.size(); ++i) bound_[names[i]] = &call_.items[i];
    for (const PyKwarg& kw : call_.kwargs) {
      if (std::find(names.begin(), names.end(), kw.name) == names.end()) {
        return At(kw.line, kw.column,
                  absl::StrCat(layer_, " has no argument '", kw.name, "' (it takes ",
                               absl::StrJoin(names, ", "), ")"));
      }
      if (bound_.count(kw.name)) {
        return At(kw.line, kw.column, absl::StrCat(layer_, " got '", kw.name, "' twice"));
      }
      bound_[kw.name] = &kw.value;
    }
    KILN_RETURN_IF_ERROR(Fixed("dtype", {"float32"}));
    if (const PyValue* t = Get("trainable");
        t != nullptr && !(t->kind == PyValue::Kind::kBool && t->bool_value)) {
      return Bad("trainable", *t, "only trainable=True is supported");
    }
    return absl::OkStatus();
  }

  const PyValue& call() const { return call_; }

  const PyValue* Get(const std::string& name) const {
    auto it = bound_.find(name);
    return it == bound_.end() || it->second->kind == PyValue::Kind::kNone ? nullptr : it->second;
  }

  absl::StatusOr<int64_t> Int(const std::string& name, std::optional<int64_t> fallback, int64_t lo,
                              int64_t hi) const {
    const PyValue* v = Get(name);
    if (v == nullptr) {
      if (fallback) return *fallback;
      return Missing(name);
    }
    return IntValue(name, *v, lo, hi);
  }

  // An integer n (meaning (n, n)) or a pair of integers.
  absl::StatusOr<Window> Pair(const std::string& name, std::optional<Window> fallback, int64_t lo,
                              int64_t hi) const {
    const PyValue* v = Get(name);
    if (v == nullptr) {
      if (fallback) return *fallback;
      return Missing(name);
    }
    if (v->kind == PyValue::Kind::kInt) {
      KILN_ASSIGN_OR_RETURN(int64_t n, IntValue(name, *v, lo, hi));
      return Window{n, n};
    }
    if ((v->kind == PyValue::Kind::kTuple || v->kind == PyValue::Kind::kList) &&
        v->items.size() == 2) {
      KILN_ASSIGN_OR_RETURN(int64_t a, IntValue(name, v->items[0], lo, hi));
      KILN_ASSIGN_OR_RETURN(int64_t b, IntValue(name, v->items[1], lo, hi));
      return Window{a, b};
    }
    return Bad(name, *v, "expected an integer or a pair of integers such as (3, 3)");
  }

  absl::StatusOr<double> Number(const std::string& name, std::optional<double> fallback) const {
    const PyValue* v = Get(name);
    if (v == nullptr) {
      if (fallback) return *fallback;
      return Missing(name);
    }
    if (v->kind == PyValue::Kind::kInt) return static_cast<double>(v->int_value);
    if (v->kind != PyValue::Kind::kFloat) return Bad(name, *v, "expected a number");
    return v->float_value;
  }

  absl::StatusOr<std::string> Str(const std::string& name, std::string fallback) const {
    const PyValue* v = Get(name);
    if (v == nullptr) return fallback;
    if (v->kind != PyValue::Kind::kString) return Bad(name, *v, "expected a string");
    return v->text;
  }

  absl::StatusOr<std::string> Choice(const std::string& name, const std::string& fallback,
                                     std::vector<std::string> options) const {
    KILN_ASSIGN_OR_RETURN(std::string s, Str(name, fallback));
    s = absl::AsciiStrToLower(s);
    if (std::find(options.begin(), options.end(), s) == options.end()) {
      return Bad(name, *Get(name),
                 absl::StrCat("expected '", absl::StrJoin(options, "' or '"), "'"));
    }
    return s;
  }

  absl::StatusOr<bool> Bool(const std::string& name, bool fallback) const {
    const PyValue* v = Get(name);
    if (v == nullptr) return fallback;
    if (v->kind != PyValue::Kind::kBool) return Bad(name, *v, "expected True or False");
    return v->bool_value;
  }

  // A string ('relu') or a function name (tf.nn.relu); None or absent is linear. The graph
  // builder checks the name against the op table.
  absl::StatusOr<std::string> Activation(const std::string& name) const {
    const PyValue* v = Get(name);
    if (v == nullptr) return std::string();
    std::string act;
    if (v->kind == PyValue::Kind::kString) {
      act = v->text;
    } else if (v->kind == PyValue::Kind::kName) {
      act = StripPrefix(v->text, kActivationPrefixes);
    } else {
      return Bad(name, *v, "expected an activation name such as 'relu' or tf.nn.relu");
    }
    return act == "silu" ? "swish" : act;
  }

  // Arguments Kiln accepts only at one value (Keras's default), so a file that asks for
  // something else is told so instead of silently getting the default.
  absl::Status Fixed(const std::string& name, std::vector<std::string> allowed) const {
    const PyValue* v = Get(name);
    if (v == nullptr) return absl::OkStatus();
    std::string text = v->kind == PyValue::Kind::kString ? v->text : "";
    if (v->kind == PyValue::Kind::kInt) text = absl::StrCat(v->int_value);
    if ((v->kind == PyValue::Kind::kTuple || v->kind == PyValue::Kind::kList) &&
        v->items.size() == 2 && v->items[0].kind == PyValue::Kind::kInt &&
        v->items[1].kind == PyValue::Kind::kInt) {
      text = absl::StrCat(v->items[0].int_value, ",", v->items[1].int_value);
    }
    if (std::find(allowed.begin(), allowed.end(), text) != allowed.end()) return absl::OkStatus();
    return Bad(name, *v, absl::StrCat("only '", allowed[0], "' is supported"));
  }

  absl::Status Missing(const std::string& name) const {
    return At(call_, absl::StrCat(layer_, " needs '", name, "'"));
  }
  absl::Status At(int line, int column, absl::string_view msg) const {
    return absl::InvalidArgumentError(absl::StrCat(file_, ":", line, ":", column, ": ", msg));
  }
  absl::Status At(const PyValue& at, absl::string_view msg) const {
    return At(at.line, at.column, msg);
  }
  absl::Status Bad(const std::string& name, const PyValue& v, absl::string_view msg) const {
    return At(v, absl::StrCat(layer_, " argument '", name, "': ", msg, ", got ", v.Describe()));
  }

 private:
  absl::StatusOr<int64_t> IntValue(const std::string& name, const PyValue& v, int64_t lo,
                                   int64_t hi) const {
    if (v.kind != PyValue::Kind::kInt) return Bad(name, v, "expected an integer");
    if (v.int_value < lo || v.int_value > hi) {
      return Bad(name, v, absl::StrCat("must be between ", lo, " and ", hi));
    }
    return v.int_value;
  }

  const PyValue& call_;
  std::string layer_;
  absl::string_view file_;
  std::map<std::string, const PyValue*> bound_;
};

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
