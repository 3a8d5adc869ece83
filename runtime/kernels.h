// Reference kernels: plain, obviously-correct loops, one per op, used by the interpreter.
// Each takes the node (for attributes and its output type), its input tensors in order, and an
// output tensor already allocated with the node's type. Inputs are verified; kernels do not fail.
#ifndef KILN_RUNTIME_KERNELS_H_
#define KILN_RUNTIME_KERNELS_H_

#include <vector>

#include "ir/graph.h"
#include "ir/tensor.h"

namespace kiln::kernels {

using Inputs = std::vector<const Tensor*>;

// kernels_conv.cc
void Conv2D(const Node& node, const Inputs& in, Tensor* out);
void MaxPool2D(const Node& node, const Inputs& in, Tensor* out);
void AvgPool2D(const Node& node, const Inputs& in, Tensor* out);

// kernels_dense.cc
void MatMul(const Node& node, const Inputs& in, Tensor* out);
void BiasAdd(const Node& node, const Inputs& in, Tensor* out);
// Every elementwise op of ops.def (Add, Relu, TanhGrad, ...).
void ElementwiseOp(const Node& node, const Inputs& in, Tensor* out);
void Softmax(const Node& node, const Inputs& in, Tensor* out);

// kernels_reduce.cc
void Reduce(const Node& node, const Inputs& in, Tensor* out);  // ReduceSum, ReduceMean, ReduceMax.
void ArgMax(const Node& node, const Inputs& in, Tensor* out);

// kernels_grad.cc: gradient ops, loss and metrics.
void Conv2DBackpropInput(const Node& node, const Inputs& in, Tensor* out);
void Conv2DBackpropFilter(const Node& node, const Inputs& in, Tensor* out);
void MaxPool2DGrad(const Node& node, const Inputs& in, Tensor* out);
void AvgPool2DGrad(const Node& node, const Inputs& in, Tensor* out);
void SoftmaxGrad(const Node& node, const Inputs& in, Tensor* out);
void Broadcast(const Node& node, const Inputs& in, Tensor* out);
void SoftmaxCrossEntropy(const Node& node, const Inputs& in, Tensor* out);
void SoftmaxCrossEntropyGrad(const Node& node, const Inputs& in, Tensor* out);
void Equal(const Node& node, const Inputs& in, Tensor* out);
// BatchNorm's inference form, straight from its definition (the reference for its expansion).
void BatchNorm(const Node& node, const Inputs& in, Tensor* out);
// The dropout mask of ir/random.h for the step in in[0].
void DropoutMask(const Node& node, const Inputs& in, Tensor* out);

// kernels_fused.cc: fused groups (compositions of the kernels above).
void FusedConv2D(const Node& node, const Inputs& in, Tensor* out);
void FusedConv2DMaxPool(const Node& node, const Inputs& in, Tensor* out);
void FusedDense(const Node& node, const Inputs& in, Tensor* out);
void FusedMaxPool2DGrad(const Node& node, const Inputs& in, Tensor* out);
void FusedConvPoolFilterGrad(const Node& node, const Inputs& in, Tensor* out);
void RoutedMaxPool2DGrad(const Node& node, const Inputs& in, Tensor* out);
void Elementwise(const Node& node, const Inputs& in, Tensor* out);
// out[0, B*C) = SoftmaxCrossEntropyGrad(logits, labels, dloss); out[B*C] = the mean loss.
void SoftmaxCrossEntropyWithGrad(const Node& node, const Inputs& in, Tensor* out);

// kernels_update.cc: Assign, ApplySgd, ApplyAdam. `in` holds every input; the first
// NumMutatedInputs(node.op) of them are the Parameters written in place.
void Update(const Node& node, const std::vector<Tensor*>& in);

}  // namespace kiln::kernels

#endif  // KILN_RUNTIME_KERNELS_H_
