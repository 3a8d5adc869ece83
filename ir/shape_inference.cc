// Type inference for every op in ops.def (the checks it shares: ir/shape_checks.h).
#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "ir/elementwise_program.h"
#include "ir/graph.h"
#include "ir/shape_checks.h"
#include "ir/status.h"

namespace kiln {

using namespace shape_checks;  // NOLINT(build/namespaces)
absl::StatusOr<int64_t> WindowOutputSize(int64_t in, int64_t window, int64_t stride,
                                         absl::string_view padding) {
  if (in <= 0 || window <= 0 || stride <= 0) return Fail("sizes must be positive");
  if (padding == "same") return (in - 1) / stride + 1;
  if (window > in) return Fail("window larger than input");
  return (in - window) / stride + 1;
}

int64_t WindowPadBefore(int64_t in, int64_t out, int64_t window, int64_t stride,
                        absl::string_view padding) {
  if (padding != "same") return 0;
  int64_t total = std::max<int64_t>((out - 1) * stride + window - in, 0);
  return total / 2;
}

namespace {
absl::StatusOr<TensorType> InferUnchecked(const Node& node, const std::vector<TensorType>& in);
}  // namespace

absl::StatusOr<TensorType> InferType(const Node& node, const std::vector<TensorType>& in) {
  KILN_RETURN_IF_ERROR(CheckSchema(node, static_cast<int>(in.size())));
  KILN_ASSIGN_OR_RETURN(TensorType out, InferUnchecked(node, in));
  // Every value must be allocatable: an output whose byte size overflows is an error here.
  KILN_RETURN_IF_ERROR(CheckedByteSize(out).status());
  return out;
}

absl::StatusOr<TensorType> ContractionType(const Node& node, const std::vector<TensorType>& in) {
  Node product = node;
  product.op = node.op == OpKind::kFusedDense ? OpKind::kMatMul : OpKind::kConv2D;
  const bool bias =
      LayoutOfEpilogue(static_cast<int>(in.size()), in.size() > 2 ? in[2].rank() : 0).has_bias;
  const int operands = product.op == OpKind::kConv2D && bias ? 3 : 2;
  return InferUnchecked(product, std::vector<TensorType>(in.begin(), in.begin() + operands));
}

namespace {

// A FusedConv2D's or FusedDense's type: the contraction's, or f32[2 * size] when it keeps in0.
absl::StatusOr<TensorType> WithKept(const Node& node, const TensorType& y) {
  const int64_t keep = node.GetInt("keep");
  if (keep != 0 && keep != 1) return Fail(absl::StrCat("keep must be 0 or 1, got ", keep));
  if (keep == 0) return y;
  KILN_ASSIGN_OR_RETURN(int64_t n, CheckedNumElements(y.dims));
  return TensorType{DType::kF32, {2 * n}};
}

absl::StatusOr<TensorType> InferUnchecked(const Node& node, const std::vector<TensorType>& in) {
  switch (node.op) {
    case OpKind::kInput:
    case OpKind::kParameter: {
      KILN_RETURN_IF_ERROR(CheckedByteSize(node.type).status());
      return node.type;
    }
    case OpKind::kConstant: {
      KILN_ASSIGN_OR_RETURN(int64_t n, CheckedNumElements(node.type.dims));
      int64_t values = static_cast<int64_t>(node.GetFloats("value").size());
      if (values != n) {
        return Fail(absl::StrCat("has ", values, " values for type ", TypeToString(node.type)));
      }
      return node.type;
    }
    case OpKind::kFusedConv2D: {
      Node conv = node;
      conv.op = OpKind::kConv2D;
      const bool bias =
          LayoutOfEpilogue(static_cast<int>(in.size()), in.size() > 2 ? in[2].rank() : 0).has_bias;
      std::vector<TensorType> operands(in.begin(), in.begin() + (bias ? 3 : 2));
      KILN_ASSIGN_OR_RETURN(TensorType y, InferUnchecked(conv, operands));
      KILN_RETURN_IF_ERROR(ExpectEpilogue(node, in, y));
      return WithKept(node, y);
    }
    case OpKind::kConv2D: {
      const TensorType& x = in[0];
      const TensorType& w = in[1];
      KILN_RETURN_IF_ERROR(ExpectF32(w, "filter"));
      KILN_RETURN_IF_ERROR(ExpectRank(w, 4, "filter (HWIO)"));
      KILN_RETURN_IF_ERROR(ExpectRank(x, 4, "input (NHWC)"));
      if (w.dims[2] != x.dims[3]) {
        return Fail(absl::StrCat("filter ", TypeToString(w), " expects ", w.dims[2],
                                 " input channels but the input ", TypeToString(x), " has ",
                                 x.dims[3]));
      }
      if (in.size() == 3) {
        KILN_RETURN_IF_ERROR(ExpectF32(in[2], "bias"));
        if (in[2].dims != Dims{w.dims[3]}) {
          return Fail(absl::StrCat("bias ", TypeToString(in[2]), " must be [", w.dims[3], "]"));
        }
      }
      return InferWindow(x, {w.dims[0], w.dims[1]}, node.GetInts("strides"), node.GetStr("padding"),
                         w.dims[3], "kernel");
    }
    case OpKind::kFusedConv2DMaxPool: {
      KILN_RETURN_IF_ERROR(ExpectActivation(node));
      Node conv = node;
      conv.op = OpKind::kConv2D;
      KILN_ASSIGN_OR_RETURN(TensorType y, InferUnchecked(conv, in));
      const auto& pool = node.GetInts("pool");
      KILN_RETURN_IF_ERROR(ExpectPair(pool, "pool"));
      KILN_ASSIGN_OR_RETURN(TensorType p, InferWindow(y, pool, pool, "valid", y.dims[3], "pool"));
      const std::string& keep = node.GetStr("keep");
      int64_t kept = 0;
      if (keep == "conv") {
        kept = NumElements(y.dims);
      } else if (keep == "routes") {
        kept = NumElements(p.dims);
      } else if (keep != "none") {
        return Fail(
            absl::StrCat("keep must be \"none\", \"conv\" or \"routes\", not \"", keep, "\""));
      }
      int64_t total;
      if (__builtin_add_overflow(NumElements(p.dims), kept, &total)) {
        return Fail("output size overflows");
      }
      return TensorType{DType::kF32, {total}};
    }
    case OpKind::kMaxPool2D:
    case OpKind::kAvgPool2D: {
      const auto& pool = node.GetInts("pool");
      KILN_RETURN_IF_ERROR(ExpectPair(pool, "pool"));
      KILN_RETURN_IF_ERROR(ExpectRank(in[0], 4, "input (NHWC)"));
      return InferWindow(in[0], pool, node.GetInts("strides"), node.GetStr("padding"),
                         in[0].dims[3], "pool");
    }
    case OpKind::kReshape: {
      const Dims& shape = node.GetInts("shape");
      KILN_ASSIGN_OR_RETURN(int64_t n, CheckedNumElements(shape));
      if (n != NumElements(in[0].dims)) {
        return Fail(
            absl::StrCat("cannot reshape ", TypeToString(in[0]), " to ", DimsToString(shape)));
      }
      return TensorType{in[0].dtype, shape};
    }
    case OpKind::kFusedDense: {
      Node mm = node;
      mm.op = OpKind::kMatMul;
      KILN_ASSIGN_OR_RETURN(TensorType y, InferUnchecked(mm, {in[0], in[1]}));
      const EpilogueLayout layout =
          LayoutOfEpilogue(static_cast<int>(in.size()), in.size() > 2 ? in[2].rank() : 0);
      if (layout.has_bias && in[2] != TensorType{DType::kF32, {y.dims[1]}}) {
        return Fail(absl::StrCat("bias ", TypeToString(in[2]), " must be f32[", y.dims[1], "]"));
      }
      KILN_RETURN_IF_ERROR(ExpectEpilogue(node, in, y));
      return WithKept(node, y);
    }
    case OpKind::kMatMul: {
      const TensorType& a = in[0];
      const TensorType& b = in[1];
      KILN_RETURN_IF_ERROR(ExpectF32(a, "lhs"));
      KILN_RETURN_IF_ERROR(ExpectF32(b, "rhs"));
      KILN_RETURN_IF_ERROR(ExpectRank(a, 2, "lhs"));
      KILN_RETURN_IF_ERROR(ExpectRank(b, 2, "rhs"));
      bool ta = node.GetInt("transpose_a") != 0;
      bool tb = node.GetInt("transpose_b") != 0;
      int64_t m = ta ? a.dims[1] : a.dims[0];
      int64_t ka = ta ? a.dims[0] : a.dims[1];
      int64_t kb = tb ? b.dims[1] : b.dims[0];
      int64_t n = tb ? b.dims[0] : b.dims[1];
      if (ka != kb) {
        return Fail(absl::StrCat("inner dimensions differ: ", TypeToString(a), " x ",
                                 TypeToString(b), ta ? " (lhs transposed)" : "",
                                 tb ? " (rhs transposed)" : ""));
      }
      return TensorType{DType::kF32, {m, n}};
    }
    case OpKind::kBiasAdd: {
      KILN_RETURN_IF_ERROR(ExpectF32(in[0], "input"));
      KILN_RETURN_IF_ERROR(ExpectF32(in[1], "bias"));
      if (in[0].rank() < 1 || in[1].dims != Dims{in[0].dims.back()}) {
        return Fail(absl::StrCat("bias ", TypeToString(in[1]), " must match the last dimension of ",
                                 TypeToString(in[0])));
      }
      return in[0];
    }
#include "ir/elementwise_cases.inc"
      return InferElementwise(node.op, in);
    case OpKind::kSoftmax:
      KILN_RETURN_IF_ERROR(ExpectF32(in[0], "input"));
      KILN_RETURN_IF_ERROR(NormalizeAxis(node.GetInt("axis"), in[0].rank()).status());
      return in[0];
    case OpKind::kReduceSum:
    case OpKind::kReduceMean:
    case OpKind::kReduceMax:
      KILN_RETURN_IF_ERROR(ExpectF32(in[0], "input"));
      return InferReduce(node, in[0]);
    case OpKind::kArgMax: {
      KILN_ASSIGN_OR_RETURN(int axis, NormalizeAxis(node.GetInt("axis"), in[0].rank()));
      if (in[0].dims[axis] == 0) return Fail("argmax over an empty axis");
      TensorType out{DType::kI32, in[0].dims};
      out.dims.erase(out.dims.begin() + axis);
      return out;
    }
    case OpKind::kConv2DBackpropInput: {
      const Dims& shape = node.GetInts("input_shape");
      KILN_RETURN_IF_ERROR(ExpectRank(in[1], 4, "filter (HWIO)"));
      if (shape.size() != 4 || shape[3] != in[1].dims[2]) {
        return Fail(absl::StrCat("input_shape ", DimsToString(shape),
                                 " must be NHWC with the filter's ", in[1].dims[2], " channels"));
      }
      KILN_RETURN_IF_ERROR(CheckedNumElements(shape).status());
      TensorType x{DType::kF32, shape};
      KILN_ASSIGN_OR_RETURN(TensorType y,
                            InferWindow(x, {in[1].dims[0], in[1].dims[1]}, node.GetInts("strides"),
                                        node.GetStr("padding"), in[1].dims[3], "kernel"));
      if (y != in[0]) return Fail(absl::StrCat("dy must be ", TypeToString(y)));
      return x;
    }
    case OpKind::kConv2DBackpropFilter: {
      const Dims& shape = node.GetInts("filter_shape");
      KILN_RETURN_IF_ERROR(ExpectRank(in[0], 4, "input (NHWC)"));
      if (shape.size() != 4 || shape[2] != in[0].dims[3]) {
        return Fail(absl::StrCat("filter_shape ", DimsToString(shape),
                                 " must be HWIO with the input's ", in[0].dims[3], " channels"));
      }
      KILN_ASSIGN_OR_RETURN(TensorType y,
                            InferWindow(in[0], {shape[0], shape[1]}, node.GetInts("strides"),
                                        node.GetStr("padding"), shape[3], "kernel"));
      if (y != in[1]) return Fail(absl::StrCat("dy must be ", TypeToString(y)));
      return TensorType{DType::kF32, shape};
    }
    case OpKind::kRoutedMaxPool2DGrad: {  // (routes, dpool) -> f32[input_shape].
      const Dims& shape = node.GetInts("input_shape");
      const auto& pool = node.GetInts("pool");
      KILN_RETURN_IF_ERROR(ExpectPair(pool, "pool"));
      if (shape.size() != 4) return Fail("input_shape must be NHWC");
      KILN_RETURN_IF_ERROR(CheckedNumElements(shape).status());
      const TensorType y{DType::kF32, shape};
      KILN_ASSIGN_OR_RETURN(TensorType p, InferWindow(y, pool, pool, "valid", shape[3], "pool"));
      if (in[0] != p) return Fail(absl::StrCat("routes must be ", TypeToString(p)));
      if (in[1] != p) return Fail(absl::StrCat("dpool must be ", TypeToString(p)));
      return y;
    }
    case OpKind::kFusedConvPoolFilterGrad: {  // (x, y or routes, dpool).
      const Dims& shape = node.GetInts("filter_shape");
      const auto& pool = node.GetInts("pool");
      KILN_RETURN_IF_ERROR(ExpectPair(pool, "pool"));
      const std::string& source = node.GetStr("source");
      if (source != "conv" && source != "routes") {
        return Fail(absl::StrCat("source must be \"conv\" or \"routes\", not \"", source, "\""));
      }
      KILN_RETURN_IF_ERROR(ExpectRank(in[0], 4, "x (NHWC)"));
      if (shape.size() != 4) return Fail("filter_shape must have 4 dims");
      KILN_ASSIGN_OR_RETURN(TensorType y,
                            InferWindow(in[0], {shape[0], shape[1]}, node.GetInts("strides"),
                                        node.GetStr("padding"), shape[3], "kernel"));
      Node filter = node;
      filter.op = OpKind::kConv2DBackpropFilter;
      KILN_RETURN_IF_ERROR(InferUnchecked(filter, {in[0], y}).status());
      KILN_ASSIGN_OR_RETURN(TensorType p, InferWindow(y, pool, pool, "valid", shape[3], "pool"));
      const TensorType& expected = source == "conv" ? y : p;
      if (in[1] != expected) {
        return Fail(
            absl::StrCat(source == "conv" ? "y" : "routes", " must be ", TypeToString(expected)));
      }
      if (p != in[2]) return Fail(absl::StrCat("dpool must be ", TypeToString(p)));
      KILN_ASSIGN_OR_RETURN(int64_t dw, CheckedNumElements(shape));
      return TensorType{DType::kF32, {dw + shape[3]}};
    }
    case OpKind::kMaxPool2DGrad:
    case OpKind::kFusedMaxPool2DGrad:
    case OpKind::kAvgPool2DGrad: {
      const auto& pool = node.GetInts("pool");
      KILN_RETURN_IF_ERROR(ExpectPair(pool, "pool"));
      TensorType x = in[0];
      if (node.op == OpKind::kAvgPool2DGrad) {
        x = TensorType{DType::kF32, node.GetInts("input_shape")};
        KILN_RETURN_IF_ERROR(CheckedNumElements(x.dims).status());
      }
      KILN_RETURN_IF_ERROR(ExpectRank(x, 4, "input (NHWC)"));
      KILN_ASSIGN_OR_RETURN(TensorType y, InferWindow(x, pool, node.GetInts("strides"),
                                                      node.GetStr("padding"), x.dims[3], "pool"));
      if (y != in.back()) return Fail(absl::StrCat("dy must be ", TypeToString(y)));
      return x;
    }
    case OpKind::kSoftmaxGrad:
      KILN_RETURN_IF_ERROR(ExpectF32(in[0], "y"));
      if (in[0] != in[1]) {
        return Fail(
            absl::StrCat("y ", TypeToString(in[0]), " and dy ", TypeToString(in[1]), " differ"));
      }
      KILN_RETURN_IF_ERROR(NormalizeAxis(node.GetInt("axis"), in[0].rank()).status());
      return in[0];
    case OpKind::kBroadcast: {
      TensorType out{in[0].dtype, node.GetInts("shape")};
      KILN_RETURN_IF_ERROR(CheckedNumElements(out.dims).status());
      Node reduce;
      reduce.op = OpKind::kReduceSum;
      reduce.attrs = {{"axes", AttrValue::Ints(node.GetInts("axes"))},
                      {"keepdims", AttrValue::Int(0)}};
      KILN_ASSIGN_OR_RETURN(TensorType reduced, InferReduce(reduce, out));
      if (reduced.dims != in[0].dims) {
        return Fail(absl::StrCat("cannot broadcast ", TypeToString(in[0]), " to ",
                                 DimsToString(out.dims), " over axes ",
                                 DimsToString(node.GetInts("axes"))));
      }
      return out;
    }
    case OpKind::kView: {
      TensorType out{in[0].dtype, node.GetInts("shape")};
      KILN_ASSIGN_OR_RETURN(int64_t n, CheckedNumElements(out.dims));
      const int64_t offset = node.GetInt("offset");
      int64_t end;
      if (offset < 0 || __builtin_add_overflow(offset, n, &end) || end > NumElements(in[0].dims)) {
        return Fail(absl::StrCat("view of ", n, " elements at offset ", offset, " does not fit in ",
                                 TypeToString(in[0])));
      }
      return out;
    }
    case OpKind::kSoftmaxCrossEntropy:
    case OpKind::kSoftmaxCrossEntropyGrad:
    case OpKind::kSoftmaxCrossEntropyWithGrad: {
      const TensorType& logits = in[0];
      KILN_RETURN_IF_ERROR(ExpectF32(logits, "logits"));
      KILN_RETURN_IF_ERROR(ExpectRank(logits, 2, "logits"));
      if (in[1].dtype != DType::kI32 || in[1].dims != Dims{logits.dims[0]}) {
        return Fail(
            absl::StrCat("labels must be i32[", logits.dims[0], "], got ", TypeToString(in[1])));
      }
      if (node.op == OpKind::kSoftmaxCrossEntropy) return TensorType{DType::kF32, {}};
      if (in[2] != TensorType{DType::kF32, {}}) return Fail("dloss must be f32[]");
      if (node.op == OpKind::kSoftmaxCrossEntropyWithGrad) {
        return TensorType{DType::kF32, {logits.dims[0] * logits.dims[1] + 1}};
      }
      return logits;
    }
    case OpKind::kBatchNorm: {
      KILN_RETURN_IF_ERROR(ExpectF32(in[0], "x"));
      if (in[0].rank() < 2) return Fail("x must have a batch and a feature axis");
      const TensorType channels{DType::kF32, {in[0].dims.back()}};
      for (int i = 1; i < 5; ++i) {
        if (in[i] != channels) {
          return Fail(absl::StrCat("input ", i, " is ", TypeToString(in[i]), ", expected ",
                                   TypeToString(channels), " (one value per channel)"));
        }
      }
      if (!(node.GetFloat("epsilon") > 0)) return Fail("epsilon must be positive");
      const double momentum = node.GetFloat("momentum");
      if (!(momentum >= 0 && momentum <= 1)) return Fail("momentum must be in [0, 1]");
      return in[0];
    }
    case OpKind::kDropout:
    case OpKind::kDropoutMask: {
      const double rate = node.GetFloat("rate");
      if (!(rate >= 0 && rate < 1)) {
        return Fail(absl::StrCat("rate must be in [0, 1), got ", rate));
      }
      if (node.op == OpKind::kDropout) {
        KILN_RETURN_IF_ERROR(ExpectF32(in[0], "x"));
        return in[0];
      }
      if (in[0] != TensorType{DType::kF32, {}}) return Fail("step must be f32[]");
      TensorType out{DType::kF32, node.GetInts("shape")};
      KILN_RETURN_IF_ERROR(CheckedNumElements(out.dims).status());
      return out;
    }
    case OpKind::kEqual:
      if (in[0] != in[1]) {
        return Fail(
            absl::StrCat("operands differ: ", TypeToString(in[0]), " vs ", TypeToString(in[1])));
      }
      return TensorType{DType::kF32, in[0].dims};
    case OpKind::kElementwise: {
      KILN_RETURN_IF_ERROR(
          ParseElementwiseProgram(node.GetStr("program"), static_cast<int>(in.size())).status());
      TensorType out{DType::kF32, {}};
      for (const TensorType& t : in) {
        KILN_RETURN_IF_ERROR(ExpectF32(t, "input"));
        if (t.rank() == 0) continue;
        if (out.rank() > 0 && out.dims != t.dims) {
          return Fail(absl::StrCat("inputs ", TypeToString(out), " and ", TypeToString(t),
                                   " differ (only scalars broadcast)"));
        }
        out = t;
      }
      return out;
    }
    case OpKind::kFusedMatMulApplyAdam: {
      Node matmul = node;
      matmul.op = OpKind::kMatMul;
      KILN_ASSIGN_OR_RETURN(TensorType grad, InferUnchecked(matmul, {in[4], in[5]}));
      Node adam = node;
      adam.op = OpKind::kApplyAdam;
      return InferUnchecked(adam, {in[0], in[1], in[2], in[3], grad});
    }
    case OpKind::kAssign:
    case OpKind::kApplySgd:
    case OpKind::kApplyRmsprop:
    case OpKind::kApplyAdam: {
      for (size_t i = 1; i < in.size(); ++i) {
        const bool scalar_step = node.op == OpKind::kApplyAdam && i == 3;
        if (scalar_step ? in[i] != TensorType{DType::kF32, {}} : in[i] != in[0]) {
          return Fail(absl::StrCat("input ", i, " is ", TypeToString(in[i]), ", expected ",
                                   scalar_step ? "f32[]" : TypeToString(in[0])));
        }
      }
      return TensorType{DType::kF32, {}};
    }
  }
  return Fail("unhandled op");
}
}  // namespace

}  // namespace kiln
