// Contraction epilogues: the elementwise program a fused conv or matmul applies to its results
// while they are still in registers.
#include "codegen/elemental.h"
#include "codegen/lowering.h"
#include "ir/status.h"

namespace kiln::codegen {

Epilogue::Epilogue(const Lowering& l, const Node& node) {
  if (node.op != OpKind::kFusedConv2D && node.op != OpKind::kFusedDense) return;
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

}  // namespace kiln::codegen
