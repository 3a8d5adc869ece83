#include "autodiff/grad_rules.h"

#include <numeric>

#include "absl/strings/str_cat.h"
#include "ir/status.h"

namespace kiln {
namespace {

// Emits gradient nodes named after the input they are the gradient of.
class Emitter {
 public:
  Emitter(Graph& graph, NodeId id) : g_(graph), id_(id) {}

  const Node& node() const { return g_.node(id_); }
  const Node& input(int i) const { return g_.node(g_.node(id_).inputs[i]); }

  absl::StatusOr<NodeId> Op(int for_input, OpKind op, std::vector<NodeId> inputs,
                            Attrs attrs = {}) {
    return g_.AddOp(op, g_.UniqueName(absl::StrCat("grad/", input(for_input).name)),
                    std::move(inputs), std::move(attrs));
  }
  absl::StatusOr<NodeId> Scalar(float value) {
    return g_.AddSource(OpKind::kConstant, g_.UniqueName("grad/const"), {DType::kF32, {}},
                        {{"value", AttrValue::Floats({value})}});
  }
  // A reduction's "axes" as non-negative axes of its input.
  std::vector<int64_t> ReducedAxes() const {
    const int64_t rank = static_cast<int64_t>(input(0).type.dims.size());
    std::vector<int64_t> axes;
    for (int64_t a : node().GetInts("axes")) axes.push_back(a < 0 ? a + rank : a);
    return axes;
  }
  // Sums `dy` down to input `i`'s shape when that input was a broadcast scalar.
  absl::StatusOr<NodeId> Unbroadcast(int i, NodeId dy) {
    const Dims& want = input(i).type.dims;
    const Dims& have = g_.node(dy).type.dims;
    if (want == have) return dy;
    std::vector<int64_t> axes(have.size());
    std::iota(axes.begin(), axes.end(), 0);
    return Op(i, OpKind::kReduceSum, {dy},
              {{"axes", AttrValue::Ints(axes)}, {"keepdims", AttrValue::Int(0)}});
  }

 private:
  Graph& g_;
  NodeId id_;
};

Attrs WindowAttrs(const Node& n, bool with_pool) {
  Attrs a = {{"strides", n.attrs.at("strides")}, {"padding", n.attrs.at("padding")}};
  if (with_pool) a["pool"] = n.attrs.at("pool");
  return a;
}

absl::Status NoRule(const Node& n, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("no gradient rule for op ", OpName(n.op), " (node '", n.name, "')", why));
}

}  // namespace

absl::StatusOr<std::vector<NodeId>> ApplyGradRule(Graph& graph, NodeId id, NodeId dy,
                                                  const std::vector<bool>& wanted) {
  Emitter e(graph, id);
  const Node n = e.node();  // Copy: emitting nodes may reallocate the node vector.
  std::vector<NodeId> out(n.inputs.size(), -1);
  auto want = [&](int i) { return i < static_cast<int>(wanted.size()) && wanted[i]; };
  switch (n.op) {
    case OpKind::kInput:
    case OpKind::kParameter:
    case OpKind::kConstant:
      return out;
    case OpKind::kConv2D: {
      Attrs a = WindowAttrs(n, false);
      if (want(0)) {
        Attrs ai = a;
        ai["input_shape"] = AttrValue::Ints(e.input(0).type.dims);
        KILN_ASSIGN_OR_RETURN(out[0], e.Op(0, OpKind::kConv2DBackpropInput, {dy, n.inputs[1]}, ai));
      }
      if (want(1)) {
        Attrs af = a;
        af["filter_shape"] = AttrValue::Ints(e.input(1).type.dims);
        KILN_ASSIGN_OR_RETURN(out[1],
                              e.Op(1, OpKind::kConv2DBackpropFilter, {n.inputs[0], dy}, af));
      }
      if (want(2)) {
        KILN_ASSIGN_OR_RETURN(
            out[2], e.Op(2, OpKind::kReduceSum, {dy},
                         {{"axes", AttrValue::Ints({0, 1, 2})}, {"keepdims", AttrValue::Int(0)}}));
      }
      return out;
    }
    case OpKind::kMaxPool2D: {
      KILN_ASSIGN_OR_RETURN(
          out[0], e.Op(0, OpKind::kMaxPool2DGrad, {n.inputs[0], dy}, WindowAttrs(n, true)));
      return out;
    }
    case OpKind::kAvgPool2D: {
      Attrs a = WindowAttrs(n, true);
      a["input_shape"] = AttrValue::Ints(e.input(0).type.dims);
      KILN_ASSIGN_OR_RETURN(out[0], e.Op(0, OpKind::kAvgPool2DGrad, {dy}, a));
      return out;
    }
    case OpKind::kDropout:  // The identity outside training (the training step multiplies
      out[0] = dy;          // by a DropoutMask instead, whose gradient is Mul's).
      return out;
    case OpKind::kDropoutMask:
      return NoRule(n, ": a random mask is not differentiable");
    case OpKind::kBatchNorm:
      return NoRule(n, ": a composite that Model::Build expands before differentiation");
    case OpKind::kReshape: {
      KILN_ASSIGN_OR_RETURN(out[0], e.Op(0, OpKind::kReshape, {dy},
                                         {{"shape", AttrValue::Ints(e.input(0).type.dims)}}));
      return out;
    }
    case OpKind::kMatMul: {
      // y = A' B' with A' = ta ? A^T : A; each case below is dA and dB written as one MatMul.
      const bool ta = n.GetInt("transpose_a") != 0, tb = n.GetInt("transpose_b") != 0;
      const NodeId a = n.inputs[0], b = n.inputs[1];
      auto mm = [&](int i, NodeId l, NodeId r, int tl, int tr) {
        return e.Op(i, OpKind::kMatMul, {l, r},
                    {{"transpose_a", AttrValue::Int(tl)}, {"transpose_b", AttrValue::Int(tr)}});
      };
      if (want(0)) {
        KILN_ASSIGN_OR_RETURN(out[0], !ta ? mm(0, dy, b, 0, !tb) : mm(0, b, dy, tb, 1));
      }
      if (want(1)) {
        KILN_ASSIGN_OR_RETURN(out[1], !tb ? mm(1, a, dy, !ta, 0) : mm(1, dy, a, 1, ta));
      }
      return out;
    }
    case OpKind::kBiasAdd: {
      out[0] = dy;
      if (want(1)) {
        std::vector<int64_t> axes(e.input(0).type.rank() - 1);
        std::iota(axes.begin(), axes.end(), 0);
        KILN_ASSIGN_OR_RETURN(
            out[1], e.Op(1, OpKind::kReduceSum, {dy},
                         {{"axes", AttrValue::Ints(axes)}, {"keepdims", AttrValue::Int(0)}}));
      }
      return out;
    }
    case OpKind::kAdd:
    case OpKind::kSub: {
      if (want(0)) {
        KILN_ASSIGN_OR_RETURN(out[0], e.Unbroadcast(0, dy));
      }
      if (want(1)) {
        NodeId d = dy;
        if (n.op == OpKind::kSub) {
          KILN_ASSIGN_OR_RETURN(NodeId minus, e.Scalar(-1.0f));
          KILN_ASSIGN_OR_RETURN(d, e.Op(1, OpKind::kMul, {dy, minus}));
        }
        KILN_ASSIGN_OR_RETURN(out[1], e.Unbroadcast(1, d));
      }
      return out;
    }
    case OpKind::kMul: {
      for (int i = 0; i < 2; ++i) {
        if (!want(i)) continue;
        KILN_ASSIGN_OR_RETURN(NodeId d, e.Op(i, OpKind::kMul, {dy, n.inputs[1 - i]}));
        KILN_ASSIGN_OR_RETURN(out[i], e.Unbroadcast(i, d));
      }
      return out;
    }
    case OpKind::kDiv: {
      if (want(0)) {
        KILN_ASSIGN_OR_RETURN(NodeId d, e.Op(0, OpKind::kDiv, {dy, n.inputs[1]}));
        KILN_ASSIGN_OR_RETURN(out[0], e.Unbroadcast(0, d));
      }
      if (want(1)) {  // d(a/b)/db = -y/b.
        KILN_ASSIGN_OR_RETURN(NodeId gy, e.Op(1, OpKind::kMul, {dy, id}));
        KILN_ASSIGN_OR_RETURN(NodeId q, e.Op(1, OpKind::kDiv, {gy, n.inputs[1]}));
        KILN_ASSIGN_OR_RETURN(NodeId minus, e.Scalar(-1.0f));
        KILN_ASSIGN_OR_RETURN(NodeId d, e.Op(1, OpKind::kMul, {q, minus}));
        KILN_ASSIGN_OR_RETURN(out[1], e.Unbroadcast(1, d));
      }
      return out;
    }
    case OpKind::kRelu: {
      KILN_ASSIGN_OR_RETURN(out[0], e.Op(0, OpKind::kReluGrad, {id, dy}));
      return out;
    }
    case OpKind::kSigmoid: {
      KILN_ASSIGN_OR_RETURN(out[0], e.Op(0, OpKind::kSigmoidGrad, {id, dy}));
      return out;
    }
    case OpKind::kTanh: {
      KILN_ASSIGN_OR_RETURN(out[0], e.Op(0, OpKind::kTanhGrad, {id, dy}));
      return out;
    }
    case OpKind::kElu: {  // From the output, as Relu: elu' = y + 1 below 0.
      KILN_ASSIGN_OR_RETURN(out[0], e.Op(0, OpKind::kEluGrad, {id, dy}));
      return out;
    }
    case OpKind::kLeakyRelu:  // From the input: the output's sign is x's, but not its kink.
    case OpKind::kGelu:
    case OpKind::kSwish: {
      const OpKind grad = n.op == OpKind::kLeakyRelu ? OpKind::kLeakyReluGrad
                          : n.op == OpKind::kGelu    ? OpKind::kGeluGrad
                                                     : OpKind::kSwishGrad;
      KILN_ASSIGN_OR_RETURN(out[0], e.Op(0, grad, {n.inputs[0], dy}));
      return out;
    }
    case OpKind::kRsqrt: {  // y = x^-1/2: dx = dy * -y^3 / 2.
      KILN_ASSIGN_OR_RETURN(NodeId half, e.Scalar(-0.5f));
      KILN_ASSIGN_OR_RETURN(NodeId y2, e.Op(0, OpKind::kMul, {id, id}));
      KILN_ASSIGN_OR_RETURN(NodeId y3, e.Op(0, OpKind::kMul, {y2, id}));
      KILN_ASSIGN_OR_RETURN(NodeId scaled, e.Op(0, OpKind::kMul, {y3, half}));
      KILN_ASSIGN_OR_RETURN(out[0], e.Op(0, OpKind::kMul, {dy, scaled}));
      return out;
    }
    case OpKind::kSoftplus: {  // softplus' = sigmoid.
      KILN_ASSIGN_OR_RETURN(NodeId s, e.Op(0, OpKind::kSigmoid, {n.inputs[0]}));
      KILN_ASSIGN_OR_RETURN(out[0], e.Op(0, OpKind::kMul, {dy, s}));
      return out;
    }
    case OpKind::kSoftmax: {
      KILN_ASSIGN_OR_RETURN(
          out[0], e.Op(0, OpKind::kSoftmaxGrad, {id, dy}, {{"axis", n.attrs.at("axis")}}));
      return out;
    }
    case OpKind::kReduceSum:
    case OpKind::kReduceMean: {
      const Dims& in_dims = e.input(0).type.dims;
      const std::vector<int64_t> axes = e.ReducedAxes();
      int64_t count = 1;
      for (int64_t axis : axes) count *= in_dims[axis];
      NodeId d = dy;
      if (n.GetInt("keepdims") != 0) {  // Drop the kept size-1 axes before broadcasting back.
        Dims squeezed;
        for (size_t i = 0; i < in_dims.size(); ++i) {
          if (std::find(axes.begin(), axes.end(), static_cast<int64_t>(i)) == axes.end()) {
            squeezed.push_back(in_dims[i]);
          }
        }
        KILN_ASSIGN_OR_RETURN(
            d, e.Op(0, OpKind::kReshape, {d}, {{"shape", AttrValue::Ints(squeezed)}}));
      }
      KILN_ASSIGN_OR_RETURN(
          d, e.Op(0, OpKind::kBroadcast, {d},
                  {{"shape", AttrValue::Ints(in_dims)}, {"axes", AttrValue::Ints(axes)}}));
      if (n.op == OpKind::kReduceMean) {
        KILN_ASSIGN_OR_RETURN(NodeId scale, e.Scalar(1.0f / static_cast<float>(count)));
        KILN_ASSIGN_OR_RETURN(d, e.Op(0, OpKind::kMul, {d, scale}));
      }
      out[0] = d;
      return out;
    }
    case OpKind::kBroadcast: {
      KILN_ASSIGN_OR_RETURN(out[0],
                            e.Op(0, OpKind::kReduceSum, {dy},
                                 {{"axes", n.attrs.at("axes")}, {"keepdims", AttrValue::Int(0)}}));
      return out;
    }
    case OpKind::kSoftmaxCrossEntropy: {
      if (want(1)) return NoRule(n, ": labels are not differentiable");
      KILN_ASSIGN_OR_RETURN(
          out[0], e.Op(0, OpKind::kSoftmaxCrossEntropyGrad, {n.inputs[0], n.inputs[1], dy}));
      return out;
    }
    case OpKind::kReduceMax: {
      // dy goes to the elements equal to the max, shared equally among ties (as TensorFlow's
      // reduce_max gradient, so GlobalMaxPooling2D matches Keras).
      const Dims& in_dims = e.input(0).type.dims;
      if (n.GetInt("keepdims") != 0) return NoRule(n, " with keepdims=1");
      const std::vector<int64_t> axes = e.ReducedAxes();
      Attrs spread = {{"shape", AttrValue::Ints(in_dims)}, {"axes", AttrValue::Ints(axes)}};
      KILN_ASSIGN_OR_RETURN(NodeId max_spread, e.Op(0, OpKind::kBroadcast, {id}, spread));
      KILN_ASSIGN_OR_RETURN(NodeId mask, e.Op(0, OpKind::kEqual, {n.inputs[0], max_spread}));
      KILN_ASSIGN_OR_RETURN(
          NodeId ties, e.Op(0, OpKind::kReduceSum, {mask},
                            {{"axes", AttrValue::Ints(axes)}, {"keepdims", AttrValue::Int(0)}}));
      KILN_ASSIGN_OR_RETURN(NodeId share, e.Op(0, OpKind::kDiv, {dy, ties}));
      KILN_ASSIGN_OR_RETURN(NodeId share_spread, e.Op(0, OpKind::kBroadcast, {share}, spread));
      KILN_ASSIGN_OR_RETURN(out[0], e.Op(0, OpKind::kMul, {mask, share_spread}));
      return out;
    }
    case OpKind::kArgMax:
    case OpKind::kEqual:
      return NoRule(n, ": its output is piecewise constant");
    case OpKind::kConv2DBackpropInput:
    case OpKind::kConv2DBackpropFilter:
    case OpKind::kMaxPool2DGrad:
    case OpKind::kAvgPool2DGrad:
    case OpKind::kReluGrad:
    case OpKind::kSigmoidGrad:
    case OpKind::kTanhGrad:
    case OpKind::kLeakyReluGrad:
    case OpKind::kEluGrad:
    case OpKind::kGeluGrad:
    case OpKind::kSwishGrad:
    case OpKind::kSoftmaxGrad:
    case OpKind::kSoftmaxCrossEntropyGrad:
      return NoRule(n, ": second derivatives are not supported");
    case OpKind::kAssign:
    case OpKind::kApplySgd:
    case OpKind::kApplyAdam:
    case OpKind::kApplyRmsprop:
    case OpKind::kFusedMatMulApplyAdam:
      return NoRule(n, ": update ops are not differentiable");
    case OpKind::kFusedConv2D:
    case OpKind::kFusedDense:
    case OpKind::kFusedMaxPool2DGrad:
    case OpKind::kFusedConvPoolFilterGrad:
    case OpKind::kRoutedMaxPool2DGrad:
    case OpKind::kFusedConv2DMaxPool:
    case OpKind::kElementwise:
    case OpKind::kSoftmaxCrossEntropyWithGrad:
    case OpKind::kView:
      return NoRule(n, ": fused groups are formed after differentiation");
  }
  return NoRule(n, "");
}

}  // namespace kiln
