// Emitters for reductions and ArgMax (softmax and the loss: emit_softmax.cc).
//
// Every task owns whole output elements and folds its inputs in a fixed order, so results do not
// depend on the thread count. Sums accumulate in float (the interpreter uses double in places).
#include <algorithm>
#include <limits>
#include <vector>

#include "codegen/elemental.h"
#include "codegen/lowering.h"
#include "codegen/row_util.h"
#include "llvm/IR/Intrinsics.h"

namespace kiln::codegen {
namespace {

// acc (op) v: sum, or max keeping acc unless v is strictly greater (NaN never wins).
llvm::Value* Fold(KernelBuilder& kb, bool is_max, llvm::Value* acc, llvm::Value* v) {
  auto& b = kb.b();
  if (!is_max) return b.CreateFAdd(acc, v);
  return b.CreateSelect(b.CreateFCmpOGT(v, acc), v, acc);
}

llvm::Value* Finish(KernelBuilder& kb, OpKind op, llvm::Value* acc, int64_t count) {
  if (op != OpKind::kReduceMean) return acc;
  llvm::Value* n = kb.F(static_cast<float>(count));
  if (acc->getType()->isVectorTy()) n = kb.Splat(n, kb.lanes());
  return kb.b().CreateFDiv(acc, n);  // 0/0 = NaN for an empty reduction, as the interpreter.
}

// A contiguous row of `len` floats reduced with `lanes` partial accumulators (combined in lane
// order), then the tail in order.
llvm::Value* ReduceRow(KernelBuilder& kb, bool is_max, llvm::Value* x, llvm::Value* base,
                       int64_t len) {
  auto& b = kb.b();
  const int L = kb.lanes();
  const float init = is_max ? -std::numeric_limits<float>::infinity() : 0.0f;
  llvm::Value* acc = kb.F(init);
  if (len >= L) {
    llvm::Value* vacc = Slot(kb, kb.Vec(L), kb.Splat(kb.F(init), L));
    kb.For(
        0, len / L, 1,
        [&](llvm::Value* v) {
          llvm::Value* val = kb.VLoad(x, At(kb, base, v, L), L, L);
          b.CreateStore(Fold(kb, is_max, Get(kb, vacc, kb.Vec(L)), val), vacc);
        },
        "v");
    llvm::Value* vec = Get(kb, vacc, kb.Vec(L));
    acc = b.CreateExtractElement(vec, uint64_t{0});
    for (int lane = 1; lane < L; ++lane) {
      acc = Fold(kb, is_max, acc, b.CreateExtractElement(vec, static_cast<uint64_t>(lane)));
    }
  }
  llvm::Value* s = Slot(kb, kb.F32(), acc);
  kb.For(
      len / L * L, len, 1,
      [&](llvm::Value* j) {
        b.CreateStore(Fold(kb, is_max, Get(kb, s, kb.F32()), kb.Load(x, b.CreateAdd(base, j))), s);
      },
      "j");
  return Get(kb, s, kb.F32());
}

}  // namespace

void EmitReduce(Lowering& l, const Node& node) {
  const Dims& dims = l.input(node, 0).type.dims;
  const int rank = static_cast<int>(dims.size());
  const bool is_max = node.op == OpKind::kReduceMax;
  const float init = is_max ? -std::numeric_limits<float>::infinity() : 0.0f;
  std::vector<bool> reduced(rank, false);
  for (int64_t a : node.GetInts("axes")) reduced[NormAxis(a, rank)] = true;
  const int64_t n_out = NumElements(node.type.dims);
  int64_t count = 1;
  for (int d = 0; d < rank; ++d) count *= reduced[d] ? dims[d] : 1;
  if (n_out == 0) return;
  // Merge runs of kept / reduced axes (size-1 axes fit either) into groups.
  std::vector<std::pair<bool, int64_t>> groups;
  for (int d = 0; d < rank; ++d) {
    if (dims[d] == 1) continue;
    if (groups.empty() || groups.back().first != reduced[d]) groups.push_back({reduced[d], 1});
    groups.back().second *= dims[d];
  }
  // [outer kept, len reduced, inner kept] when at most one reduced group.
  int reduced_groups = 0;
  Split s;
  for (const auto& [red, size] : groups) {
    if (red) s.len = size;
    if (!red) (reduced_groups ? s.inner : s.outer) *= size;
    reduced_groups += red;
  }
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  const int L = kb.lanes();
  const double flops = static_cast<double>(n_out) * static_cast<double>(count);

  if (reduced_groups <= 1 && s.inner == 1) {
    // Contiguous rows: vector partial accumulators along each row.
    const int64_t per = Grain(l.target(), s.len);
    l.BeginKernel(node, "reduce_rows", (s.outer + per - 1) / per, 1, flops);
    llvm::Value* x = l.In(node, 0);
    llvm::Value* out = l.Out(node);
    ForTaskRows(kb, per, s.outer, [&](llvm::Value* p) {
      llvm::Value* r = ReduceRow(kb, is_max, x, b.CreateMul(p, kb.I(s.len)), s.len);
      kb.Store(Finish(kb, node.op, r, count), out, p);
    });
    l.EndKernel();
    return;
  }
  if (reduced_groups == 1 && s.outer == 1 && s.len >= 8192) {
    // A tall column reduction (bias gradients over batch x pixels): a fixed number of row parts
    // reduce into partials in parallel, then one pass folds the parts in order. The fixed split
    // keeps the result independent of the thread count.
    constexpr int64_t kParts = 8;
    const int64_t rows_per = (s.len + kParts - 1) / kParts;
    const int scratch = l.NewScratch(kParts * s.inner);
    KernelBuilder& kp = l.kb();
    l.BeginKernel(node, "reduce_cols_parts", kParts, 1, flops);
    {
      auto& bp = kp.b();
      llvm::Value* x = l.In(node, 0);
      llvm::Value* part_out = kp.Buffer(scratch);
      kp.For(
          kp.task_begin(), kp.task_end(), 1,
          [&](llvm::Value* part) {
            llvm::Value* lo = bp.CreateMul(part, kp.I(rows_per));
            llvm::Value* hi = bp.CreateAdd(lo, kp.I(rows_per));
            hi = bp.CreateSelect(bp.CreateICmpSGT(hi, kp.I(s.len)), kp.I(s.len), hi);
            llvm::Value* o = bp.CreateMul(part, kp.I(s.inner));
            kp.For(
                0, s.inner, 1,
                [&](llvm::Value* c) { kp.Store(kp.F(init), part_out, bp.CreateAdd(o, c)); },
                "init");
            kp.For(
                lo, hi, 1,
                [&](llvm::Value* j) {
                  llvm::Value* row = bp.CreateMul(j, kp.I(s.inner));
                  kp.For(
                      0, s.inner, 1,
                      [&](llvm::Value* c) {
                        llvm::Value* at = bp.CreateAdd(o, c);
                        llvm::Value* v = kp.Load(x, bp.CreateAdd(row, c));
                        kp.Store(Fold(kp, is_max, kp.Load(part_out, at), v), part_out, at);
                      },
                      "c");
                },
                "j");
          },
          "part");
    }
    l.EndKernel();
    KernelBuilder& kc = l.kb();
    l.BeginKernel(node, "reduce_cols_combine", 1, 1, kParts * s.inner);
    {
      auto& bc = kc.b();
      llvm::Value* parts = kc.Buffer(scratch);
      llvm::Value* out = l.Out(node);
      kc.For(
          0, s.inner, 1,
          [&](llvm::Value* c) {
            llvm::Value* acc = kc.Load(parts, c);
            for (int64_t part = 1; part < kParts; ++part) {
              acc = Fold(kc, is_max, acc, kc.Load(parts, bc.CreateAdd(c, kc.I(part * s.inner))));
            }
            kc.Store(Finish(kc, node.op, acc, count), out, c);
          },
          "c");
    }
    l.EndKernel();
    return;
  }
  if (reduced_groups == 1) {
    // Column reduction: tasks over (outer, chunk of up to 8 vectors of kept columns); every task
    // folds its rows in ascending order, one accumulator per vector. Rows up to 8 vectors wide
    // stay whole: contiguous streaming beats splitting them (the kernel is bandwidth-bound).
    const int64_t vecs = (s.inner + L - 1) / L;
    const int64_t per = std::min<int64_t>(vecs, 8);
    const int64_t chunks = (vecs + per - 1) / per;
    const int64_t last_c0 = (chunks - 1) * per * L;  // The last chunk may be short.
    l.BeginKernel(node, "reduce_cols", s.outer * chunks, Grain(l.target(), s.len * per * L), flops);
    llvm::Value* x = l.In(node, 0);
    llvm::Value* out = l.Out(node);
    kb.For(
        kb.task_begin(), kb.task_end(), 1,
        [&](llvm::Value* t) {
          llvm::Value* p = b.CreateUDiv(t, kb.I(chunks));
          llvm::Value* c0 = b.CreateMul(b.CreateURem(t, kb.I(chunks)), kb.I(per * L));
          llvm::Value* base = b.CreateAdd(b.CreateMul(p, kb.I(s.len * s.inner)), c0);
          auto chunk = [&](int64_t width) {  // Columns [c0, c0 + width).
            std::vector<llvm::Value*> acc;
            for (int64_t v = 0; v * L < width; ++v) {
              acc.push_back(Slot(kb, kb.Vec(L), kb.Splat(kb.F(init), L)));
            }
            auto valid = [&](size_t v) {
              return static_cast<int>(std::min<int64_t>(L, width - v * L));
            };
            kb.For(
                0, s.len, 1,
                [&](llvm::Value* j) {
                  llvm::Value* row = At(kb, base, j, s.inner);
                  for (size_t v = 0; v < acc.size(); ++v) {
                    llvm::Value* x_v = kb.VLoad(x, b.CreateAdd(row, kb.I(v * L)), L, valid(v));
                    b.CreateStore(Fold(kb, is_max, Get(kb, acc[v], kb.Vec(L)), x_v), acc[v]);
                  }
                },
                "j");
            llvm::Value* o = b.CreateAdd(b.CreateMul(p, kb.I(s.inner)), c0);
            for (size_t v = 0; v < acc.size(); ++v) {
              llvm::Value* r = Finish(kb, node.op, Get(kb, acc[v], kb.Vec(L)), count);
              kb.VStore(r, out, b.CreateAdd(o, kb.I(v * L)), valid(v));
            }
          };
          if (s.inner - last_c0 == per * L) {
            chunk(per * L);
          } else {
            llvm::Value* last = b.CreateICmpEQ(c0, kb.I(last_c0));
            kb.If(b.CreateNot(last), [&] { chunk(per * L); });
            kb.If(last, [&] { chunk(s.inner - last_c0); });
          }
        },
        "t");
    l.EndKernel();
    return;
  }
  // General axis sets: per output element, its reduced elements in row-major order.
  std::vector<int64_t> stride(rank, 1);
  for (int d = rank - 2; d >= 0; --d) stride[d] = stride[d + 1] * dims[d + 1];
  const int64_t per = Grain(l.target(), count);
  l.BeginKernel(node, "reduce_any", (n_out + per - 1) / per, 1, flops);
  llvm::Value* x = l.In(node, 0);
  llvm::Value* out = l.Out(node);
  // Input offset of the row-major index `i` over the kept (or the reduced) axes alone.
  auto offset = [&](llvm::Value* i, bool of_reduced) {
    llvm::Value* off = kb.I(0);
    for (int d = rank - 1; d >= 0; --d) {
      if (reduced[d] != of_reduced) continue;
      off = b.CreateAdd(off, b.CreateMul(b.CreateURem(i, kb.I(dims[d])), kb.I(stride[d])));
      i = b.CreateUDiv(i, kb.I(dims[d]));
    }
    return off;
  };
  ForTaskRows(kb, per, n_out, [&](llvm::Value* o) {
    llvm::Value* base = offset(o, false);
    llvm::Value* acc = Slot(kb, kb.F32(), kb.F(init));
    kb.For(
        0, count, 1,
        [&](llvm::Value* r) {
          llvm::Value* v = kb.Load(x, b.CreateAdd(base, offset(r, true)));
          b.CreateStore(Fold(kb, is_max, Get(kb, acc, kb.F32()), v), acc);
        },
        "r");
    kb.Store(Finish(kb, node.op, Get(kb, acc, kb.F32()), count), out, o);
  });
  l.EndKernel();
}

void EmitArgMax(Lowering& l, const Node& node) {
  const Node& in = l.input(node, 0);
  const Split s = SplitAt(in.type.dims, NormAxis(node.GetInt("axis"), in.type.rank()));
  const bool i32 = in.type.dtype == DType::kI32;
  if (s.outer * s.inner == 0) return;
  l.BeginKernel(node, "argmax", RowTasks(l.target(), s), 1);
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  llvm::Value* x = l.In(node, 0);
  llvm::Value* out = l.Out(node);
  llvm::Type* et = i32 ? b.getInt32Ty() : kb.F32();
  ForAxisRows(kb, s, [&](llvm::Value* base, llvm::Value* row) {
    llvm::Value* best = Slot(kb, et, kb.Load(x, base, i32));
    llvm::Value* idx = Slot(kb, b.getInt64Ty(), kb.I(0));
    kb.For(
        1, s.len, 1,
        [&](llvm::Value* j) {
          llvm::Value* v = kb.Load(x, At(kb, base, j, s.inner), i32);
          llvm::Value* cur = Get(kb, best, et);
          llvm::Value* gt = i32 ? b.CreateICmpSGT(v, cur) : b.CreateFCmpOGT(v, cur);  // First wins.
          b.CreateStore(b.CreateSelect(gt, v, cur), best);
          b.CreateStore(b.CreateSelect(gt, j, Get(kb, idx, b.getInt64Ty())), idx);
        },
        "j");
    kb.Store(b.CreateTrunc(Get(kb, idx, b.getInt64Ty()), b.getInt32Ty()), out, row);
  });
  l.EndKernel();
}

}  // namespace kiln::codegen
