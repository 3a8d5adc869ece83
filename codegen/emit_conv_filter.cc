// The filter gradient dw[kh, kw, ci, co] = sum_{n, oh, ow} x[n, ih, iw, ci] * dy[n, oh, ow, co].
// Reduction "combos" are (kh, kw, ci) triples, ci fastest. A task owns a group of combos whose
// dw rows ([group, CO], at most 16 KiB) stay in L1 while it streams the rows of x and dy once;
// within a row, register blocks of rb combos x cb channel vectors accumulate over ow.
// The batch is split into parts, each writing its own partial dw, that a second kernel sums in
// order, so the result does not depend on the thread count: small filters over big batches split
// it per image (enough tasks); big batches split it into blocks of images whose x and dy fit in
// L2, so every group's task streams its block from L2 rather than the whole batch from memory.
#include <algorithm>

#include "codegen/conv_util.h"
#include "codegen/lowering.h"

namespace kiln::codegen {

using llvm::Value;

void EmitConv2DBackpropFilter(Lowering& l, const Node& node) {
  const Dims& x = l.input(node, 0).type.dims;
  const Dims& dy = l.input(node, 1).type.dims;
  const Dims& dw = node.type.dims;  // [KH, KW, CI, CO]
  const ConvWindow win = ConvWindowOf(node, x, dy, dw[0], dw[1]);
  const bool check_h = NeedsCheck(x[1], dy[1], dw[0], win.sh, win.ph);
  const bool check_w = NeedsCheck(x[2], dy[2], dw[1], win.sw, win.pw);
  const int lanes = l.kb().lanes();
  const int64_t vectors = (dw[3] + lanes - 1) / lanes;
  const int64_t cb = std::min<int64_t>(vectors, 4);
  const int64_t combos = dw[0] * dw[1] * dw[2];
  const int64_t rb = std::min<int64_t>(std::max<int64_t>(24 / cb, 1), combos);
  const int64_t rows_fit = std::max<int64_t>(1, 4096 / dw[3]);  // 16 KiB of dw rows.
  const int64_t group = std::min<int64_t>(combos, rb * std::max<int64_t>(1, rows_fit / rb));
  const int64_t groups = (combos + group - 1) / group;
  const int64_t sub_blocks = (group + rb - 1) / rb;
  const int64_t dw_size = NumElements(dw);
  // Rows of dy per chunk: about 32 KiB of dy.
  const int64_t chunk_rows = std::max<int64_t>(1, 8192 / (dy[2] * dy[3]));
  const bool per_image = dy[0] > 1 && dy[0] * dw_size * 4 <= (int64_t{2} << 20);
  const int64_t image_bytes = (x[1] * x[2] * x[3] + dy[1] * dy[2] * dy[3]) * 4;
  const int64_t images_per_part =
      per_image ? 1 : std::clamp<int64_t>((int64_t{1} << 20) / image_bytes, 1, dy[0]);
  const int64_t parts = (dy[0] + images_per_part - 1) / images_per_part;
  const bool split = parts > 1;
  const int partial_slot = split ? l.NewScratch(parts * dw_size) : -1;
  const double flops = 2.0 * dw_size * dy[0] * dy[1] * dy[2];

  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  l.BeginKernel(node, split ? "conv_filter_partial" : "conv_filter", parts * groups, 1, flops);
  Value* xb = l.In(node, 0);
  Value* dyb = l.In(node, 1);
  Value* out = split ? kb.Buffer(partial_slot) : l.Out(node);
  const std::vector<Value*> acc = kb.EntrySlots(kb.Vec(lanes), rb * cb);
  kb.For(
      kb.task_begin(), kb.task_end(), 1,
      [&](Value* task) {
        Value* part = b.CreateUDiv(task, kb.I(groups), "part");
        Value* g0 = b.CreateMul(b.CreateURem(task, kb.I(groups)), kb.I(group), "g0");
        Value* g_end = b.CreateAdd(g0, kb.I(group));
        g_end = b.CreateSelect(b.CreateICmpUGT(g_end, kb.I(combos)), kb.I(combos), g_end);
        // This task's dw rows (in its part's partial when splitting the batch).
        Value* out_base = b.CreateMul(part, kb.I(dw_size));
        Value* first = b.CreateAdd(out_base, b.CreateMul(g0, kb.I(dw[3])));
        Value* len = b.CreateMul(b.CreateSub(g_end, g0), kb.I(dw[3]));
        kb.For(
            kb.I(0), len, 1, [&](Value* i) { kb.Store(kb.F(0.0f), out, b.CreateAdd(first, i)); },
            "zero");
        // Rows (n, oh) in chunks: a chunk's dy and x rows stay in L1/L2 while every register block
        // of combos accumulates over all of them (one load/store of the block per chunk).
        Value* row_lo = b.CreateMul(part, kb.I(images_per_part * dy[1]));
        Value* row_hi = b.CreateAdd(row_lo, kb.I(images_per_part * dy[1]));
        row_hi = b.CreateSelect(b.CreateICmpSGT(row_hi, kb.I(dy[0] * dy[1])), kb.I(dy[0] * dy[1]),
                                row_hi);
        kb.For(
            row_lo, row_hi, chunk_rows,
            [&](Value* r0) {
              Value* r1 = b.CreateAdd(r0, kb.I(chunk_rows));
              r1 = b.CreateSelect(b.CreateICmpSGT(r1, row_hi), row_hi, r1);
              kb.For(
                  0, sub_blocks, 1,
                  [&](Value* sb) {
                    Value* c0 = b.CreateAdd(g0, b.CreateMul(sb, kb.I(rb)));
                    std::vector<Value*> valid(rb), kh(rb), kw(rb), ci(rb), dw_off(rb);
                    for (int64_t r = 0; r < rb; ++r) {
                      Value* c = b.CreateAdd(c0, kb.I(r));
                      valid[r] = b.CreateICmpULT(c, g_end);
                      // Past the group's end (the last group may be short, so even c0 can be),
                      // read combo g0 instead: in bounds, and never stored.
                      c = b.CreateSelect(valid[r], c, g0);
                      ci[r] = b.CreateURem(c, kb.I(dw[2]));
                      Value* tap = b.CreateUDiv(c, kb.I(dw[2]));
                      kw[r] = b.CreateURem(tap, kb.I(dw[1]));
                      kh[r] = b.CreateUDiv(tap, kb.I(dw[1]));
                      dw_off[r] = b.CreateAdd(out_base, b.CreateMul(c, kb.I(dw[3])));
                    }
                    for (int64_t co0 = 0; co0 < vectors; co0 += cb) {
                      const int64_t nv = std::min(cb, vectors - co0);
                      auto valid_lanes = [&](int64_t v) {
                        return static_cast<int>(
                            std::min<int64_t>(lanes, dw[3] - (co0 + v) * lanes));
                      };
                      for (int64_t r = 0; r < rb; ++r) {
                        for (int64_t v = 0; v < nv; ++v) {
                          b.CreateStore(
                              kb.VLoad(out, b.CreateAdd(dw_off[r], kb.I((co0 + v) * lanes)), lanes,
                                       valid_lanes(v)),
                              acc[r * cb + v]);
                        }
                      }
                      kb.For(
                          r0, r1, 1,
                          [&](Value* row) {
                            Value* n = b.CreateUDiv(row, kb.I(dy[1]));
                            Value* oh = b.CreateURem(row, kb.I(dy[1]));
                            Value* dy_row = b.CreateMul(row, kb.I(dy[2]));
                            std::vector<Value*> x_row(rb), ok_h(rb);
                            for (int64_t r = 0; r < rb; ++r) {
                              Value* ih = b.CreateAdd(b.CreateMul(oh, kb.I(win.sh)),
                                                      b.CreateSub(kh[r], kb.I(win.ph)));
                              ok_h[r] = check_h ? kb.InRange(ih, x[1]) : nullptr;
                              if (check_h) ih = kb.Clamp(ih, x[1]);
                              x_row[r] = b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.I(x[1])), ih),
                                                     kb.I(x[2]));
                            }
                            kb.For(
                                0, dy[2], 1,
                                [&](Value* ow) {
                                  Value* dyo = b.CreateMul(b.CreateAdd(dy_row, ow), kb.I(dy[3]));
                                  std::vector<Value*> g(nv);
                                  for (int64_t v = 0; v < nv; ++v) {
                                    g[v] = kb.VLoad(dyb, b.CreateAdd(dyo, kb.I((co0 + v) * lanes)),
                                                    lanes, valid_lanes(v));
                                  }
                                  for (int64_t r = 0; r < rb; ++r) {
                                    Value* iw = b.CreateAdd(b.CreateMul(ow, kb.I(win.sw)),
                                                            b.CreateSub(kw[r], kb.I(win.pw)));
                                    Value* ok = ok_h[r];
                                    if (check_w) {
                                      Value* in_w = kb.InRange(iw, x[2]);
                                      ok = ok ? b.CreateAnd(ok, in_w) : in_w;
                                      iw = kb.Clamp(iw, x[2]);
                                    }
                                    Value* xv = kb.Load(
                                        xb, b.CreateAdd(
                                                b.CreateMul(b.CreateAdd(x_row[r], iw), kb.I(x[3])),
                                                ci[r]));
                                    if (ok) xv = b.CreateSelect(ok, xv, kb.F(0.0f));
                                    Value* xs = kb.Splat(xv, lanes);
                                    for (int64_t v = 0; v < nv; ++v) {
                                      Value* a = b.CreateLoad(kb.Vec(lanes), acc[r * cb + v]);
                                      b.CreateStore(kb.Fma(xs, g[v], a), acc[r * cb + v]);
                                    }
                                  }
                                },
                                "ow");
                          },
                          "row");
                      for (int64_t r = 0; r < rb; ++r) {
                        kb.If(valid[r], [&] {
                          for (int64_t v = 0; v < nv; ++v) {
                            kb.VStore(b.CreateLoad(kb.Vec(lanes), acc[r * cb + v]), out,
                                      b.CreateAdd(dw_off[r], kb.I((co0 + v) * lanes)),
                                      valid_lanes(v));
                          }
                        });
                      }
                    }
                  },
                  "sub");
            },
            "chunk");
      },
      "task");
  l.EndKernel();
  if (split) EmitSumOfPartials(l, node, "conv_filter_sum", partial_slot, parts, dw_size);
}

void EmitSumOfPartials(Lowering& l, const Node& node, const char* suffix, int partial_slot,
                       int64_t count, int64_t size) {
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  const int64_t chunk = 1024;
  l.BeginKernel(node, suffix, (size + chunk - 1) / chunk, 1, count * size);
  Value* partial = kb.Buffer(partial_slot);
  Value* dst = l.Out(node);
  Value* lo = b.CreateMul(kb.task_begin(), kb.I(chunk));
  Value* hi = b.CreateMul(kb.task_end(), kb.I(chunk));
  hi = b.CreateSelect(b.CreateICmpSGT(hi, kb.I(size)), kb.I(size), hi);
  kb.For(
      lo, hi, 1, [&](Value* i) { kb.Store(kb.F(0.0f), dst, i); }, "zero");
  kb.For(
      0, count, 1,
      [&](Value* n) {
        Value* base = b.CreateMul(n, kb.I(size));
        kb.For(
            lo, hi, 1,
            [&](Value* i) {
              kb.Store(b.CreateFAdd(kb.Load(dst, i), kb.Load(partial, b.CreateAdd(base, i))), dst,
                       i);
            },
            "i");
      },
      "n");
  l.EndKernel();
}

}  // namespace kiln::codegen
