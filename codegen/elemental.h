// The JIT's elementwise math: each emitter takes and returns f32 scalars or <N x f32> vectors
// alike, so a loop, a conv epilogue and a reduction all round the same way. The ops' formulas
// are written once, in ir/elementwise_math.h; EmitElement and EmitProgram emit them.
//
// exp, log, tanh, sigmoid and erf are inline polynomial approximations (no libm call), so they run
// at full vector width inside any loop. Their error against double-precision libm, measured
// over every 257th float bit pattern of both signs, a dense sweep of [-10, 10] and the branch
// points (tests/codegen_elemental_test.cc), in ulps of the exact result (denormal results on
// the denormal grid):
//   exp      bound 2 ulp, measured 1.01; x > 88.73 gives +inf, x < -103.98 gives 0
//   log      bound 2 ulp, measured 0.82; x < 0 gives NaN, 0 gives -inf, +inf stays
//   tanh     bound 3 ulp, measured 1.30; odd polynomial below |x| = 0.625, 1 - 2 / (e^2|x| + 1)
//   sigmoid  bound 3 ulp, measured 2.33; 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below
//   erf      bound 4 ulp, measured 3.05; Taylor series below |x| = 1, Abramowitz-Stegun 7.1.26
//            (1 - t P(t) e^-x^2) above
// NaN in gives NaN out; infinities give the limits.
#ifndef KILN_CODEGEN_ELEMENTAL_H_
#define KILN_CODEGEN_ELEMENTAL_H_

#include <functional>
#include <vector>

#include "ir/elementwise_program.h"
#include "llvm/IR/IRBuilder.h"

namespace kiln::codegen {

llvm::Value* EmitExp(llvm::IRBuilder<>& b, llvm::Value* x);
llvm::Value* EmitLog(llvm::IRBuilder<>& b, llvm::Value* x);
llvm::Value* EmitTanh(llvm::IRBuilder<>& b, llvm::Value* x);
llvm::Value* EmitSigmoid(llvm::IRBuilder<>& b, llvm::Value* x);
llvm::Value* EmitErf(llvm::IRBuilder<>& b, llvm::Value* x);

// An elementwise op of ops.def on f32 operands of one type (scalars or vectors), from its one
// definition (ir/elementwise_math.h); `y` is null for unary ops.
llvm::Value* EmitElement(llvm::IRBuilder<>& b, OpKind op, llvm::Value* x, llvm::Value* y);
// An elementwise program (ir/elementwise_program.h) on operands of one type; `input(k)` loads
// input k.
llvm::Value* EmitProgram(llvm::IRBuilder<>& b, const std::vector<ElementwiseInstr>& program,
                         const std::function<llvm::Value*(int)>& input);

}  // namespace kiln::codegen

#endif  // KILN_CODEGEN_ELEMENTAL_H_
