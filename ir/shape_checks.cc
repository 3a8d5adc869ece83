#include "ir/shape_checks.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "ir/elementwise_program.h"
#include "ir/status.h"

namespace kiln::shape_checks {

absl::Status Fail(absl::string_view msg) { return absl::InvalidArgumentError(msg); }

absl::Status CheckSchema(const Node& node, int arity) {
  const OpInfo& info = GetOpInfo(node.op);
  if (arity < info.min_inputs || arity > info.max_inputs) {
    return Fail(absl::StrCat(
        "takes ", info.min_inputs,
        info.min_inputs == info.max_inputs ? std::string() : absl::StrCat(" to ", info.max_inputs),
        " inputs, got ", arity));
  }
  for (const AttrSpec& spec : info.attrs) {
    auto it = node.attrs.find(spec.name);
    if (it == node.attrs.end()) return Fail(absl::StrCat("missing attribute '", spec.name, "'"));
    if (it->second.kind != spec.kind) {
      return Fail(absl::StrCat("attribute '", spec.name, "' must be ", AttrKindName(spec.kind)));
    }
  }
  for (const auto& entry : node.attrs) {
    bool known = std::any_of(info.attrs.begin(), info.attrs.end(),
                             [&](const AttrSpec& s) { return s.name == entry.first; });
    if (!known) return Fail(absl::StrCat("unknown attribute '", entry.first, "'"));
  }
  return absl::OkStatus();
}

absl::Status ExpectF32(const TensorType& t, absl::string_view what) {
  if (t.dtype != DType::kF32) {
    return Fail(absl::StrCat(what, " must be f32, got ", TypeToString(t)));
  }
  return absl::OkStatus();
}

absl::Status ExpectRank(const TensorType& t, int rank, absl::string_view what) {
  if (t.rank() != rank) {
    return Fail(absl::StrCat(what, " must have rank ", rank, ", got ", TypeToString(t)));
  }
  return absl::OkStatus();
}

absl::Status ExpectPair(const std::vector<int64_t>& v, absl::string_view what) {
  if (v.size() != 2 || v[0] <= 0 || v[1] <= 0) {
    return Fail(absl::StrCat(what, " must be two positive integers, got ", DimsToString(v)));
  }
  return absl::OkStatus();
}

absl::Status ExpectPadding(const std::string& padding) {
  if (padding != "valid" && padding != "same") {
    return Fail(absl::StrCat("padding must be \"valid\" or \"same\", got \"", padding, "\""));
  }
  return absl::OkStatus();
}

// Shared by Conv2D and the pools: output [N, OH, OW, channels].
absl::StatusOr<TensorType> InferWindow(const TensorType& x, const std::vector<int64_t>& window,
                                       const std::vector<int64_t>& strides,
                                       const std::string& padding, int64_t channels,
                                       absl::string_view window_what) {
  KILN_RETURN_IF_ERROR(ExpectF32(x, "input"));
  KILN_RETURN_IF_ERROR(ExpectRank(x, 4, "input (NHWC)"));
  KILN_RETURN_IF_ERROR(ExpectPair(strides, "strides"));
  KILN_RETURN_IF_ERROR(ExpectPadding(padding));
  TensorType out{DType::kF32, {x.dims[0], 0, 0, channels}};
  for (int axis = 0; axis < 2; ++axis) {
    auto size = WindowOutputSize(x.dims[1 + axis], window[axis], strides[axis], padding);
    if (!size.ok()) {
      return Fail(absl::StrCat(window_what, " ", window[0], "x", window[1],
                               " does not fit the input ", x.dims[1], "x", x.dims[2],
                               " with padding ", padding));
    }
    out.dims[1 + axis] = *size;
  }
  return out;
}

// FusedConv2D / FusedDense: the program parses over in0 and the extras, and every extra is an
// f32 tensor of the result's shape or an f32 scalar.
absl::Status ExpectEpilogue(const Node& node, const std::vector<TensorType>& in,
                            const TensorType& out) {
  const EpilogueLayout layout =
      LayoutOfEpilogue(static_cast<int>(in.size()), in.size() > 2 ? in[2].rank() : 0);
  auto program = ParseElementwiseProgram(node.GetStr("epilogue"), 1 + layout.extras);
  if (!program.ok()) return Fail(absl::StrCat("epilogue: ", program.status().message()));
  for (int e = 0; e < layout.extras; ++e) {
    const TensorType& t = in[layout.first_extra + e];
    if (t.dtype != DType::kF32 || (t.rank() != 0 && t != out)) {
      return Fail(absl::StrCat("epilogue input in", e + 1, " ", TypeToString(t), " must be ",
                               TypeToString(out), " or an f32 scalar"));
    }
  }
  return absl::OkStatus();
}

absl::Status ExpectActivation(const Node& node) {
  const std::string& act = node.GetStr("activation");
  if (act != "none" && act != "relu") {
    return Fail(absl::StrCat("activation must be \"none\" or \"relu\", got \"", act, "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> NormalizeAxis(int64_t axis, int rank) {
  if (axis < -rank || axis >= rank) {
    return Fail(absl::StrCat("axis ", axis, " is out of range for rank ", rank));
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

absl::StatusOr<TensorType> InferReduce(const Node& node, const TensorType& x) {
  std::set<int> axes;
  for (int64_t a : node.GetInts("axes")) {
    KILN_ASSIGN_OR_RETURN(int axis, NormalizeAxis(a, x.rank()));
    if (!axes.insert(axis).second) return Fail(absl::StrCat("axis ", a, " repeated"));
  }
  int64_t keepdims = node.GetInt("keepdims");
  if (keepdims != 0 && keepdims != 1) return Fail("keepdims must be 0 or 1");
  TensorType out{x.dtype, {}};
  for (int i = 0; i < x.rank(); ++i) {
    if (!axes.count(i)) {
      out.dims.push_back(x.dims[i]);
    } else if (keepdims) {
      out.dims.push_back(1);
    }
  }
  return out;
}

absl::StatusOr<TensorType> InferBinary(const TensorType& a, const TensorType& b) {
  if (a.dtype != b.dtype) {
    return Fail(absl::StrCat("operand dtypes differ: ", TypeToString(a), " vs ", TypeToString(b)));
  }
  if (a.dims == b.dims || b.rank() == 0) return a;
  if (a.rank() == 0) return b;
  return Fail(absl::StrCat("operand shapes differ: ", TypeToString(a), " vs ", TypeToString(b),
                           " (only equal shapes or a scalar operand broadcast)"));
}

absl::StatusOr<TensorType> InferElementwise(OpKind op, const std::vector<TensorType>& in) {
  const bool ints_too = GetOpInfo(op).category == ElementwiseCategory::kArithmetic;
  if (in[0].dtype != DType::kF32 && !(ints_too && in[0].dtype == DType::kI32)) {
    return Fail(absl::StrCat(GetOpInfo(op).name, " needs f32", ints_too ? " or i32" : "",
                             " operands, not ", TypeToString(in[0])));
  }
  if (in.size() == 1) return in[0];
  return InferBinary(in[0], in[1]);
}

}  // namespace kiln::shape_checks
