// Convolutions as register-blocked micro-kernels: vectors over output channels (NHWC / HWIO put
// them innermost), a block of output pixels x channel vectors held in registers, FMA over the
// reduction. The input gradient runs the same kernel over dy (emit_conv_input.cc); the filter
// gradient blocks filter taps x channel vectors and reduces over batch and pixels.
#include <algorithm>
#include <cassert>
#include <limits>
#include <numeric>
#include <optional>

#include "codegen/conv_util.h"
#include "codegen/lowering.h"

namespace kiln::codegen {
namespace {

using llvm::Value;

}  // namespace

bool NeedsCheck(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p) {
  return p > 0 || (out - 1) * s + k - 1 - p > in - 1;
}

std::pair<int64_t, int64_t> InsideRange(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p) {
  // o * s - p >= 0 and o * s - p + k - 1 <= in - 1.
  const int64_t first = std::min((p + s - 1) / s, out);
  const int64_t last = in - k + p >= 0 ? std::min((in - k + p) / s + 1, out) : 0;
  return {first, std::max(first, last)};
}

ConvWindow ConvWindowOf(const Node& node, const Dims& in, const Dims& out, int64_t kh, int64_t kw) {
  const auto& s = node.GetInts("strides");
  const std::string& padding = node.GetStr("padding");
  return {s[0], s[1], WindowPadBefore(in[1], out[1], kh, s[0], padding),
          WindowPadBefore(in[2], out[2], kw, s[1], padding)};
}

namespace {

// Taps k < `k` of output o that land inside the input.
int64_t TapsInside(int64_t o, int64_t k, int64_t s, int64_t p, int64_t in) {
  const int64_t first = o * s - p;
  return std::max<int64_t>(0, std::min(k, in - first) - std::max<int64_t>(0, -first));
}

// Multiply-adds of the taps inside the input, over output rows [0, out_rows) of one image and
// one output channel.
double TapCount(const ConvGeometry& g, int64_t out_rows) {
  int64_t rows = 0, cols = 0;
  for (int64_t o = 0; o < out_rows; ++o) rows += TapsInside(o, g.kh, g.sh, g.ph, g.in_h);
  for (int64_t o = 0; o < g.out_w; ++o) cols += TapsInside(o, g.kw, g.sw, g.pw, g.in_w);
  return static_cast<double>(rows) * static_cast<double>(cols) * static_cast<double>(g.red_c);
}

}  // namespace

void EmitDirectConv(Lowering& l, const Node& node, const ConvGeometry& g, int in_slot,
                    int filter_slot, int bias_slot, bool relu, PoolEpilogue pool,
                    Epilogue* epilogue, int64_t filter_offset) {
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  const int lanes = kb.lanes();
  // Where output pixels go (see ConvGeometry): strided destinations only without pooling.
  const int64_t dst_h = g.dst_h ? g.dst_h : g.out_h, dst_w = g.dst_w ? g.dst_w : g.out_w;
  assert(!pool.h || (dst_h == g.out_h && dst_w == g.out_w && g.dst_sw == 1));
  const bool rows_leave = NeedsCheck(g.in_h, g.out_h, g.kh, g.sh, g.ph);
  const int64_t vectors = (g.out_c + lanes - 1) / lanes;
  const RegisterTile tile = ChooseRegisterTile(kb.target(), vectors, g.out_w);
  const int64_t cb = tile.vectors, rb = tile.rows;
  const int64_t pooled_h = pool.h ? g.out_h / pool.h : 0;
  const int64_t pooled_w = pool.h ? g.out_w / pool.w : 0;
  // Rows below the last window are computed only to be kept.
  const int64_t rows = pool.h && !pool.keep_conv ? pooled_h * pool.h : g.out_h;
  const double flops = 2.0 * g.n * g.out_c * TapCount(g, rows);
  const double row_flops = flops / static_cast<double>(std::max<int64_t>(1, g.n * rows));
  const int64_t pooled_size = g.n * pooled_h * pooled_w * g.out_c;
  // Tasks: output rows, or rows of pooling windows (plus the rows below the last window when
  // the conv result is kept).
  const int64_t rows_per_task = pool.h ? pool.h : 1;
  const int64_t groups = !pool.h          ? g.out_h
                         : pool.keep_conv ? (g.out_h + pool.h - 1) / pool.h
                                          : pooled_h;
  // Where the conv rows go: the output, after the pooled result (keep_conv); else a stack tile
  // of one task's rows, or (too big for the stack) a scratch buffer.
  const int64_t tile_floats = rows_per_task * g.out_w * g.out_c;
  const bool tile_on_stack =
      pool.h && !pool.keep_conv && tile_floats * 4 <= kb.target().l2_bytes / 16;
  const int conv_scratch = pool.h && !pool.keep_conv && !tile_on_stack
                               ? l.NewScratch(g.n * g.out_h * g.out_w * g.out_c)
                               : -1;
  l.BeginKernel(node, pool.h ? "conv_pool" : "conv", g.n * groups,
                GrainFor(kb.target(), row_flops * rows_per_task), flops);
  Value* in = kb.Buffer(in_slot);
  Value* filter = kb.Ptr(kb.Buffer(filter_slot), kb.I(filter_offset));
  Value* bias = bias_slot >= 0 ? kb.Buffer(bias_slot) : nullptr;
  if (epilogue) {
    epilogue->Bind(l, node);
    if (g.dst_sw == 1 && dst_w == g.out_w) epilogue->DeferIfCostly();  // Rows are contiguous.
  }
  Value* out = l.Out(node);
  Value* conv_out = out;
  if (pool.keep_conv) conv_out = kb.Ptr(out, kb.I(pooled_size));
  if (conv_scratch >= 0) conv_out = kb.Buffer(conv_scratch);
  if (tile_on_stack) {
    conv_out = kb.EntrySlots(llvm::ArrayType::get(kb.F32(), tile_floats), 1)[0];
    llvm::cast<llvm::AllocaInst>(conv_out)->setAlignment(llvm::Align(64));
  }
  const std::vector<Value*> acc = kb.EntrySlots(kb.Vec(lanes), rb * cb);
  // Whether every tap of pixels [ow0, ow0 + pixels) lands inside the input's columns.
  auto inside = [&](int64_t ow0, int64_t pixels) {
    return ow0 * g.sw - g.pw >= 0 && (ow0 + pixels - 1) * g.sw + g.kw - 1 - g.pw < g.in_w;
  };
  // Computes conv row (n, oh) into row `dst_row` of conv_out.
  auto conv_row = [&](Value* n, Value* oh, Value* dst_row) {
    // A block of pixels from ow0; `border` (ow0's value) when some of its taps leave the input.
    auto pixel_block = [&](Value* ow0, int64_t pixels, std::optional<int64_t> border) {
      for (int64_t co0 = 0; co0 < vectors; co0 += cb) {
        const int64_t nv = std::min(cb, vectors - co0);
        auto valid_lanes = [&](int64_t v) {
          return static_cast<int>(std::min<int64_t>(lanes, g.out_c - (co0 + v) * lanes));
        };
        for (int64_t p = 0; p < pixels; ++p) {
          for (int64_t v = 0; v < nv; ++v) {
            Value* init = bias ? kb.VLoad(bias, kb.I((co0 + v) * lanes), lanes, valid_lanes(v))
                               : llvm::Constant::getNullValue(kb.Vec(lanes));
            b.CreateStore(init, acc[p * cb + v]);
          }
        }
        Value* kh_lo = kb.I(0);
        Value* kh_hi = kb.I(g.kh);
        Value* first_row = b.CreateSub(b.CreateMul(oh, kb.I(g.sh)), kb.I(g.ph));
        if (rows_leave) {  // Taps [-first_row, in_h - first_row) stay inside the input.
          Value* lo = b.CreateNeg(first_row);
          Value* hi = b.CreateSub(kb.I(g.in_h), first_row);
          kh_lo = b.CreateSelect(b.CreateICmpSGT(lo, kh_lo), lo, kh_lo);
          kh_hi = b.CreateSelect(b.CreateICmpSLT(hi, kh_hi), hi, kh_hi);
        }
        kb.For(
            kh_lo, kh_hi, 1,
            [&](Value* kh) {
              Value* in_row =
                  b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.I(g.in_h)), b.CreateAdd(first_row, kh)),
                              kb.I(g.in_w));
              // Tap (kh, kw) over the block's pixels `pix`.
              auto tap = [&](Value* kw, const std::vector<int64_t>& pix) {
                std::vector<Value*> x_base(pixels);
                for (int64_t p : pix) {
                  Value* iw = b.CreateAdd(b.CreateMul(b.CreateAdd(ow0, kb.I(p)), kb.I(g.sw)),
                                          b.CreateSub(kw, kb.I(g.pw)));
                  x_base[p] = b.CreateMul(b.CreateAdd(in_row, iw), kb.I(g.red_c));
                }
                Value* w_tap =
                    b.CreateMul(b.CreateAdd(b.CreateMul(kh, kb.I(g.kw)), kw), kb.I(g.red_c));
                kb.For(
                    0, g.red_c, 1,
                    [&](Value* ci) {
                      Value* w_row = b.CreateMul(b.CreateAdd(w_tap, ci), kb.I(g.out_c));
                      std::vector<Value*> w(nv);
                      for (int64_t v = 0; v < nv; ++v) {
                        w[v] = kb.VLoad(filter, b.CreateAdd(w_row, kb.I((co0 + v) * lanes)), lanes,
                                        valid_lanes(v));
                      }
                      for (int64_t p : pix) {
                        Value* xs = kb.Splat(kb.Load(in, b.CreateAdd(x_base[p], ci)), lanes);
                        for (int64_t v = 0; v < nv; ++v) {
                          Value* a = b.CreateLoad(kb.Vec(lanes), acc[p * cb + v]);
                          b.CreateStore(kb.Fma(xs, w[v], a), acc[p * cb + v]);
                        }
                      }
                    },
                    "ci");
              };
              std::vector<int64_t> all(pixels);
              std::iota(all.begin(), all.end(), 0);
              if (!border) {
                kb.For(
                    0, g.kw, 1, [&](Value* kw) { tap(kw, all); }, "kw");
                return;
              }
              for (int64_t kw = 0; kw < g.kw; ++kw) {
                std::vector<int64_t> pix;
                for (int64_t p : all) {
                  const int64_t iw = (*border + p) * g.sw + kw - g.pw;
                  if (iw >= 0 && iw < g.in_w) pix.push_back(p);
                }
                if (!pix.empty()) tap(kb.I(kw), pix);
              }
            },
            "kh");
        for (int64_t p = 0; p < pixels; ++p) {
          Value* col =
              b.CreateAdd(b.CreateMul(b.CreateAdd(ow0, kb.I(p)), kb.I(g.dst_sw)), kb.I(g.dst_w0));
          Value* o =
              b.CreateMul(b.CreateAdd(b.CreateMul(dst_row, kb.I(dst_w)), col), kb.I(g.out_c));
          for (int64_t v = 0; v < nv; ++v) {
            Value* r = b.CreateLoad(kb.Vec(lanes), acc[p * cb + v]);
            if (relu) r = kb.Max(r, llvm::Constant::getNullValue(kb.Vec(lanes)));
            Value* at = b.CreateAdd(o, kb.I((co0 + v) * lanes));
            if (epilogue) {
              epilogue->Store(kb, r, conv_out, at, valid_lanes(v));
            } else {
              kb.VStore(r, conv_out, at, valid_lanes(v));
            }
          }
        }
      }
    };
    // Full blocks of rb pixels, the inside ones [lo, hi) in a loop, then the remainder.
    auto block = [&](int64_t ow0, int64_t pixels) {
      pixel_block(kb.I(ow0), pixels,
                  inside(ow0, pixels) ? std::nullopt : std::optional<int64_t>(ow0));
    };
    const int64_t full = g.out_w / rb;
    int64_t lo = 0;
    while (lo < full && !inside(lo * rb, rb)) ++lo;
    int64_t hi = lo;
    while (hi < full && inside(hi * rb, rb)) ++hi;
    for (int64_t i = 0; i < lo; ++i) block(i * rb, rb);
    if (hi > lo)
      kb.For(
          lo * rb, hi * rb, rb, [&](Value* ow0) { pixel_block(ow0, rb, std::nullopt); }, "ow");
    for (int64_t i = hi; i < full; ++i) block(i * rb, rb);
    if (full * rb < g.out_w) block(full * rb, g.out_w - full * rb);
    if (epilogue) {  // A deferred epilogue, over the row while it is in L1.
      epilogue->ApplyRows(kb, conv_out, b.CreateMul(dst_row, kb.I(dst_w * g.out_c)),
                          g.out_w * g.out_c);
    }
  };
  kb.For(
      kb.task_begin(), kb.task_end(), 1,
      [&](Value* task) {
        Value* n = b.CreateUDiv(task, kb.I(groups), "n");
        Value* group = b.CreateURem(task, kb.I(groups), "group");
        if (!pool.h) {
          Value* row = b.CreateAdd(b.CreateMul(group, kb.I(g.dst_sh)), kb.I(g.dst_h0));
          return conv_row(n, group, b.CreateAdd(b.CreateMul(n, kb.I(dst_h)), row));
        }
        // Conv row index in conv_out: global, or within the task's stack tile.
        auto dst_row = [&](Value* i) {
          return tile_on_stack ? i
                               : b.CreateAdd(b.CreateMul(n, kb.I(g.out_h)),
                                             b.CreateAdd(b.CreateMul(group, kb.I(pool.h)), i));
        };
        kb.For(
            0, pool.h, 1,
            [&](Value* i) {
              Value* oh = b.CreateAdd(b.CreateMul(group, kb.I(pool.h)), i);
              if (g.out_h % pool.h == 0 || !pool.keep_conv) return conv_row(n, oh, dst_row(i));
              kb.If(b.CreateICmpSLT(oh, kb.I(g.out_h)), [&] { conv_row(n, oh, dst_row(i)); });
            },
            "pool_row");
        // The epilogue: each window's maximum (strictly greater wins, as MaxPool2D), and its
        // route: the cell index, or -1 where the maximum is not > 0.
        auto pool_row = [&] {
          Value* p_row =
              b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.I(pooled_h)), group), kb.I(pooled_w));
          kb.For(
              0, pooled_w, 1,
              [&](Value* pw) {
                for (int64_t v = 0; v < vectors; ++v) {
                  const int valid = static_cast<int>(std::min<int64_t>(lanes, g.out_c - v * lanes));
                  Value* best = kb.Splat(kb.F(-std::numeric_limits<float>::infinity()), lanes);
                  Value* route = kb.Splat(kb.F(0.0f), lanes);
                  for (int64_t i = 0; i < pool.h; ++i) {
                    for (int64_t j = 0; j < pool.w; ++j) {
                      Value* col = b.CreateAdd(b.CreateMul(pw, kb.I(pool.w)), kb.I(j));
                      Value* o = b.CreateMul(
                          b.CreateAdd(b.CreateMul(dst_row(kb.I(i)), kb.I(g.out_w)), col),
                          kb.I(g.out_c));
                      Value* yv = kb.VLoad(conv_out, b.CreateAdd(o, kb.I(v * lanes)), lanes, valid);
                      Value* gt = b.CreateFCmpOGT(yv, best);
                      best = b.CreateSelect(gt, yv, best);
                      route = b.CreateSelect(
                          gt, kb.Splat(kb.F(static_cast<float>(i * pool.w + j)), lanes), route);
                    }
                  }
                  Value* po = b.CreateAdd(b.CreateMul(b.CreateAdd(p_row, pw), kb.I(g.out_c)),
                                          kb.I(v * lanes));
                  kb.VStore(best, out, po, valid);
                  if (!pool.keep_routes) continue;
                  Value* zero = llvm::Constant::getNullValue(kb.Vec(lanes));
                  route = b.CreateSelect(b.CreateFCmpOGT(best, zero), route,
                                         kb.Splat(kb.F(-1.0f), lanes));
                  kb.VStore(route, out, b.CreateAdd(po, kb.I(pooled_size)), valid);
                }
              },
              "pool_col");
        };
        if (groups == pooled_h) return pool_row();
        kb.If(b.CreateICmpSLT(group, kb.I(pooled_h)), pool_row);
      },
      "task");
  l.EndKernel();
}

void EmitConv2D(Lowering& l, const Node& node) {
  const Dims& x = l.input(node, 0).type.dims;
  const Dims& w = l.input(node, 1).type.dims;
  const bool with_pool = node.op == OpKind::kFusedConv2DMaxPool;
  Epilogue epilogue(l, node);
  Dims y = epilogue.result_dims();
  PoolEpilogue pool;
  if (with_pool) {
    const auto& s = node.GetInts("strides");
    const std::string& padding = node.GetStr("padding");
    y = {x[0], *WindowOutputSize(x[1], w[0], s[0], padding),
         *WindowOutputSize(x[2], w[1], s[1], padding), w[3]};
    const std::string& keep = node.GetStr("keep");
    pool = {node.GetInts("pool")[0], node.GetInts("pool")[1], keep == "conv", keep == "routes"};
  }
  const ConvWindow win = ConvWindowOf(node, x, y, w[0], w[1]);
  // FusedConv2DMaxPool's activation is ReLU or none; FusedConv2D's epilogue is any program.
  const bool relu = with_pool && node.GetStr("activation") == "relu";
  const bool bias_input = with_pool                    ? node.inputs.size() > 2
                          : node.op == OpKind::kConv2D ? node.inputs.size() > 2
                                                       : epilogue.has_bias();
  const int bias = bias_input ? node.inputs[2] : -1;
  const ConvGeometry g{x[0], x[1], x[2],   x[3],   y[1],   y[2],  y[3],
                       w[0], w[1], win.sh, win.sw, win.ph, win.pw};
  EmitDirectConv(l, node, g, node.inputs[0], node.inputs[1], bias, relu, pool,
                 node.op == OpKind::kFusedConv2D ? &epilogue : nullptr);
}

}  // namespace kiln::codegen
