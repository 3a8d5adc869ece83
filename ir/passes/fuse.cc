#include <algorithm>

#include "absl/strings/str_cat.h"
#include "ir/elementwise_program.h"
#include "ir/passes/dce.h"
#include "ir/passes/passes.h"
#include "ir/status.h"

namespace kiln {
namespace {

constexpr int kOutputUses = 1 << 20;

class Fuser {
 public:
  explicit Fuser(Graph& g) : g_(g), uses_(g.num_nodes(), 0) {
    for (const Node& n : g.nodes()) {
      for (NodeId in : n.inputs) ++uses_[in];
    }
    for (NodeId out : g.outputs()) uses_[out] += kOutputUses;  // Outputs are never absorbed.
  }

  // A producer that only `consumer` reads, so absorbing it loses nothing.
  bool Absorbable(NodeId producer, OpKind op) const {
    return g_.node(producer).op == op && uses_[producer] == 1;
  }

  bool Run(const std::vector<NodeId>& order) {
    bool changed = false;
    for (NodeId id : order) changed |= FusePatterns(id);
    for (NodeId id : order) changed |= FuseConvPoolFilterGrad(id);
    for (NodeId id : order) changed |= SumPoolGradients(id);
    for (NodeId id : order) changed |= FuseSoftmaxCrossEntropy(id);
    for (NodeId id : order) changed |= FuseConvMaxPool(id);
    for (NodeId id : order) changed |= FuseMatMulApplyAdam(id);
    // Consumers first, so each chain becomes one program rooted at its last op.
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      if (uses_[*it] > 0 || IsSink(g_.node(*it).op)) changed |= FuseElementwise(*it);
    }
    return changed;
  }

 private:
  bool FusePatterns(NodeId id) {
    Node& n = g_.mutable_node(id);
    if (n.op == OpKind::kBiasAdd && Absorbable(n.inputs[0], OpKind::kMatMul)) {
      const Node mm = g_.node(n.inputs[0]);
      std::vector<NodeId> inputs = {mm.inputs[0], mm.inputs[1], n.inputs[1]};
      Rewrite(n, OpKind::kFusedDense, inputs,
              {{"transpose_a", mm.attrs.at("transpose_a")},
               {"transpose_b", mm.attrs.at("transpose_b")},
               {"epilogue", AttrValue::Str("in0")},
               {"keep", AttrValue::Int(0)}});
      return true;
    }
    if (FuseEpilogue(id)) return true;
    if (n.op == OpKind::kReluGrad && Absorbable(n.inputs[1], OpKind::kMaxPool2DGrad) &&
        g_.node(n.inputs[1]).inputs[0] == n.inputs[0]) {
      const Node pool = g_.node(n.inputs[1]);
      Rewrite(n, OpKind::kFusedMaxPool2DGrad, pool.inputs, pool.attrs);
      return true;
    }
    return false;
  }

  // An elementwise op (any activation, its gradient mask, a residual Add, a scaling) whose
  // operand is a contraction only it reads (Conv2D, MatMul, or one already fused) joins that
  // contraction's epilogue: the op's other operands become extra inputs, its program is
  // composed with the epilogue so far, and the op's node becomes the fused contraction.
  bool FuseEpilogue(NodeId id) {
    Node& n = g_.mutable_node(id);
    if (!IsElementwise(n.op) || n.type.dtype != DType::kF32) return false;
    for (int slot = 0; slot < static_cast<int>(n.inputs.size()); ++slot) {
      const Node& p = g_.node(n.inputs[slot]);
      const bool conv = p.op == OpKind::kConv2D || p.op == OpKind::kFusedConv2D;
      const bool dense = p.op == OpKind::kMatMul || p.op == OpKind::kFusedDense;
      if ((!conv && !dense) || p.type != n.type) continue;
      if (uses_[p.id] != 1) {
        if (FuseKeepingInput(id, p.id)) return true;
        continue;
      }
      const bool fused = p.op == OpKind::kFusedConv2D || p.op == OpKind::kFusedDense;
      const int rank2 = p.inputs.size() > 2 ? g_.node(p.inputs[2]).type.rank() : 0;
      const EpilogueLayout layout =
          fused ? LayoutOfEpilogue(static_cast<int>(p.inputs.size()), rank2)
                : EpilogueLayout{p.inputs.size() > 2, static_cast<int>(p.inputs.size()), 0};
      std::vector<NodeId> inputs = p.inputs;
      std::vector<int> rename(n.inputs.size(), -1);
      for (int j = 0; j < static_cast<int>(n.inputs.size()); ++j) {
        if (j == slot) continue;
        auto it = std::find(inputs.begin() + layout.first_extra, inputs.end(), n.inputs[j]);
        rename[j] = static_cast<int>(it - inputs.begin()) - layout.first_extra + 1;
        if (it == inputs.end()) inputs.push_back(n.inputs[j]);
      }
      if (inputs.size() > 8) continue;
      std::string outer;
      for (int j = 0; j < static_cast<int>(n.inputs.size()); ++j)
        absl::StrAppend(&outer, "in", j, " ");
      absl::StrAppend(&outer, GetOpInfo(n.op).token);
      const std::string inner = fused ? p.GetStr("epilogue") : "in0";
      Attrs attrs = p.attrs;
      attrs.erase("epilogue");
      attrs["epilogue"] = AttrValue::Str(ComposePrograms(outer, slot, inner, 1, rename));
      attrs["keep"] = AttrValue::Int(0);
      Rewrite(n, conv ? OpKind::kFusedConv2D : OpKind::kFusedDense, inputs, attrs);
      return true;
    }
    return false;
  }

  // An activation of a contraction that something else reads too (its own gradient, when that
  // reads the activation's input, as GELU's and swish's do): one kernel computes the
  // contraction and writes both it and the activation, as sibling results of a new fused node
  // (keep = 1) whose Views the two nodes become. Only a contraction with no epilogue of its own
  // beyond the bias, since the kept value is the program's in0.
  bool FuseKeepingInput(NodeId id, NodeId producer) {
    const Node n = g_.node(id);
    const Node p = g_.node(producer);
    const bool fused = p.op == OpKind::kFusedConv2D || p.op == OpKind::kFusedDense;
    if (ElementwiseArity(n.op) != 1 ||
        (fused && (p.GetStr("epilogue") != "in0" || p.GetInt("keep") != 0))) {
      return false;
    }
    const bool conv = p.op == OpKind::kConv2D || p.op == OpKind::kFusedConv2D;
    Attrs attrs = p.attrs;
    attrs["epilogue"] = AttrValue::Str(absl::StrCat("in0 ", GetOpInfo(n.op).token));
    attrs["keep"] = AttrValue::Int(1);
    auto kept = g_.AddOp(conv ? OpKind::kFusedConv2D : OpKind::kFusedDense,
                         g_.UniqueName(n.name + "/with_input"), p.inputs, attrs);
    if (!kept.ok()) return false;
    uses_.resize(g_.num_nodes(), 0);
    for (NodeId in : p.inputs) ++uses_[in];
    Rewrite(g_.mutable_node(id), OpKind::kView, {*kept},
            {{"offset", AttrValue::Int(0)}, {"shape", AttrValue::Ints(n.type.dims)}});
    Rewrite(g_.mutable_node(producer), OpKind::kView, {*kept},
            {{"offset", AttrValue::Int(NumElements(p.type.dims))},
             {"shape", AttrValue::Ints(p.type.dims)}});
    return true;
  }

  // FusedMaxPool2DGrad d over non-overlapping valid windows whose only readers are one
  // Conv2DBackpropFilter(x, d) and at most one bias ReduceSum(d, {0,1,2}) (the first conv layer:
  // nothing needs its input gradient) becomes one FusedConvPoolFilterGrad kernel that routes
  // dpool into a cache-sized tile per row of windows and accumulates dw and db from it, so the
  // full-size d never goes through memory. The two readers become Views of its result.
  bool FuseConvPoolFilterGrad(NodeId id) {
    const Node grad = g_.node(id);
    if (grad.op != OpKind::kFusedMaxPool2DGrad || grad.GetStr("padding") != "valid" ||
        grad.attrs.at("strides") != grad.attrs.at("pool")) {
      return false;
    }
    NodeId filter = -1, bias = -1;
    int readers = 0;
    for (const Node& n : g_.nodes()) {
      if (std::find(n.inputs.begin(), n.inputs.end(), id) == n.inputs.end()) continue;
      ++readers;
      if (n.op == OpKind::kConv2DBackpropFilter && n.inputs[1] == id && n.inputs[0] != id) {
        filter = n.id;
      } else if (n.op == OpKind::kReduceSum && n.GetInt("keepdims") == 0 &&
                 n.GetInts("axes") == std::vector<int64_t>{0, 1, 2} && n.type.rank() == 1) {
        bias = n.id;
      }
    }
    const int expected = (filter >= 0) + (bias >= 0);
    if (filter < 0 || readers != expected || uses_[id] != expected) return false;
    const Node conv = g_.node(filter);
    Attrs attrs = conv.attrs;
    attrs["pool"] = grad.attrs.at("pool");
    attrs["source"] = AttrValue::Str("conv");
    auto fused = g_.AddOp(OpKind::kFusedConvPoolFilterGrad, g_.UniqueName(conv.name + "/with_pool"),
                          {conv.inputs[0], grad.inputs[0], grad.inputs[1]}, attrs);
    if (!fused.ok()) return false;
    uses_.resize(g_.num_nodes(), 0);
    for (NodeId in : g_.node(*fused).inputs) ++uses_[in];
    const Dims& shape = conv.GetInts("filter_shape");
    Rewrite(g_.mutable_node(filter), OpKind::kView, {*fused},
            {{"offset", AttrValue::Int(0)}, {"shape", AttrValue::Ints(shape)}});
    if (bias >= 0) {
      Rewrite(
          g_.mutable_node(bias), OpKind::kView, {*fused},
          {{"offset", AttrValue::Int(NumElements(shape))}, {"shape", AttrValue::Ints({shape[3]})}});
    }
    return true;
  }

  // A bias gradient summed over a pooling gradient: every pooling window hands its whole dy to
  // its cells, so the sum over cells equals the sum over windows. Summing the pooled-size
  // tensor instead of the 4x larger one saves a pass over memory:
  //   ReduceSum(MaxPool2DGrad(x, dy) | AvgPool2DGrad(dy), {0,1,2}) = ReduceSum(dy, {0,1,2})
  //   ReduceSum(FusedMaxPool2DGrad(y, dy), {0,1,2}) = ReduceSum(ReluGrad(MaxPool2D(y), dy), ...)
  // (the routed cell holds the window's maximum, which is what the ReLU mask tests).
  bool SumPoolGradients(NodeId id) {
    const Node& n = g_.node(id);
    if (n.op != OpKind::kReduceSum || n.GetInt("keepdims") != 0 ||
        n.GetInts("axes") != std::vector<int64_t>{0, 1, 2} || n.type.rank() != 1) {
      return false;
    }
    const Node grad = g_.node(n.inputs[0]);
    NodeId replacement = -1;
    if (grad.op == OpKind::kMaxPool2DGrad || grad.op == OpKind::kAvgPool2DGrad) {
      replacement = grad.inputs.back();
    } else if (grad.op == OpKind::kFusedMaxPool2DGrad) {
      const NodeId pooled = FindPool(grad);
      if (pooled < 0) return false;
      auto masked =
          g_.AddOp(OpKind::kReluGrad, g_.UniqueName(n.name + "/masked"), {pooled, grad.inputs[1]});
      if (!masked.ok()) return false;
      uses_.resize(g_.num_nodes(), 0);
      ++uses_[pooled];
      ++uses_[grad.inputs[1]];
      replacement = *masked;
    } else {
      return false;
    }
    Node& sum = g_.mutable_node(id);
    --uses_[sum.inputs[0]];
    sum.inputs[0] = replacement;
    ++uses_[replacement];
    return true;
  }

  // SoftmaxCrossEntropyGrad(l, y, d) and SoftmaxCrossEntropy(l, y) become one kernel writing
  // both into one buffer; the two nodes become Views of it (keeping their names and users).
  bool FuseSoftmaxCrossEntropy(NodeId id) {
    const Node grad = g_.node(id);
    if (grad.op != OpKind::kSoftmaxCrossEntropyGrad) return false;
    NodeId loss = -1;
    for (const Node& n : g_.nodes()) {
      if (n.op == OpKind::kSoftmaxCrossEntropy &&
          n.inputs == std::vector<NodeId>{grad.inputs[0], grad.inputs[1]}) {
        loss = n.id;
      }
    }
    if (loss < 0) return false;
    auto fused = g_.AddOp(OpKind::kSoftmaxCrossEntropyWithGrad,
                          g_.UniqueName(grad.name + "/with_loss"), grad.inputs);
    if (!fused.ok()) return false;
    uses_.resize(g_.num_nodes(), 0);
    const int64_t elements = NumElements(grad.type.dims);
    Rewrite(g_.mutable_node(id), OpKind::kView, {*fused},
            {{"offset", AttrValue::Int(0)}, {"shape", AttrValue::Ints(grad.type.dims)}});
    Rewrite(g_.mutable_node(loss), OpKind::kView, {*fused},
            {{"offset", AttrValue::Int(elements)}, {"shape", AttrValue::Ints({})}});
    for (NodeId in : grad.inputs) ++uses_[in];
    return true;
  }

  // MaxPool2D over non-overlapping valid windows of a FusedConv2D: the conv kernel pools each row
  // of windows in its epilogue while the rows are in L1. The pool becomes a View of the fused
  // result. When the backward pass reads the conv result only to route the pool's gradient
  // (FusedConvPoolFilterGrad, FusedMaxPool2DGrad over the same windows), the kernel keeps the
  // routes instead (the pooled result's size, a quarter of the conv result's for 2x2 windows),
  // read through a new View, and rows below the last window are never computed; when something else
  // reads it, the conv result is kept and the conv node becomes a View of it; otherwise it is
  // never stored. Runs after SumPoolGradients, which looks for the MaxPool2D nodes.
  bool FuseConvMaxPool(NodeId id) {
    const Node pool = g_.node(id);
    if (pool.op != OpKind::kMaxPool2D || uses_[id] == 0 || pool.GetStr("padding") != "valid" ||
        pool.attrs.at("strides") != pool.attrs.at("pool")) {
      return false;
    }
    const Node conv = g_.node(pool.inputs[0]);
    // Pooling at the conv tile keeps ReLU routes: the epilogue must be exactly the ReLU.
    if (conv.op != OpKind::kFusedConv2D || conv.GetStr("epilogue") != "in0 relu" ||
        conv.GetInt("keep") != 0 || conv.inputs.size() > 3) {
      return false;
    }
    // Live readers of the conv result besides the pool: FusedConvPoolFilterGrad nodes over the
    // same windows can take the routes instead; any other reader needs the conv result.
    std::vector<NodeId> routed;
    bool read_elsewhere = uses_[conv.id] >= kOutputUses;
    for (const Node& n : g_.nodes()) {
      if (n.id == id || (uses_[n.id] == 0 && !IsSink(n.op)) ||
          std::find(n.inputs.begin(), n.inputs.end(), conv.id) == n.inputs.end()) {
        continue;
      }
      const bool filter_grad = n.op == OpKind::kFusedConvPoolFilterGrad && n.inputs[1] == conv.id &&
                               n.inputs[0] != conv.id && n.inputs[2] != conv.id &&
                               n.GetStr("source") == "conv" &&
                               n.attrs.at("pool") == pool.attrs.at("pool");
      const bool pool_grad =
          n.op == OpKind::kFusedMaxPool2DGrad && n.inputs[1] != conv.id && n.attrs == pool.attrs;
      if (filter_grad || pool_grad) {
        routed.push_back(n.id);
      } else {
        read_elsewhere = true;
      }
    }
    const bool routes = !routed.empty() && !read_elsewhere;
    Attrs attrs = conv.attrs;
    attrs.erase("epilogue");
    attrs["activation"] = AttrValue::Str("relu");
    attrs["pool"] = pool.attrs.at("pool");
    attrs["keep"] = AttrValue::Str(routes ? "routes" : read_elsewhere ? "conv" : "none");
    auto fused = g_.AddOp(OpKind::kFusedConv2DMaxPool, g_.UniqueName(conv.name + "/with_pool"),
                          conv.inputs, attrs);
    if (!fused.ok()) return false;
    uses_.resize(g_.num_nodes(), 0);
    for (NodeId in : conv.inputs) ++uses_[in];
    Rewrite(g_.mutable_node(id), OpKind::kView, {*fused},
            {{"offset", AttrValue::Int(0)}, {"shape", AttrValue::Ints(pool.type.dims)}});
    const Attrs view = {{"offset", AttrValue::Int(NumElements(pool.type.dims))},
                        {"shape", AttrValue::Ints(routes ? pool.type.dims : conv.type.dims)}};
    if (read_elsewhere) Rewrite(g_.mutable_node(conv.id), OpKind::kView, {*fused}, view);
    if (routes) {  // A new node: dead readers of the conv result still see its type.
      auto r = g_.AddOp(OpKind::kView, g_.UniqueName(conv.name + "/routes"), {*fused}, view);
      if (!r.ok()) return false;
      uses_.resize(g_.num_nodes(), 0);
      ++uses_[*fused];
      for (NodeId reader : routed) {
        Node& n = g_.mutable_node(reader);
        if (n.op == OpKind::kFusedMaxPool2DGrad) {
          Rewrite(
              n, OpKind::kRoutedMaxPool2DGrad, {*r, n.inputs[1]},
              {{"pool", pool.attrs.at("pool")}, {"input_shape", AttrValue::Ints(conv.type.dims)}});
          continue;
        }
        Attrs attrs = n.attrs;
        attrs["source"] = AttrValue::Str("routes");
        Rewrite(n, n.op, {n.inputs[0], *r, n.inputs[2]}, attrs);
      }
    }
    return true;
  }

  // ApplyAdam(p, m, v, t, MatMul(a, b)) with the MatMul read by nothing else (a dense layer's
  // weight gradient): the update runs in the matmul kernel's epilogue, so the gradient is never
  // stored and read back.
  bool FuseMatMulApplyAdam(NodeId id) {
    const Node adam = g_.node(id);
    if (adam.op != OpKind::kApplyAdam || !Absorbable(adam.inputs[4], OpKind::kMatMul)) {
      return false;
    }
    const Node mm = g_.node(adam.inputs[4]);
    Attrs attrs = adam.attrs;
    attrs["transpose_a"] = mm.attrs.at("transpose_a");
    attrs["transpose_b"] = mm.attrs.at("transpose_b");
    std::vector<NodeId> inputs(adam.inputs.begin(), adam.inputs.begin() + 4);
    inputs.push_back(mm.inputs[0]);
    inputs.push_back(mm.inputs[1]);
    Rewrite(g_.mutable_node(id), OpKind::kFusedMatMulApplyAdam, inputs, attrs);
    return true;
  }

  // The forward MaxPool2D over the same input with the same window as `grad`, or -1.
  NodeId FindPool(const Node& grad) const {
    for (const Node& p : g_.nodes()) {
      if (p.op == OpKind::kMaxPool2D && p.inputs[0] == grad.inputs[0] &&
          p.attrs.at("pool") == grad.attrs.at("pool") &&
          p.attrs.at("strides") == grad.attrs.at("strides") &&
          p.attrs.at("padding") == grad.attrs.at("padding") && uses_[p.id] > 0) {
        return p.id;
      }
    }
    return -1;
  }

  // Grows an Elementwise program at `id` by inlining single-use elementwise producers.
  bool FuseElementwise(NodeId id) {
    Node& n = g_.mutable_node(id);
    if (!IsElementwise(n.op) || n.type.dtype != DType::kF32) return false;
    std::vector<NodeId> inputs;
    std::string program;
    int absorbed = 0;
    if (!Emit(id, /*root=*/true, &inputs, &program, &absorbed) || absorbed == 0 ||
        inputs.size() > 8) {
      return false;
    }
    Rewrite(n, OpKind::kElementwise, inputs, {{"program", AttrValue::Str(program)}});
    return true;
  }

  // Appends the postfix code of node `id` (inlining absorbable producers) to `program`.
  bool Emit(NodeId id, bool root, std::vector<NodeId>* inputs, std::string* program,
            int* absorbed) {
    const Node& n = g_.node(id);
    const bool inline_it = IsElementwise(n.op) && n.type.dtype == DType::kF32 &&
                           (root || (uses_[id] == 1 && n.type == g_.node(root_).type));
    if (root) root_ = id;
    if (!inline_it) {
      auto it = std::find(inputs->begin(), inputs->end(), id);
      const int index = static_cast<int>(it - inputs->begin());
      if (it == inputs->end()) inputs->push_back(id);
      absl::StrAppend(program, program->empty() ? "" : " ", "in", index);
      return true;
    }
    if (!root) ++*absorbed;
    for (NodeId in : n.inputs) {
      if (!Emit(in, false, inputs, program, absorbed)) return false;
    }
    absl::StrAppend(program, " ", GetOpInfo(n.op).token);
    return true;
  }

  void Rewrite(Node& n, OpKind op, std::vector<NodeId> inputs, Attrs attrs) {
    for (NodeId in : n.inputs) --uses_[in];
    n.op = op;
    n.inputs = std::move(inputs);
    n.attrs = std::move(attrs);
    for (NodeId in : n.inputs) ++uses_[in];
  }

  Graph& g_;
  std::vector<int> uses_;
  NodeId root_ = -1;
};

}  // namespace

absl::StatusOr<bool> Fuse(Graph& graph) {
  KILN_ASSIGN_OR_RETURN(std::vector<NodeId> order, graph.TopologicalOrder());
  return Fuser(graph).Run(order);
}

const std::vector<std::string>& PipelineStages() {
  static const auto* stages =
      new std::vector<std::string>{"input", "simplify", "cse", "dce", "fuse", "final"};
  return *stages;
}

absl::StatusOr<Graph> OptimizeGraph(
    Graph graph, const std::function<void(const std::string&, const Graph&)>& after_stage) {
  auto stage = [&](const std::string& name) -> absl::Status {
    if (auto s = Verify(graph); !s.ok()) {
      return absl::InternalError(absl::StrCat("after stage '", name, "': ", s.message()));
    }
    if (after_stage) after_stage(name, graph);
    return absl::OkStatus();
  };
  KILN_RETURN_IF_ERROR(stage("input"));
  KILN_RETURN_IF_ERROR(Simplify(graph).status());
  KILN_RETURN_IF_ERROR(stage("simplify"));
  KILN_RETURN_IF_ERROR(EliminateCommonSubexpressions(graph).status());
  KILN_RETURN_IF_ERROR(stage("cse"));
  KILN_ASSIGN_OR_RETURN(graph, EliminateDeadCode(graph));
  KILN_RETURN_IF_ERROR(stage("dce"));
  KILN_RETURN_IF_ERROR(Fuse(graph).status());
  KILN_RETURN_IF_ERROR(stage("fuse"));
  KILN_ASSIGN_OR_RETURN(graph, EliminateDeadCode(graph));
  KILN_RETURN_IF_ERROR(stage("final"));
  return graph;
}

}  // namespace kiln
