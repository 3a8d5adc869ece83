#include "runtime/interpreter.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "ir/status.h"
#include "runtime/kernels.h"

namespace kiln {
namespace {

void RunNode(const Node& node, const kernels::Inputs& in, Tensor* out) {
  switch (node.op) {
    case OpKind::kInput:
    case OpKind::kParameter:
    case OpKind::kConstant:
      return;  // Values live in their tensors already.
    case OpKind::kConv2D:
      return kernels::Conv2D(node, in, out);
    case OpKind::kMaxPool2D:
      return kernels::MaxPool2D(node, in, out);
    case OpKind::kAvgPool2D:
      return kernels::AvgPool2D(node, in, out);
    case OpKind::kReshape:
    case OpKind::kDropout:  // The identity outside training.
      std::memcpy(out->raw(), in[0]->raw(), out->bytes());
      return;
    case OpKind::kMatMul:
      return kernels::MatMul(node, in, out);
    case OpKind::kBiasAdd:
      return kernels::BiasAdd(node, in, out);
#include "ir/elementwise_cases.inc"
      return kernels::ElementwiseOp(node, in, out);
    case OpKind::kSoftmax:
      return kernels::Softmax(node, in, out);
    case OpKind::kReduceSum:
    case OpKind::kReduceMean:
    case OpKind::kReduceMax:
      return kernels::Reduce(node, in, out);
    case OpKind::kArgMax:
      return kernels::ArgMax(node, in, out);
    case OpKind::kConv2DBackpropInput:
      return kernels::Conv2DBackpropInput(node, in, out);
    case OpKind::kConv2DBackpropFilter:
      return kernels::Conv2DBackpropFilter(node, in, out);
    case OpKind::kMaxPool2DGrad:
      return kernels::MaxPool2DGrad(node, in, out);
    case OpKind::kAvgPool2DGrad:
      return kernels::AvgPool2DGrad(node, in, out);
    case OpKind::kSoftmaxGrad:
      return kernels::SoftmaxGrad(node, in, out);
    case OpKind::kBroadcast:
      return kernels::Broadcast(node, in, out);
    case OpKind::kSoftmaxCrossEntropy:
      return kernels::SoftmaxCrossEntropy(node, in, out);
    case OpKind::kSoftmaxCrossEntropyGrad:
      return kernels::SoftmaxCrossEntropyGrad(node, in, out);
    case OpKind::kEqual:
      return kernels::Equal(node, in, out);
    case OpKind::kDropoutMask:
      return kernels::DropoutMask(node, in, out);
    case OpKind::kBatchNorm:
      return kernels::BatchNorm(node, in, out);
    case OpKind::kFusedConv2D:
      return kernels::FusedConv2D(node, in, out);
    case OpKind::kFusedConv2DMaxPool:
      return kernels::FusedConv2DMaxPool(node, in, out);
    case OpKind::kFusedDense:
      return kernels::FusedDense(node, in, out);
    case OpKind::kFusedMaxPool2DGrad:
      return kernels::FusedMaxPool2DGrad(node, in, out);
    case OpKind::kFusedConvPoolFilterGrad:
      return kernels::FusedConvPoolFilterGrad(node, in, out);
    case OpKind::kRoutedMaxPool2DGrad:
      return kernels::RoutedMaxPool2DGrad(node, in, out);
    case OpKind::kElementwise:
      return kernels::Elementwise(node, in, out);
    case OpKind::kView:
      std::memcpy(out->raw(), static_cast<const char*>(in[0]->raw()) + node.GetInt("offset") * 4,
                  out->bytes());
      return;
    case OpKind::kSoftmaxCrossEntropyWithGrad:
      return kernels::SoftmaxCrossEntropyWithGrad(node, in, out);
    case OpKind::kAssign:
    case OpKind::kApplySgd:
    case OpKind::kApplyAdam:
    case OpKind::kApplyRmsprop:
    case OpKind::kFusedMatMulApplyAdam:
      return;  // Run after every other node (see Run).
  }
}

class Interpreter final : public Executable {
 public:
  Interpreter(Graph graph, std::vector<NodeId> order)
      : graph_(std::move(graph)), order_(std::move(order)) {
    values_.reserve(graph_.num_nodes());
    for (const Node& node : graph_.nodes()) {
      values_.emplace_back(node.type);
      if (node.op == OpKind::kConstant) {
        const std::vector<float>& v = node.GetFloats("value");
        Tensor& t = values_.back();
        for (int64_t i = 0; i < t.size(); ++i) {
          if (t.dtype() == DType::kF32) {
            t.f32()[i] = v[i];
          } else {
            t.i32()[i] = static_cast<int32_t>(v[i]);
          }
        }
      }
    }
  }

  const Graph& graph() const override { return graph_; }

  absl::Status SetTensor(absl::string_view name, const Tensor& value) override {
    KILN_ASSIGN_OR_RETURN(NodeId id, FindBindable(graph_, name, value));
    values_[id] = value;
    return absl::OkStatus();
  }

  absl::Status Run() override {
    kernels::Inputs in;
    for (NodeId id : order_) {
      const Node& node = graph_.node(id);
      in.clear();
      for (NodeId input : node.inputs) in.push_back(&values_[input]);
      RunNode(node, in, &values_[id]);
    }
    // Updates last, so every reader of a Parameter saw its value from before this step.
    std::vector<Tensor*> targets;
    for (NodeId id : order_) {
      const Node& node = graph_.node(id);
      if (!IsSink(node.op)) continue;
      targets.clear();
      for (NodeId input : node.inputs) targets.push_back(&values_[input]);
      kernels::Update(node, targets);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<Tensor> GetTensor(absl::string_view name) const override {
    NodeId id = graph_.Find(name);
    if (id < 0) return absl::NotFoundError(absl::StrCat("no node named '", name, "'"));
    return values_[id];
  }

 private:
  Graph graph_;
  std::vector<NodeId> order_;
  std::vector<Tensor> values_;  // One per node, indexed by id.
};

}  // namespace

absl::StatusOr<std::unique_ptr<Executable>> CreateInterpreter(Graph graph) {
  KILN_RETURN_IF_ERROR(Verify(graph));
  KILN_ASSIGN_OR_RETURN(std::vector<NodeId> order, graph.TopologicalOrder());
  return std::make_unique<Interpreter>(std::move(graph), std::move(order));
}

}  // namespace kiln
