#include "frontend/layer_forms.h"

#include <numeric>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status.h"

namespace kiln {
namespace {

// Adds nodes named "<prefix>/<what>" for one layer's expansion.
class Expander {
 public:
  Expander(Graph& g, std::string prefix) : g_(g), prefix_(std::move(prefix)) {}

  absl::StatusOr<NodeId> Op(const char* what, OpKind op, std::vector<NodeId> inputs,
                            Attrs attrs = {}) {
    return g_.AddOp(op, g_.UniqueName(absl::StrCat(prefix_, "/", what)), std::move(inputs),
                    std::move(attrs));
  }
  absl::StatusOr<NodeId> Scalar(const char* what, float value) {
    return g_.AddSource(OpKind::kConstant, g_.UniqueName(absl::StrCat(prefix_, "/", what)),
                        {DType::kF32, {}}, {{"value", AttrValue::Floats({value})}});
  }
  // A per-channel vector [C] spread over x's shape (every axis but the last).
  absl::StatusOr<NodeId> Spread(const char* what, NodeId channels, const Dims& x) {
    return Op(what, OpKind::kBroadcast, {channels},
              {{"shape", AttrValue::Ints(x)}, {"axes", AttrValue::Ints(LeadingAxes(x))}});
  }
  absl::StatusOr<NodeId> MeanOverLeadingAxes(const char* what, NodeId v, const Dims& x) {
    return Op(what, OpKind::kReduceMean, {v},
              {{"axes", AttrValue::Ints(LeadingAxes(x))}, {"keepdims", AttrValue::Int(0)}});
  }
  static std::vector<int64_t> LeadingAxes(const Dims& x) {
    std::vector<int64_t> axes(x.size() - 1);
    std::iota(axes.begin(), axes.end(), 0);
    return axes;
  }

 private:
  Graph& g_;
  std::string prefix_;
};

// Rewrites node `id` in place into op(inputs), keeping its name, so its readers and the layer
// records that name it see the expansion's result.
void Become(Graph& g, NodeId id, OpKind op, std::vector<NodeId> inputs) {
  Node& n = g.mutable_node(id);
  n.op = op;
  n.inputs = std::move(inputs);
  n.attrs.clear();
}

absl::Status ExpandBatchNorm(Graph& g, NodeId id, bool training) {
  const Node bn = g.node(id);  // A copy: adding nodes moves the storage.
  const NodeId x = bn.inputs[0], gamma = bn.inputs[1], beta = bn.inputs[2];
  const NodeId moving_mean = bn.inputs[3], moving_var = bn.inputs[4];
  const Dims& dims = bn.type.dims;
  Expander e(g, bn.name);
  KILN_ASSIGN_OR_RETURN(NodeId eps,
                        e.Scalar("epsilon", static_cast<float>(bn.GetFloat("epsilon"))));
  if (!training) {
    KILN_ASSIGN_OR_RETURN(NodeId v, e.Op("var_eps", OpKind::kAdd, {moving_var, eps}));
    KILN_ASSIGN_OR_RETURN(NodeId inv, e.Op("inv_std", OpKind::kRsqrt, {v}));
    KILN_ASSIGN_OR_RETURN(NodeId scale, e.Op("scale", OpKind::kMul, {inv, gamma}));
    KILN_ASSIGN_OR_RETURN(NodeId m, e.Op("mean_scaled", OpKind::kMul, {moving_mean, scale}));
    KILN_ASSIGN_OR_RETURN(NodeId shift, e.Op("shift", OpKind::kSub, {beta, m}));
    KILN_ASSIGN_OR_RETURN(NodeId s, e.Spread("scale_spread", scale, dims));
    KILN_ASSIGN_OR_RETURN(NodeId t, e.Spread("shift_spread", shift, dims));
    KILN_ASSIGN_OR_RETURN(NodeId xs, e.Op("scaled", OpKind::kMul, {x, s}));
    Become(g, id, OpKind::kAdd, {xs, t});
    return absl::OkStatus();
  }
  KILN_ASSIGN_OR_RETURN(NodeId mean, e.MeanOverLeadingAxes("mean", x, dims));
  KILN_ASSIGN_OR_RETURN(NodeId mean_spread, e.Spread("mean_spread", mean, dims));
  KILN_ASSIGN_OR_RETURN(NodeId xc, e.Op("centered", OpKind::kSub, {x, mean_spread}));
  KILN_ASSIGN_OR_RETURN(NodeId sq, e.Op("squared", OpKind::kMul, {xc, xc}));
  KILN_ASSIGN_OR_RETURN(NodeId var, e.MeanOverLeadingAxes("variance", sq, dims));
  KILN_ASSIGN_OR_RETURN(NodeId v, e.Op("var_eps", OpKind::kAdd, {var, eps}));
  KILN_ASSIGN_OR_RETURN(NodeId inv, e.Op("inv_std", OpKind::kRsqrt, {v}));
  KILN_ASSIGN_OR_RETURN(NodeId scale, e.Op("scale", OpKind::kMul, {inv, gamma}));
  KILN_ASSIGN_OR_RETURN(NodeId s, e.Spread("scale_spread", scale, dims));
  KILN_ASSIGN_OR_RETURN(NodeId b, e.Spread("beta_spread", beta, dims));
  KILN_ASSIGN_OR_RETURN(NodeId xs, e.Op("scaled", OpKind::kMul, {xc, s}));
  Become(g, id, OpKind::kAdd, {xs, b});
  // moving = moving * momentum + batch * (1 - momentum); updates run after every other node.
  const float momentum = static_cast<float>(bn.GetFloat("momentum"));
  KILN_ASSIGN_OR_RETURN(NodeId keep, e.Scalar("momentum", momentum));
  KILN_ASSIGN_OR_RETURN(NodeId take, e.Scalar("one_minus_momentum", 1.0f - momentum));
  for (auto [moving, batch] : {std::pair{moving_mean, mean}, std::pair{moving_var, var}}) {
    KILN_ASSIGN_OR_RETURN(NodeId old_part, e.Op("moving_kept", OpKind::kMul, {moving, keep}));
    KILN_ASSIGN_OR_RETURN(NodeId new_part, e.Op("moving_taken", OpKind::kMul, {batch, take}));
    KILN_ASSIGN_OR_RETURN(NodeId next, e.Op("moving_next", OpKind::kAdd, {old_part, new_part}));
    KILN_RETURN_IF_ERROR(
        g.AddOp(OpKind::kAssign, "update/" + g.node(moving).name, {moving, next}).status());
  }
  return absl::OkStatus();
}

absl::Status LowerDropout(Graph& g, NodeId id, NodeId* step) {
  if (*step < 0) {
    KILN_ASSIGN_OR_RETURN(*step, g.AddSource(OpKind::kParameter, "dropout/step", {DType::kF32, {}},
                                             {{"trainable", AttrValue::Int(0)}}));
    Expander e(g, "dropout");
    KILN_ASSIGN_OR_RETURN(NodeId one, e.Scalar("one", 1.0f));
    KILN_ASSIGN_OR_RETURN(NodeId next, e.Op("next", OpKind::kAdd, {*step, one}));
    KILN_RETURN_IF_ERROR(g.AddOp(OpKind::kAssign, "update/dropout/step", {*step, next}).status());
  }
  const Node dropout = g.node(id);
  KILN_ASSIGN_OR_RETURN(NodeId mask, g.AddOp(OpKind::kDropoutMask, dropout.name + "/mask", {*step},
                                             {{"rate", dropout.attrs.at("rate")},
                                              {"seed", dropout.attrs.at("seed")},
                                              {"shape", AttrValue::Ints(dropout.type.dims)}}));
  Become(g, id, OpKind::kMul, {dropout.inputs[0], mask});
  return absl::OkStatus();
}

}  // namespace

absl::Status LowerForInference(Graph& g) {
  const int n = g.num_nodes();
  for (NodeId id = 0; id < n; ++id) {
    if (g.node(id).op == OpKind::kBatchNorm) {
      KILN_RETURN_IF_ERROR(ExpandBatchNorm(g, id, /*training=*/false));
    }
  }
  return absl::OkStatus();
}

absl::Status LowerForTraining(Graph& g) {
  NodeId step = -1;
  const int n = g.num_nodes();
  for (NodeId id = 0; id < n; ++id) {
    if (g.node(id).op == OpKind::kBatchNorm) {
      KILN_RETURN_IF_ERROR(ExpandBatchNorm(g, id, /*training=*/true));
    } else if (g.node(id).op == OpKind::kDropout) {
      KILN_RETURN_IF_ERROR(LowerDropout(g, id, &step));
    }
  }
  return absl::OkStatus();
}

}  // namespace kiln
