// The arguments of one Keras call in a model description file, bound to the layer's
// parameter names (Keras's positional order, then keywords), with typed, range-checked
// accessors whose errors name the file, line and column (frontend/layers_file.cc uses it).
#ifndef KILN_FRONTEND_LAYER_ARGS_H_
#define KILN_FRONTEND_LAYER_ARGS_H_

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"
#include "frontend/graph_builder.h"
#include "frontend/pycall.h"
#include "ir/status.h"

namespace kiln::layer_args {

inline constexpr const char* kActivationPrefixes[] = {
    "tf.keras.activations.", "keras.activations.", "activations.", "tf.nn.", "nn.", "tf.math."};

inline std::string StripPrefix(const std::string& name, absl::Span<const char* const> prefixes) {
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

}  // namespace kiln::layer_args

#endif  // KILN_FRONTEND_LAYER_ARGS_H_
