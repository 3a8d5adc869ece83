// Convolutions as register-blocked micro-kernels: vectors over output channels (NHWC / HWIO put
// them innermost), a block of output pixels x channel vectors held in registers, FMA over the
// reduction. The input gradient is the same kernel run over dy with the filter transposed; the
// filter gradient blocks filter taps x channel vectors and reduces over batch and pixels.
#include <algorithm>
#include <limits>

#include "codegen/conv_util.h"
#include "codegen/lowering.h"

namespace kiln::codegen {
namespace {

using llvm::Value;

}  // namespace

bool NeedsCheck(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p) {
  return p > 0 || (out - 1) * s + k - 1 - p > in - 1;
}

ConvWindow ConvWindowOf(const Node& node, const Dims& in, const Dims& out, int64_t kh, int64_t kw) {
  const auto& s = node.GetInts("strides");
  const std::string& padding = node.GetStr("padding");
  return {s[0], s[1], WindowPadBefore(in[1], out[1], kh, s[0], padding),
          WindowPadBefore(in[2], out[2], kw, s[1], padding)};
}

namespace {

struct ConvGeometry {
  int64_t n, in_h, in_w, red_c;  // Input [N, IH, IW, red_c] (red_c is reduced over).
  int64_t out_h, out_w, out_c;   // Output [N, OH, OW, out_c].
  int64_t kh, kw;
  int64_t sh, sw, ph, pw;  // Input coordinate = o * s + k - p.
  // Input rows [data_lo, data_hi) hold data; rows outside are a zero frame whose taps are
  // skipped (set for zero-framed copies).
  int64_t data_lo = 0, data_hi = -1;
};

// out = activation(bias + sum_{kh,kw,ci} in[n, oh*sh+kh-ph, ow*sw+kw-pw, ci] * filter[kh,kw,ci,co])
// with `filter` packed [KH, KW, red_c, out_c]. One task per output row (n, oh). Taps outside the
// input read zero; when no window leaves the input the checks are not emitted at all, so the
// loads fold into the FMAs as embedded broadcasts.
// A max pool over non-overlapping valid windows in the conv kernel's epilogue: a task computes
// the pool_h conv rows of one row of windows, then pools them while they are in L1.
struct PoolEpilogue {
  int64_t h = 0, w = 0;    // Window (= strides); h == 0 means no pooling.
  bool keep_conv = false;  // Also store the conv rows (after the pooled result).
};

void EmitDirectConv(Lowering& l, const Node& node, const ConvGeometry& g, int in_slot,
                    int filter_slot, int bias_slot, bool relu, PoolEpilogue pool = {}) {
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  const int lanes = kb.lanes();
  const bool check_h = NeedsCheck(g.in_h, g.out_h, g.kh, g.sh, g.ph);
  const bool check_w = NeedsCheck(g.in_w, g.out_w, g.kw, g.sw, g.pw);
  const int64_t vectors = (g.out_c + lanes - 1) / lanes;
  const int64_t cb = std::min<int64_t>(vectors, 4);
  const int64_t rb = std::min<int64_t>(std::max<int64_t>(24 / cb, 1), g.out_w);
  const double flops = 2.0 * g.n * g.out_h * g.out_w * g.out_c * g.kh * g.kw * g.red_c;
  const double row_flops = flops / static_cast<double>(g.n * g.out_h);
  const int64_t pooled_h = pool.h ? g.out_h / pool.h : 0;
  const int64_t pooled_w = pool.h ? g.out_w / pool.w : 0;
  // Tasks: output rows, or rows of pooling windows (plus the rows below the last window when
  // the conv result is kept).
  const int64_t rows_per_task = pool.h ? pool.h : 1;
  const int64_t groups = !pool.h          ? g.out_h
                         : pool.keep_conv ? (g.out_h + pool.h - 1) / pool.h
                                          : pooled_h;
  // Where the conv rows go: the output, after the pooled result (keep_conv); else a stack tile
  // of one task's rows, or (too big for the stack) a scratch buffer.
  const int64_t tile_floats = rows_per_task * g.out_w * g.out_c;
  const bool tile_on_stack = pool.h && !pool.keep_conv && tile_floats <= 16384;
  const int conv_scratch = pool.h && !pool.keep_conv && !tile_on_stack
                               ? l.NewScratch(g.n * g.out_h * g.out_w * g.out_c)
                               : -1;
  l.BeginKernel(node, pool.h ? "conv_pool" : "conv", g.n * groups,
                std::max<int64_t>(1, 400000 / (row_flops * rows_per_task)), flops);
  Value* in = kb.Buffer(in_slot);
  Value* filter = kb.Buffer(filter_slot);
  Value* bias = bias_slot >= 0 ? kb.Buffer(bias_slot) : nullptr;
  Value* out = l.Out(node);
  Value* conv_out = out;
  if (pool.keep_conv) conv_out = kb.Ptr(out, kb.I(g.n * pooled_h * pooled_w * g.out_c));
  if (conv_scratch >= 0) conv_out = kb.Buffer(conv_scratch);
  if (tile_on_stack) {
    conv_out = kb.EntrySlots(llvm::ArrayType::get(kb.F32(), tile_floats), 1)[0];
    llvm::cast<llvm::AllocaInst>(conv_out)->setAlignment(llvm::Align(64));
  }
  const std::vector<Value*> acc = kb.EntrySlots(kb.Vec(lanes), rb * cb);
  // Computes conv row (n, oh) into row `dst_row` of conv_out.
  auto conv_row = [&](Value* n, Value* oh, Value* dst_row) {
    auto pixel_block = [&](Value* ow0, int64_t pixels) {
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
        if (g.data_hi > g.data_lo && !check_h) {
          // Taps landing in the zero frame contribute nothing: skip them.
          Value* top = b.CreateMul(oh, kb.I(g.sh));
          Value* lo = b.CreateSub(kb.I(g.data_lo), top);
          Value* hi = b.CreateSub(kb.I(g.data_hi), top);
          kh_lo = b.CreateSelect(b.CreateICmpSGT(lo, kh_lo), lo, kh_lo);
          kh_hi = b.CreateSelect(b.CreateICmpSLT(hi, kh_hi), hi, kh_hi);
        }
        kb.For(
            kh_lo, kh_hi, 1,
            [&](Value* kh) {
              Value* ih = b.CreateAdd(b.CreateMul(oh, kb.I(g.sh)), b.CreateSub(kh, kb.I(g.ph)));
              auto taps = [&] {
                Value* in_row = b.CreateMul(
                    b.CreateAdd(b.CreateMul(n, kb.I(g.in_h)), check_h ? kb.Clamp(ih, g.in_h) : ih),
                    kb.I(g.in_w));
                kb.For(
                    0, g.kw, 1,
                    [&](Value* kw) {
                      std::vector<Value*> x_base(pixels), ok_w(pixels);
                      for (int64_t p = 0; p < pixels; ++p) {
                        Value* iw = b.CreateAdd(b.CreateMul(b.CreateAdd(ow0, kb.I(p)), kb.I(g.sw)),
                                                b.CreateSub(kw, kb.I(g.pw)));
                        ok_w[p] = check_w ? kb.InRange(iw, g.in_w) : nullptr;
                        if (check_w) iw = kb.Clamp(iw, g.in_w);
                        x_base[p] = b.CreateMul(b.CreateAdd(in_row, iw), kb.I(g.red_c));
                      }
                      Value* tap =
                          b.CreateMul(b.CreateAdd(b.CreateMul(kh, kb.I(g.kw)), kw), kb.I(g.red_c));
                      kb.For(
                          0, g.red_c, 1,
                          [&](Value* ci) {
                            Value* w_row = b.CreateMul(b.CreateAdd(tap, ci), kb.I(g.out_c));
                            std::vector<Value*> w(nv);
                            for (int64_t v = 0; v < nv; ++v) {
                              w[v] = kb.VLoad(filter, b.CreateAdd(w_row, kb.I((co0 + v) * lanes)),
                                              lanes, valid_lanes(v));
                            }
                            for (int64_t p = 0; p < pixels; ++p) {
                              Value* x = kb.Load(in, b.CreateAdd(x_base[p], ci));
                              if (ok_w[p]) x = b.CreateSelect(ok_w[p], x, kb.F(0.0f));
                              Value* xs = kb.Splat(x, lanes);
                              for (int64_t v = 0; v < nv; ++v) {
                                Value* a = b.CreateLoad(kb.Vec(lanes), acc[p * cb + v]);
                                b.CreateStore(kb.Fma(xs, w[v], a), acc[p * cb + v]);
                              }
                            }
                          },
                          "ci");
                    },
                    "kw");
              };
              if (check_h) {
                kb.If(kb.InRange(ih, g.in_h), taps);
              } else {
                taps();
              }
            },
            "kh");
        for (int64_t p = 0; p < pixels; ++p) {
          Value* o = b.CreateMul(
              b.CreateAdd(b.CreateMul(dst_row, kb.I(g.out_w)), b.CreateAdd(ow0, kb.I(p))),
              kb.I(g.out_c));
          for (int64_t v = 0; v < nv; ++v) {
            Value* r = b.CreateLoad(kb.Vec(lanes), acc[p * cb + v]);
            if (relu) r = kb.Max(r, llvm::Constant::getNullValue(kb.Vec(lanes)));
            kb.VStore(r, conv_out, b.CreateAdd(o, kb.I((co0 + v) * lanes)), valid_lanes(v));
          }
        }
      }
    };
    const int64_t full = g.out_w / rb * rb;
    if (full > 0)
      kb.For(
          0, full, rb, [&](Value* ow0) { pixel_block(ow0, rb); }, "ow");
    if (full < g.out_w) pixel_block(kb.I(full), g.out_w - full);
  };
  kb.For(
      kb.task_begin(), kb.task_end(), 1,
      [&](Value* task) {
        Value* n = b.CreateUDiv(task, kb.I(groups), "n");
        Value* group = b.CreateURem(task, kb.I(groups), "group");
        if (!pool.h) return conv_row(n, group, task);
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
        // The epilogue: each window's maximum (strictly greater wins, as MaxPool2D).
        auto pool_row = [&] {
          Value* p_row =
              b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.I(pooled_h)), group), kb.I(pooled_w));
          kb.For(
              0, pooled_w, 1,
              [&](Value* pw) {
                for (int64_t v = 0; v < vectors; ++v) {
                  const int valid = static_cast<int>(std::min<int64_t>(lanes, g.out_c - v * lanes));
                  Value* best = kb.Splat(kb.F(-std::numeric_limits<float>::infinity()), lanes);
                  for (int64_t i = 0; i < pool.h; ++i) {
                    for (int64_t j = 0; j < pool.w; ++j) {
                      Value* col = b.CreateAdd(b.CreateMul(pw, kb.I(pool.w)), kb.I(j));
                      Value* o = b.CreateMul(
                          b.CreateAdd(b.CreateMul(dst_row(kb.I(i)), kb.I(g.out_w)), col),
                          kb.I(g.out_c));
                      Value* yv = kb.VLoad(conv_out, b.CreateAdd(o, kb.I(v * lanes)), lanes, valid);
                      best = b.CreateSelect(b.CreateFCmpOGT(yv, best), yv, best);
                    }
                  }
                  Value* po = b.CreateMul(b.CreateAdd(p_row, pw), kb.I(g.out_c));
                  kb.VStore(best, out, b.CreateAdd(po, kb.I(v * lanes)), valid);
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

}  // namespace

// dst [N, (H-1)*sh+1 + top + bottom, (W-1)*sw+1 + left + right, C]: `src` [N, H, W, C] with
// sh-1 / sw-1 zero rows / columns between its rows / columns (dilation, for strided input
// gradients) framed by zero rows and columns, so the convolution that reads it needs no bounds
// checks. One pass does both.
int EmitFrame(Lowering& l, const Node& node, int src_slot, const Dims& d, int64_t sh, int64_t sw,
              int64_t top, int64_t bottom, int64_t left, int64_t right) {
  const int64_t ph = (d[1] - 1) * sh + 1 + top + bottom;
  const int64_t pw = (d[2] - 1) * sw + 1 + left + right;
  const int dst = l.NewScratch(d[0] * ph * pw * d[3]);
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  l.BeginKernel(node, "frame", d[0] * ph, 8);
  Value* src = kb.Buffer(src_slot);
  Value* out = kb.Buffer(dst);
  // Source coordinate of a frame coordinate: (f - before) / s when divisible and in range.
  auto source = [&](Value* f, int64_t before, int64_t s, int64_t size) {
    Value* u = b.CreateSub(f, kb.I(before));
    Value* ok =
        b.CreateAnd(b.CreateICmpSGE(u, kb.I(0)), b.CreateICmpEQ(b.CreateSRem(u, kb.I(s)), kb.I(0)));
    Value* i = b.CreateSDiv(u, kb.I(s));
    ok = b.CreateAnd(ok, kb.InRange(i, size));
    return std::make_pair(kb.Clamp(i, size), ok);
  };
  kb.For(
      kb.task_begin(), kb.task_end(), 1,
      [&](Value* row) {
        Value* n = b.CreateUDiv(row, kb.I(ph));
        auto [y, y_ok] = source(b.CreateURem(row, kb.I(ph)), top, sh, d[1]);
        Value* src_row = b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.I(d[1])), y), kb.I(d[2]));
        kb.For(
            0, pw, 1,
            [&](Value* xo) {
              auto [x, x_ok] = source(xo, left, sw, d[2]);
              Value* ok = b.CreateAnd(y_ok, x_ok);
              Value* s = b.CreateMul(b.CreateAdd(src_row, x), kb.I(d[3]));
              Value* o = b.CreateMul(b.CreateAdd(b.CreateMul(row, kb.I(pw)), xo), kb.I(d[3]));
              kb.For(
                  0, d[3], 1,
                  [&](Value* c) {
                    Value* v = b.CreateSelect(ok, kb.Load(src, b.CreateAdd(s, c)), kb.F(0.0f));
                    kb.Store(v, out, b.CreateAdd(o, c));
                  },
                  "c");
            },
            "x");
      },
      "row");
  l.EndKernel();
  return dst;
}

int EmitTransposeFilter(Lowering& l, const Node& node, int src_slot, const Dims& d, bool flip) {
  const int dst = l.NewScratch(NumElements(d));
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  // One task per destination row (tap, e): contiguous writes, strided reads.
  l.BeginKernel(node, "pack", d[0] * d[1] * d[3], 16);
  Value* src = kb.Buffer(src_slot);
  Value* out = kb.Buffer(dst);
  kb.For(
      kb.task_begin(), kb.task_end(), 1,
      [&](Value* task) {
        Value* tap = b.CreateUDiv(task, kb.I(d[3]));
        Value* e = b.CreateURem(task, kb.I(d[3]));
        Value* src_tap = tap;
        if (flip) {
          Value* a = b.CreateUDiv(tap, kb.I(d[1]));
          Value* bb = b.CreateURem(tap, kb.I(d[1]));
          src_tap = b.CreateAdd(b.CreateMul(b.CreateSub(kb.I(d[0] - 1), a), kb.I(d[1])),
                                b.CreateSub(kb.I(d[1] - 1), bb));
        }
        Value* src_base = b.CreateAdd(b.CreateMul(src_tap, kb.I(d[2] * d[3])), e);
        Value* dst_base = b.CreateMul(task, kb.I(d[2]));
        kb.For(
            0, d[2], 1,
            [&](Value* c) {
              Value* v = kb.Load(src, b.CreateAdd(src_base, b.CreateMul(c, kb.I(d[3]))));
              kb.Store(v, out, b.CreateAdd(dst_base, c));
            },
            "c");
      },
      "task");
  l.EndKernel();
  return dst;
}

void EmitConv2D(Lowering& l, const Node& node) {
  const Dims& x = l.input(node, 0).type.dims;
  const Dims& w = l.input(node, 1).type.dims;
  const bool with_pool = node.op == OpKind::kFusedConv2DMaxPool;
  Dims y = node.type.dims;
  PoolEpilogue pool;
  if (with_pool) {
    const auto& s = node.GetInts("strides");
    const std::string& padding = node.GetStr("padding");
    y = {x[0], *WindowOutputSize(x[1], w[0], s[0], padding),
         *WindowOutputSize(x[2], w[1], s[1], padding), w[3]};
    pool = {node.GetInts("pool")[0], node.GetInts("pool")[1], node.GetInt("keep_conv") != 0};
  }
  const ConvWindow win = ConvWindowOf(node, x, y, w[0], w[1]);
  const bool relu = node.op != OpKind::kConv2D && node.GetStr("activation") == "relu";
  const int bias = node.inputs.size() > 2 ? node.inputs[2] : -1;
  ConvGeometry g{x[0], x[1], x[2],   x[3],   y[1],   y[2],  y[3],
                 w[0], w[1], win.sh, win.sw, win.ph, win.pw};
  if (NeedsCheck(x[1], y[1], w[0], win.sh, win.ph) ||
      NeedsCheck(x[2], y[2], w[1], win.sw, win.pw)) {
    // "same" padding: frame the input with zeros once, then convolve without checks.
    const int64_t bottom = std::max<int64_t>((y[1] - 1) * win.sh + w[0] - x[1] - win.ph, 0);
    const int64_t right = std::max<int64_t>((y[2] - 1) * win.sw + w[1] - x[2] - win.pw, 0);
    const int padded = EmitFrame(l, node, node.inputs[0], x, 1, 1, win.ph, bottom, win.pw, right);
    g.in_h = x[1] + win.ph + bottom;
    g.in_w = x[2] + win.pw + right;
    g.ph = g.pw = 0;
    g.data_lo = win.ph;
    g.data_hi = win.ph + x[1];
    EmitDirectConv(l, node, g, padded, node.inputs[1], bias, relu, pool);
    return;
  }
  EmitDirectConv(l, node, g, node.inputs[0], node.inputs[1], bias, relu, pool);
}

void EmitConv2DBackpropInput(Lowering& l, const Node& node) {
  const Dims& dy = l.input(node, 0).type.dims;
  const Dims& w = l.input(node, 1).type.dims;
  const Dims& dx = node.type.dims;
  const ConvWindow win = ConvWindowOf(node, dx, dy, w[0], w[1]);
  // dx = dy dilated by the strides (zero rows / columns between its own) and framed by K - 1 - p
  // zeros, correlated with the flipped, transposed filter: a valid forward convolution without
  // bounds checks. dx[n, h, w, ci] sums the taps whose (h + ph - kh) / sh is an integer in range.
  const int64_t dh = (dy[1] - 1) * win.sh + 1, dwid = (dy[2] - 1) * win.sw + 1;
  const int64_t top = w[0] - 1 - win.ph, left = w[1] - 1 - win.pw;
  const int64_t bottom = dx[1] + w[0] - 1 - top - dh, right = dx[2] + w[1] - 1 - left - dwid;
  const int packed = EmitTransposeFilter(l, node, node.inputs[1], w, /*flip=*/true);
  if (top >= 0 && left >= 0 && bottom >= 0 && right >= 0) {
    const int framed =
        EmitFrame(l, node, node.inputs[0], dy, win.sh, win.sw, top, bottom, left, right);
    ConvGeometry g{dy[0],
                   dh + top + bottom,
                   dwid + left + right,
                   dy[3],
                   dx[1],
                   dx[2],
                   dx[3],
                   w[0],
                   w[1],
                   1,
                   1,
                   0,
                   0};
    if (win.sh == 1 && win.sw == 1) {  // Undilated: rows outside dy's are frame, skip their taps.
      g.data_lo = top;
      g.data_hi = top + dy[1];
    }
    EmitDirectConv(l, node, g, framed, packed, -1, /*relu=*/false);
  } else {
    // A window reaching past the framing: read the dilated dy with bounds checks.
    const int dilated = EmitFrame(l, node, node.inputs[0], dy, win.sh, win.sw, 0, 0, 0, 0);
    ConvGeometry g{dy[0], dh, dwid, dy[3], dx[1], dx[2], dx[3], w[0], w[1], 1, 1, top, left};
    EmitDirectConv(l, node, g, dilated, packed, -1, /*relu=*/false);
  }
}

}  // namespace kiln::codegen
