// Rows along an axis: the loop skeleton of reductions, ArgMax, softmax and the loss. A tensor
// viewed around an axis is [outer, len, inner]; tasks take chunks of rows, each task owns whole
// rows and folds each in a fixed order.
#ifndef KILN_CODEGEN_ROW_UTIL_H_
#define KILN_CODEGEN_ROW_UTIL_H_

#include <cstdint>
#include <functional>

#include "codegen/kernel_builder.h"
#include "ir/graph.h"

namespace kiln::codegen {

int NormAxis(int64_t a, int rank);

// `dims` viewed around `axis` as [outer, len, inner].
struct Split {
  int64_t outer = 1, len = 1, inner = 1;
};
Split SplitAt(const Dims& dims, int axis);

// Rows per task for `work_per_task` elements each: about two L1s of floats per chunk.
int64_t Grain(const TargetInfo& t, int64_t work_per_task);

// A stack slot in the entry block (SROA turns it into SSA values): loop-carried accumulators.
llvm::Value* Slot(KernelBuilder& kb, llvm::Type* type, llvm::Value* init);
llvm::Value* Get(KernelBuilder& kb, llvm::Value* slot, llvm::Type* t);

// Rows [begin * per, min(end * per, n)) of this task range: body(row).
void ForTaskRows(KernelBuilder& kb, int64_t per, int64_t n,
                 const std::function<void(llvm::Value*)>& body);

// Rows along an axis: tasks over chunks of `outer`; body(base, row) for every (p, q), the row's
// elements at base + j * inner, `row` = p * inner + q (its index with the axis removed).
int64_t RowTasks(const TargetInfo& t, const Split& s);
void ForAxisRows(KernelBuilder& kb, const Split& s,
                 const std::function<void(llvm::Value*, llvm::Value*)>& body);
// base + j * stride.
llvm::Value* At(KernelBuilder& kb, llvm::Value* base, llvm::Value* j, int64_t stride);

// Max over a row of `len` floats at base + j * stride (maxnum: NaN ignored), starting at -inf.
llvm::Value* RowMax(KernelBuilder& kb, llvm::Value* x, llvm::Value* base, int64_t len,
                    int64_t stride);
// exp(x[j] - max) along a row, stored to out[j] unless `out` is null; returns their float sum
// (in order j).
llvm::Value* ExpRow(KernelBuilder& kb, llvm::Value* x, llvm::Value* out, llvm::Value* base,
                    int64_t len, int64_t stride, llvm::Value* max);

}  // namespace kiln::codegen

#endif  // KILN_CODEGEN_ROW_UTIL_H_
