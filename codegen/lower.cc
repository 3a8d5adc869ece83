// EmitNode: the codegen column of the op table.
#include "absl/strings/str_cat.h"
#include "codegen/lowering.h"

namespace kiln::codegen {

void Lowering::BeginKernel(const Node& node, const std::string& suffix, int64_t tasks,
                           int64_t grain, double flops) {
  std::string symbol = absl::StrCat("k", launches_.size(), "_", OpName(node.op), "_", suffix);
  launches_.push_back({symbol, tasks, grain, node.id, flops});
  kb().Begin(symbol);
}

int Lowering::NewScratch(int64_t floats) {
  scratch_.push_back(floats);
  return graph_.num_nodes() + static_cast<int>(scratch_.size()) - 1;
}

absl::Status EmitNode(Lowering& l, const Node& node) {
  switch (node.op) {
    case OpKind::kInput:
    case OpKind::kParameter:
    case OpKind::kConstant:
    case OpKind::kReshape:  // Shares its input's buffer.
    case OpKind::kDropout:  // The identity outside training; shares its input's buffer.
    case OpKind::kView:     // Points into its input's buffer.
      return absl::OkStatus();
    case OpKind::kConv2D:
      EmitConv2D(l, node);
      return absl::OkStatus();
    case OpKind::kMaxPool2D:
    case OpKind::kAvgPool2D:
      EmitPool(l, node);
      return absl::OkStatus();
    case OpKind::kMatMul:
      EmitMatMul(l, node);
      return absl::OkStatus();
    case OpKind::kBiasAdd:
      EmitBiasAdd(l, node);
      return absl::OkStatus();
#include "ir/elementwise_cases.inc"
    case OpKind::kEqual:
      EmitElementwiseOp(l, node);
      return absl::OkStatus();
    case OpKind::kDropoutMask:
      EmitDropoutMask(l, node);
      return absl::OkStatus();
    case OpKind::kBatchNorm:
      return absl::InvalidArgumentError(
          absl::StrCat("node '", node.name, "': BatchNorm is a composite that Model::Build ",
                       "expands into elementwise ops and reductions; the JIT runs its expansion"));
    case OpKind::kSoftmax:
      EmitSoftmax(l, node);
      return absl::OkStatus();
    case OpKind::kReduceSum:
    case OpKind::kReduceMean:
    case OpKind::kReduceMax:
      EmitReduce(l, node);
      return absl::OkStatus();
    case OpKind::kArgMax:
      EmitArgMax(l, node);
      return absl::OkStatus();
    case OpKind::kConv2DBackpropInput:
      EmitConv2DBackpropInput(l, node);
      return absl::OkStatus();
    case OpKind::kConv2DBackpropFilter:
      EmitConv2DBackpropFilter(l, node);
      return absl::OkStatus();
    case OpKind::kMaxPool2DGrad:
    case OpKind::kAvgPool2DGrad:
      EmitPoolGrad(l, node);
      return absl::OkStatus();
    case OpKind::kSoftmaxGrad:
      EmitSoftmaxGrad(l, node);
      return absl::OkStatus();
    case OpKind::kBroadcast:
      EmitBroadcast(l, node);
      return absl::OkStatus();
    case OpKind::kSoftmaxCrossEntropy:
      EmitSoftmaxCrossEntropy(l, node);
      return absl::OkStatus();
    case OpKind::kSoftmaxCrossEntropyGrad:
    case OpKind::kSoftmaxCrossEntropyWithGrad:
      EmitSoftmaxCrossEntropyGrad(l, node);
      return absl::OkStatus();
    case OpKind::kFusedConv2D:
    case OpKind::kFusedConv2DMaxPool:
      EmitConv2D(l, node);
      return absl::OkStatus();
    case OpKind::kFusedDense:
    case OpKind::kFusedMatMulApplyAdam:
      EmitMatMul(l, node);
      return absl::OkStatus();
    case OpKind::kFusedMaxPool2DGrad:
      EmitPoolGrad(l, node);
      return absl::OkStatus();
    case OpKind::kFusedConvPoolFilterGrad:
      EmitConvPoolFilterGrad(l, node);
      return absl::OkStatus();
    case OpKind::kRoutedMaxPool2DGrad:
      EmitRoutedPoolGrad(l, node);
      return absl::OkStatus();
    case OpKind::kElementwise:
      EmitElementwiseProgram(l, node);
      return absl::OkStatus();
    case OpKind::kAssign:
    case OpKind::kApplySgd:
    case OpKind::kApplyAdam:
    case OpKind::kApplyRmsprop:
      EmitUpdate(l, node);
      return absl::OkStatus();
  }
  return absl::InternalError(absl::StrCat("no emitter for op ", OpName(node.op)));
}

}  // namespace kiln::codegen
