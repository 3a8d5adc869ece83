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

namespace {

// body(ow, check_w) over ow in [0, width): with checks, the border columns outside `inside`
// one loop each side, and the inside ones in a loop of their own without checks.
void AccumulateColumns(KernelBuilder& kb, int64_t width, std::pair<int64_t, int64_t> inside,
                       bool check, const std::function<void(Value*, bool)>& body) {
  auto loop = [&](int64_t lo, int64_t hi, bool checked) {
    if (lo < hi) kb.For(lo, hi, 1, [&](Value* ow) { body(ow, checked); }, "ow");
  };
  if (!check) return loop(0, width, false);
  loop(0, inside.first, true);
  loop(inside.first, inside.second, false);
  loop(inside.second, width, true);
}

}  // namespace

void EmitConv2DBackpropFilter(Lowering& l, const Node& node) {
  const Dims& x = l.input(node, 0).type.dims;
  const Dims& dy = l.input(node, 1).type.dims;
  const Dims& dw = node.type.dims;  // [KH, KW, CI, CO]
  const ConvWindow win = ConvWindowOf(node, x, dy, dw[0], dw[1]);
  const bool check_h = NeedsCheck(x[1], dy[1], dw[0], win.sh, win.ph);
  const bool check_w = NeedsCheck(x[2], dy[2], dw[1], win.sw, win.pw);
  const int lanes = l.kb().lanes();
  const int64_t vectors = (dw[3] + lanes - 1) / lanes;
  const int64_t combos = dw[0] * dw[1] * dw[2];
  const TargetInfo& target = l.kb().target();
  const RegisterTile tile = ChooseRegisterTile(target, vectors, combos);
  const int64_t cb = tile.vectors, rb = tile.rows;
  // A task's dw rows take a third of L1, the chunk of dy rows streamed past them two thirds.
  const int64_t rows_fit = std::max<int64_t>(1, target.l1_bytes / 3 / 4 / dw[3]);
  const int64_t group = std::min<int64_t>(combos, rb * std::max<int64_t>(1, rows_fit / rb));
  const int64_t groups = (combos + group - 1) / group;
  const int64_t sub_blocks = (group + rb - 1) / rb;
  const int64_t dw_size = NumElements(dw);
  const int64_t chunk_rows = std::max<int64_t>(1, target.l1_bytes * 2 / 3 / 4 / (dy[2] * dy[3]));
  // Per-image partials while they all fit in two L2s; else blocks of images that fit one L2.
  const bool per_image = dy[0] > 1 && dy[0] * dw_size * 4 <= 2 * target.l2_bytes;
  const int64_t image_bytes = (x[1] * x[2] * x[3] + dy[1] * dy[2] * dy[3]) * 4;
  const int64_t images_per_part =
      per_image ? 1 : std::clamp<int64_t>(target.l2_bytes / image_bytes, 1, dy[0]);
  const int64_t parts = (dy[0] + images_per_part - 1) / images_per_part;
  const bool split = parts > 1;
  const int partial_slot = split ? l.NewScratch(parts * dw_size) : -1;
  const double flops = 2.0 * dw_size * dy[0] * dy[1] * dy[2];
  // Rows and columns whose taps all land inside x accumulate without bounds checks.
  const auto inside_h = InsideRange(x[1], dy[1], dw[0], win.sh, win.ph);
  const auto inside_w = InsideRange(x[2], dy[2], dw[1], win.sw, win.pw);

  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  l.BeginKernel(node, split ? "conv_filter_partial" : "conv_filter", parts * groups, 1, flops);
  Value* xb = l.In(node, 0);
  Value* dyb = l.In(node, 1);
  Value* out = split ? kb.Buffer(partial_slot) : l.Out(node);
  const std::vector<Value*> acc = kb.EntrySlots(kb.Vec(lanes), rb * cb);
  FilterBlock blk(kb, xb, x, dw, win, check_h, check_w, acc, cb);
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
                    // Past the group's end (the last group may be short, so even the first combo
                    // can be), combos read combo g0 instead.
                    blk.SetCombos(b.CreateAdd(g0, b.CreateMul(sb, kb.I(rb))), rb, g_end, g0,
                                  out_base);
                    for (int64_t co0 = 0; co0 < vectors; co0 += cb) {
                      const int64_t nv = std::min(cb, vectors - co0);
                      blk.Load(out, co0, nv);
                      kb.For(
                          r0, r1, 1,
                          [&](Value* row) {
                            Value* n = b.CreateUDiv(row, kb.I(dy[1]));
                            Value* oh = b.CreateURem(row, kb.I(dy[1]));
                            Value* dy_row = b.CreateMul(row, kb.I(dy[2]));
                            blk.SetRow(n, oh);
                            // Inside rows split their columns; border rows (few) check all.
                            auto columns = [&](bool border_row) {
                              AccumulateColumns(kb, dy[2], inside_w, check_w && !border_row,
                                                [&](Value* ow, bool cw) {
                                                  blk.Accumulate(ow, dyb,
                                                                 b.CreateMul(b.CreateAdd(dy_row, ow),
                                                                             kb.I(dy[3])),
                                                                 co0, nv, border_row,
                                                                 cw || border_row);
                                                });
                            };
                            if (!check_h) return columns(false);
                            kb.IfElse(
                                b.CreateAnd(b.CreateICmpUGE(oh, kb.I(inside_h.first)),
                                            b.CreateICmpULT(oh, kb.I(inside_h.second))),
                                [&] { columns(false); }, [&] { columns(true); });
                          },
                          "row");
                      blk.Store(out, co0, nv);
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

FilterBlock::FilterBlock(KernelBuilder& kb, Value* x_buf, const Dims& x, const Dims& dw,
                         const ConvWindow& win, bool check_h, bool check_w,
                         const std::vector<Value*>& acc, int64_t cb)
    : kb_(kb),
      x_buf_(x_buf),
      x_(x),
      dw_(dw),
      win_(win),
      check_h_(check_h),
      check_w_(check_w),
      acc_(acc),
      cb_(cb) {}

int FilterBlock::Valid(int64_t v) const {
  return static_cast<int>(std::min<int64_t>(kb_.lanes(), dw_[3] - v * kb_.lanes()));
}

void FilterBlock::SetCombos(Value* c_first, int64_t rb, Value* limit, Value* fallback,
                            Value* base) {
  auto& b = kb_.b();
  valid_.resize(rb);
  kh_.resize(rb);
  kw_.resize(rb);
  ci_.resize(rb);
  dw_off_.resize(rb);
  for (int64_t r = 0; r < rb; ++r) {
    Value* c = b.CreateAdd(c_first, kb_.I(r));
    valid_[r] = b.CreateICmpULT(c, limit);
    c = b.CreateSelect(valid_[r], c, fallback);
    ci_[r] = b.CreateURem(c, kb_.I(dw_[2]));
    Value* tap = b.CreateUDiv(c, kb_.I(dw_[2]));
    kw_[r] = b.CreateURem(tap, kb_.I(dw_[1]));
    kh_[r] = b.CreateUDiv(tap, kb_.I(dw_[1]));
    dw_off_[r] = b.CreateAdd(base, b.CreateMul(c, kb_.I(dw_[3])));
  }
}

void FilterBlock::Load(Value* dw_buf, int64_t co0, int64_t nv) {
  auto& b = kb_.b();
  const int lanes = kb_.lanes();
  for (size_t r = 0; r < dw_off_.size(); ++r) {
    for (int64_t v = 0; v < nv; ++v) {
      b.CreateStore(kb_.VLoad(dw_buf, b.CreateAdd(dw_off_[r], kb_.I((co0 + v) * lanes)), lanes,
                              Valid(co0 + v)),
                    acc_[r * cb_ + v]);
    }
  }
}

void FilterBlock::Store(Value* dw_buf, int64_t co0, int64_t nv) {
  auto& b = kb_.b();
  const int lanes = kb_.lanes();
  for (size_t r = 0; r < dw_off_.size(); ++r) {
    kb_.If(valid_[r], [&] {
      for (int64_t v = 0; v < nv; ++v) {
        kb_.VStore(b.CreateLoad(kb_.Vec(lanes), acc_[r * cb_ + v]), dw_buf,
                   b.CreateAdd(dw_off_[r], kb_.I((co0 + v) * lanes)), Valid(co0 + v));
      }
    });
  }
}

void FilterBlock::SetRow(Value* n, Value* oh) {
  auto& b = kb_.b();
  x_row_.resize(kh_.size());
  ok_h_.resize(kh_.size());
  for (size_t r = 0; r < kh_.size(); ++r) {
    Value* ih = b.CreateAdd(b.CreateMul(oh, kb_.I(win_.sh)), b.CreateSub(kh_[r], kb_.I(win_.ph)));
    ok_h_[r] = check_h_ ? kb_.InRange(ih, x_[1]) : nullptr;
    if (check_h_) ih = kb_.Clamp(ih, x_[1]);
    x_row_[r] = b.CreateMul(b.CreateAdd(b.CreateMul(n, kb_.I(x_[1])), ih), kb_.I(x_[2]));
  }
}

void FilterBlock::Accumulate(Value* ow, Value* dy_buf, Value* dy_off, int64_t co0, int64_t nv,
                             bool check_h, bool check_w) {
  auto& b = kb_.b();
  const int lanes = kb_.lanes();
  std::vector<Value*> g(nv);
  for (int64_t v = 0; v < nv; ++v) {
    g[v] = kb_.VLoad(dy_buf, b.CreateAdd(dy_off, kb_.I((co0 + v) * lanes)), lanes, Valid(co0 + v));
  }
  for (size_t r = 0; r < kw_.size(); ++r) {
    Value* iw = b.CreateAdd(b.CreateMul(ow, kb_.I(win_.sw)), b.CreateSub(kw_[r], kb_.I(win_.pw)));
    Value* ok = check_h ? ok_h_[r] : nullptr;
    if (check_w_ && check_w) {
      Value* in_w = kb_.InRange(iw, x_[2]);
      ok = ok ? b.CreateAnd(ok, in_w) : in_w;
      iw = kb_.Clamp(iw, x_[2]);
    }
    Value* xv = kb_.Load(
        x_buf_, b.CreateAdd(b.CreateMul(b.CreateAdd(x_row_[r], iw), kb_.I(x_[3])), ci_[r]));
    if (ok) xv = b.CreateSelect(ok, xv, kb_.F(0.0f));
    Value* xs = kb_.Splat(xv, lanes);
    for (size_t v = 0; v < g.size(); ++v) {
      Value* a = b.CreateLoad(kb_.Vec(lanes), acc_[r * cb_ + v]);
      b.CreateStore(kb_.Fma(xs, g[v], a), acc_[r * cb_ + v]);
    }
  }
}

void EmitSumOfPartials(Lowering& l, const Node& node, const char* suffix, int partial_slot,
                       int64_t count, int64_t size) {
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  const int lanes = kb.lanes();
  const int64_t chunk = ElementwiseChunk(kb.target());  // A multiple of the lanes.
  l.BeginKernel(node, suffix, (size + chunk - 1) / chunk, 1, count * size);
  Value* partial = kb.Buffer(partial_slot);
  Value* dst = l.Out(node);
  Value* acc = kb.EntrySlots(kb.Vec(lanes), 1)[0];
  // One vector of the sum, in explicit vectors (small code: LLVM has nothing left to unroll),
  // parts added in order 0, 1, ... whatever the thread count.
  auto sum = [&](Value* i, int valid) {
    b.CreateStore(kb.VLoad(partial, i, lanes, valid), acc);
    kb.For(
        1, count, 1,
        [&](Value* n) {
          Value* at = b.CreateAdd(b.CreateMul(n, kb.I(size)), i);
          b.CreateStore(b.CreateFAdd(b.CreateLoad(kb.Vec(lanes), acc),
                                     kb.VLoad(partial, at, lanes, valid)),
                        acc);
        },
        "n");
    kb.VStore(b.CreateLoad(kb.Vec(lanes), acc), dst, i, valid);
  };
  const int64_t full = size - size % lanes;
  Value* lo = b.CreateMul(kb.task_begin(), kb.I(chunk));
  Value* hi = b.CreateMul(kb.task_end(), kb.I(chunk));
  hi = b.CreateSelect(b.CreateICmpSGT(hi, kb.I(full)), kb.I(full), hi);
  kb.For(lo, hi, lanes, [&](Value* i) { sum(i, lanes); }, "i");
  if (full < size) {
    kb.If(b.CreateICmpSGE(b.CreateMul(kb.task_end(), kb.I(chunk)), kb.I(size)),
          [&] { sum(kb.I(full), static_cast<int>(size - full)); });
  }
  l.EndKernel();
}

}  // namespace kiln::codegen
