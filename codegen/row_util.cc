// Row helpers shared by the reduction and softmax emitters (see row_util.h).
#include "codegen/row_util.h"

#include <algorithm>
#include <limits>

namespace kiln::codegen {

int NormAxis(int64_t a, int rank) { return static_cast<int>(a < 0 ? a + rank : a); }

// `dims` viewed around `axis` as [outer, len, inner].
Split SplitAt(const Dims& dims, int axis) {
  Split s;
  for (int d = 0; d < axis; ++d) s.outer *= dims[d];
  for (int d = axis + 1; d < static_cast<int>(dims.size()); ++d) s.inner *= dims[d];
  s.len = dims[axis];
  return s;
}

int64_t Grain(const TargetInfo& t, int64_t work_per_task) {
  // About two L1s of floats per chunk of tasks.
  return std::max<int64_t>(1, 2 * t.l1_bytes / 4 / std::max<int64_t>(work_per_task, 1));
}

// A stack slot in the entry block (SROA turns it into SSA values): loop-carried accumulators.
llvm::Value* Slot(KernelBuilder& kb, llvm::Type* type, llvm::Value* init) {
  llvm::Value* slot = kb.EntrySlots(type, 1)[0];
  kb.b().CreateStore(init, slot);
  return slot;
}
llvm::Value* Get(KernelBuilder& kb, llvm::Value* slot, llvm::Type* t) {
  return kb.b().CreateLoad(t, slot);
}

// Rows [begin * per, min(end * per, n)) of this task range: body(row).
void ForTaskRows(KernelBuilder& kb, int64_t per, int64_t n,
                 const std::function<void(llvm::Value*)>& body) {
  auto& b = kb.b();
  llvm::Value* lo = b.CreateMul(kb.task_begin(), kb.I(per));
  llvm::Value* hi = b.CreateMul(kb.task_end(), kb.I(per));
  hi = b.CreateSelect(b.CreateICmpSGT(hi, kb.I(n)), kb.I(n), hi);
  kb.For(lo, hi, 1, body, "row");
}

// Rows along an axis: tasks over chunks of `outer`; body(base, row) for every (p, q), the row's
// elements at base + j * inner, `row` = p * inner + q (its index with the axis removed).
int64_t RowTasks(const TargetInfo& t, const Split& s) {
  return (s.outer + Grain(t, s.len * s.inner) - 1) / Grain(t, s.len * s.inner);
}
void ForAxisRows(KernelBuilder& kb, const Split& s,
                 const std::function<void(llvm::Value*, llvm::Value*)>& body) {
  auto& b = kb.b();
  ForTaskRows(kb, Grain(kb.target(), s.len * s.inner), s.outer, [&](llvm::Value* p) {
    kb.For(
        0, s.inner, 1,
        [&](llvm::Value* q) {
          body(b.CreateAdd(b.CreateMul(p, kb.I(s.len * s.inner)), q),
               b.CreateAdd(b.CreateMul(p, kb.I(s.inner)), q));
        },
        "q");
  });
}
llvm::Value* At(KernelBuilder& kb, llvm::Value* base, llvm::Value* j, int64_t stride) {
  return kb.b().CreateAdd(base, kb.b().CreateMul(j, kb.I(stride)));
}

// Max over a row of `len` floats at base + j * stride (maxnum: NaN ignored), starting at -inf.
llvm::Value* RowMax(KernelBuilder& kb, llvm::Value* x, llvm::Value* base, int64_t len,
                    int64_t stride) {
  auto& b = kb.b();
  llvm::Value* m = Slot(kb, kb.F32(), kb.F(-std::numeric_limits<float>::infinity()));
  kb.For(
      0, len, 1,
      [&](llvm::Value* j) {
        b.CreateStore(kb.Max(Get(kb, m, kb.F32()), kb.Load(x, At(kb, base, j, stride))), m);
      },
      "j");
  return Get(kb, m, kb.F32());
}

// exp(x[j] - max) along a row, stored to out[j] unless `out` is null; returns their float sum
// (in order j).
llvm::Value* ExpRow(KernelBuilder& kb, llvm::Value* x, llvm::Value* out, llvm::Value* base,
                    int64_t len, int64_t stride, llvm::Value* max) {
  auto& b = kb.b();
  llvm::Value* s = Slot(kb, kb.F32(), kb.F(0.0f));
  // With `out`, two loops: the exponentials vectorize, the ordered sum stays scalar.
  kb.For(
      0, len, 1,
      [&](llvm::Value* j) {
        llvm::Value* i = At(kb, base, j, stride);
        llvm::Value* e = kb.Exp(b.CreateFSub(kb.Load(x, i), max));
        if (out) kb.Store(e, out, i);
        if (!out) b.CreateStore(b.CreateFAdd(Get(kb, s, kb.F32()), e), s);
      },
      "j");
  if (!out) return Get(kb, s, kb.F32());
  kb.For(
      0, len, 1,
      [&](llvm::Value* j) {
        b.CreateStore(b.CreateFAdd(Get(kb, s, kb.F32()), kb.Load(out, At(kb, base, j, stride))), s);
      },
      "j");
  return Get(kb, s, kb.F32());
}

}  // namespace kiln::codegen
