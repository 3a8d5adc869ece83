// Contraction epilogues: the elementwise program a fused conv or matmul applies to its results
// while they are still in registers.
#include "codegen/elemental.h"
#include "codegen/lowering.h"
#include "ir/status.h"

namespace kiln::codegen {

Epilogue::Epilogue(const Lowering& l, const Node& node) : result_dims_(node.type.dims) {
  if (node.op != OpKind::kFusedConv2D && node.op != OpKind::kFusedDense) return;
  if (node.GetInt("keep") != 0) {
    std::vector<TensorType> types;
    for (int i = 0; i < static_cast<int>(node.inputs.size()); ++i)
      types.push_back(l.input(node, i).type);
    auto type = ContractionType(node, types);
    KILN_CHECK(type.ok());  // The verifier inferred it.
    result_dims_ = type->dims;
    kept_offset_ = NumElements(result_dims_);
  }
  const int n = static_cast<int>(node.inputs.size());
  const EpilogueLayout layout = LayoutOfEpilogue(n, n > 2 ? l.input(node, 2).type.rank() : 0);
  has_bias_ = layout.has_bias;
  first_extra_ = layout.first_extra;
  auto program = ParseElementwiseProgram(node.GetStr("epilogue"), 1 + layout.extras);
  KILN_CHECK(program.ok());  // The verifier parsed it.
  program_ = *std::move(program);
  for (int e = 0; e < layout.extras; ++e) {
    scalar_.push_back(l.input(node, first_extra_ + e).type.rank() == 0);
  }
}

void Epilogue::Bind(Lowering& l, const Node& node) {
  extras_.clear();
  for (size_t e = 0; e < scalar_.size(); ++e) {
    extras_.push_back(l.In(node, first_extra_ + static_cast<int>(e)));
  }
}

llvm::Value* Epilogue::Apply(KernelBuilder& kb, llvm::Value* acc, llvm::Value* offset,
                             int valid) const {
  if (program_.empty()) return acc;
  const int lanes = kb.lanes();
  return EmitProgram(kb.b(), program_, [&](int k) -> llvm::Value* {
    if (k == 0) return acc;
    if (scalar_[k - 1]) return kb.Splat(kb.Load(extras_[k - 1], kb.I(0)), lanes);
    return kb.VLoad(extras_[k - 1], offset, lanes, valid);
  });
}

void Epilogue::Store(KernelBuilder& kb, llvm::Value* acc, llvm::Value* out, llvm::Value* offset,
                     int valid) const {
  if (!deferred_) kb.VStore(Apply(kb, acc, offset, valid), out, offset, valid);
  llvm::Value* kept = kept_offset_ > 0 ? kb.b().CreateAdd(offset, kb.I(kept_offset_)) : nullptr;
  if (kept) kb.VStore(acc, out, kept, valid);
  if (deferred_ && !kept) kb.VStore(acc, out, offset, valid);
}

void Epilogue::DeferIfCostly() {
  deferred_ = !program_.empty() && ProgramCost(program_) > kMaxInlineEpilogueCost;
}

void Epilogue::ApplyRows(KernelBuilder& kb, llvm::Value* out, llvm::Value* begin,
                         int64_t count) const {
  if (!deferred_) return;
  auto& b = kb.b();
  const int lanes = kb.lanes();
  auto apply = [&](llvm::Value* at, int valid) {
    llvm::Value* from = kept_offset_ > 0 ? b.CreateAdd(at, kb.I(kept_offset_)) : at;
    kb.VStore(Apply(kb, kb.VLoad(out, from, lanes, valid), at, valid), out, at, valid);
  };
  const int64_t full = count - count % lanes;
  if (full > 0) {
    kb.For(
        begin, b.CreateAdd(begin, kb.I(full)), lanes, [&](llvm::Value* at) { apply(at, lanes); },
        "epilogue");
  }
  if (full < count) apply(b.CreateAdd(begin, kb.I(full)), static_cast<int>(count - full));
}

}  // namespace kiln::codegen
