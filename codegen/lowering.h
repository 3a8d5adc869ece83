// Lowering a graph's nodes to kernels: the state shared by the per-family emitters.
#ifndef KILN_CODEGEN_LOWERING_H_
#define KILN_CODEGEN_LOWERING_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "codegen/kernel_builder.h"
#include "ir/elementwise_program.h"
#include "ir/graph.h"

namespace kiln::codegen {

// Buffer slots: slot i < num_nodes holds node i's output (Reshape shares its input's storage);
// slots past that are scratch buffers a kernel asked for.
class Lowering {
 public:
  // Kernels go to `builders` in turn (one LLVM module each, compiled in parallel): the current
  // builder is the one the next BeginKernel writes to, and EndKernel moves to the next.
  Lowering(std::vector<KernelBuilder*> builders, const Graph& graph)
      : builders_(std::move(builders)), graph_(graph) {}

  KernelBuilder& kb() { return *builders_[current_]; }
  // The target every builder compiles for (one per compile).
  const TargetInfo& target() const { return builders_[0]->target(); }
  const Graph& graph() const { return graph_; }
  const Node& input(const Node& node, int i) const { return graph_.node(node.inputs[i]); }
  const Dims& dims(const Node& node) const { return node.type.dims; }

  // Starts kernel function `<node>_<suffix>`; the launch runs after the previous ones.
  void BeginKernel(const Node& node, const std::string& suffix, int64_t tasks, int64_t grain,
                   double flops = 0);
  void EndKernel() {
    kb().End();
    current_ = (current_ + 1) % builders_.size();
  }
  // Pointer to node `id`'s output.
  llvm::Value* Out(const Node& node) { return kb().Buffer(node.id); }
  llvm::Value* In(const Node& node, int i) { return kb().Buffer(node.inputs[i]); }
  // A scratch buffer of `floats` elements, valid for the current step only.
  int NewScratch(int64_t floats);

  const std::vector<Launch>& launches() const { return launches_; }
  const std::vector<int64_t>& scratch_floats() const { return scratch_; }

 private:
  std::vector<KernelBuilder*> builders_;
  size_t current_ = 0;
  const Graph& graph_;
  std::vector<Launch> launches_;
  std::vector<int64_t> scratch_;
};

// Emits the kernels computing `node` (none for sources and Reshape). Every op kind has a case.
absl::Status EmitNode(Lowering& l, const Node& node);

// The epilogue of a contraction (FusedConv2D, FusedDense; see ir/ops.def): an elementwise
// program over each result and the node's extra inputs at the same offset, evaluated on vectors
// by EmitElement. For any other node it is the identity and has no bias.
class Epilogue {
 public:
  Epilogue(const Lowering& l, const Node& node);
  // The contraction's result: the node's type, or what it keeps beside the program's result.
  const Dims& result_dims() const { return result_dims_; }
  bool has_bias() const { return has_bias_; }
  int bias_input() const { return has_bias_ ? 2 : -1; }
  // Loads the extras' pointers; call once in the kernel, after BeginKernel.
  void Bind(Lowering& l, const Node& node);
  // program(acc, extra_1[offset..], ...) for a vector `acc` of which `valid` lanes are real.
  llvm::Value* Apply(KernelBuilder& kb, llvm::Value* acc, llvm::Value* offset, int valid) const;
  // Stores Apply's result at out[offset..], and with keep = 1 `acc` itself after the result.
  // Deferred, it stores only `acc` (in place, or where it is kept) and ApplyRows applies the
  // program later.
  void Store(KernelBuilder& kb, llvm::Value* acc, llvm::Value* out, llvm::Value* offset,
             int valid) const;
  // For kernels that finish rows of contiguous results: defer a costly program
  // (kMaxInlineEpilogueCost, codegen/schedule.h) to ApplyRows.
  void DeferIfCostly();
  // A deferred program over out[begin, begin + count), reading what Store left.
  void ApplyRows(KernelBuilder& kb, llvm::Value* out, llvm::Value* begin, int64_t count) const;

 private:
  Dims result_dims_;
  int64_t kept_offset_ = 0;  // > 0: where the kept in0 starts.
  bool deferred_ = false;
  bool has_bias_ = false;
  int first_extra_ = 2;
  std::vector<ElementwiseInstr> program_;
  std::vector<bool> scalar_;  // Per extra: a rank-0 input, splatted.
  std::vector<llvm::Value*> extras_;
};

// Per-family emitters (emit_*.cc).
// Every elementwise row of ops.def as a one-op program (i32 arithmetic and Equal scalar).
void EmitElementwiseOp(Lowering& l, const Node& node);
void EmitBiasAdd(Lowering& l, const Node& node);
void EmitBroadcast(Lowering& l, const Node& node);
void EmitDropoutMask(Lowering& l, const Node& node);
void EmitUpdate(Lowering& l, const Node& node);              // Assign, ApplySgd, ApplyAdam
void EmitElementwiseProgram(Lowering& l, const Node& node);  // Fused Elementwise
void EmitReduce(Lowering& l, const Node& node);              // ReduceSum, ReduceMean, ReduceMax
void EmitArgMax(Lowering& l, const Node& node);
void EmitSoftmax(Lowering& l, const Node& node);
void EmitSoftmaxGrad(Lowering& l, const Node& node);
void EmitSoftmaxCrossEntropy(Lowering& l, const Node& node);
void EmitSoftmaxCrossEntropyGrad(Lowering& l, const Node& node);
void EmitPool(Lowering& l, const Node& node);  // MaxPool2D, AvgPool2D
// MaxPool2DGrad, AvgPool2DGrad, FusedMaxPool2DGrad (mask dx by x > 0).
void EmitPoolGrad(Lowering& l, const Node& node);
void EmitRoutedPoolGrad(Lowering& l, const Node& node);  // RoutedMaxPool2DGrad
void EmitConv2D(Lowering& l, const Node& node);          // Conv2D, FusedConv2D, FusedConv2DMaxPool
void EmitConv2DBackpropInput(Lowering& l, const Node& node);
void EmitConv2DBackpropFilter(Lowering& l, const Node& node);
void EmitConvPoolFilterGrad(Lowering& l, const Node& node);  // FusedConvPoolFilterGrad
void EmitMatMul(Lowering& l, const Node& node);  // MatMul, FusedDense, FusedMatMulApplyAdam

// Repacks a filter [KH, KW, C, D] as sub-filters [TH, TW, D, C] (transposed), one per `phase`,
// stored one after another: sub-filter tap (a, b) is tap (h_first + h_step * a, w_first +
// w_step * b) of src. Returns the scratch slot (emit_conv_input.cc).
struct FilterPhase {
  int64_t h_first, h_step, h_count, w_first, w_step, w_count;
};
int EmitPackFilter(Lowering& l, const Node& node, int src_slot, const Dims& d,
                   const std::vector<FilterPhase>& phases);
// The one-phase pack: all taps, flipped (a' = KH-1-a, b' = KW-1-b) when `flip`; a plain [C, D]
// transpose is the filter [1, 1, C, D].
int EmitTransposeFilter(Lowering& l, const Node& node, int src_slot, const Dims& d, bool flip);

// out[i] = sum over k < count of partial[k * size + i], in order k = 0, 1, ... (deterministic
// for any thread count): the second kernel of emitters that split a reduction into partials.
void EmitSumOfPartials(Lowering& l, const Node& node, const char* suffix, int partial_slot,
                       int64_t count, int64_t size);

// Adam (see runtime/kernels_update.cc), shared by the update kernel and the matmul epilogue:
// the step's alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t), computed in double once per
// kernel from the f32[] step buffer, and the per-element update of p, m and v at `index` for
// the gradient g: scalars (lanes 1), or vectors of which the first `valid` lanes are stored.
struct AdamStep {
  llvm::Value* alpha;
  float one_minus_beta1, one_minus_beta2, epsilon;
};
AdamStep EmitAdamStep(KernelBuilder& kb, const Node& node, llvm::Value* t_buf);
void EmitAdamUpdate(KernelBuilder& kb, const AdamStep& s, llvm::Value* g, llvm::Value* p_buf,
                    llvm::Value* m_buf, llvm::Value* v_buf, llvm::Value* index, int lanes,
                    int valid);

}  // namespace kiln::codegen

#endif  // KILN_CODEGEN_LOWERING_H_
