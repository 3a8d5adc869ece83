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
  std::vector<llvm::Value*> stack;
  for (const ElementwiseInstr& instr : program_) {
    if (instr.kind == ElementwiseInstr::kInput) {
      if (instr.input == 0) {
        stack.push_back(acc);
      } else if (scalar_[instr.input - 1]) {
        stack.push_back(kb.Splat(kb.Load(extras_[instr.input - 1], kb.I(0)), lanes));
      } else {
        stack.push_back(kb.VLoad(extras_[instr.input - 1], offset, lanes, valid));
      }
      continue;
    }
    llvm::Value* y = nullptr;
    if (ElementwiseArity(instr.kind) == 2) {
      y = stack.back();
      stack.pop_back();
    }
    stack.back() = EmitElement(kb.b(), instr.kind, stack.back(), y);
  }
  return stack.back();
}

}  // namespace kiln::codegen
