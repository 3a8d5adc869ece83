// Convolutions as register-blocked micro-kernels: vectors over output channels (NHWC / HWIO put
// them innermost), a block of output pixels x channel vectors held in registers, FMA over the
// reduction. The input gradient is the same kernel run over dy with the filter transposed; the
// filter gradient blocks filter taps x channel vectors and reduces over batch and pixels.
#include <algorithm>

#include "codegen/lowering.h"

namespace kiln::codegen {
namespace {

using llvm::Value;

struct ConvGeometry {
  int64_t n, in_h, in_w, red_c;  // Input [N, IH, IW, red_c] (red_c is reduced over).
  int64_t out_h, out_w, out_c;   // Output [N, OH, OW, out_c].
  int64_t kh, kw;
  // Input coordinate of output o and tap k: (o * a + k * bk + c) / d, valid when divisible.
  int64_t a_h, bk_h, c_h, d_h, a_w, bk_w, c_w, d_w;
};

// Input coordinate and whether it is in range (and divisible).
std::pair<Value*, Value*> MapCoord(KernelBuilder& kb, Value* o, Value* k, int64_t a, int64_t bk,
                                   int64_t c, int64_t d, int64_t size) {
  auto& b = kb.b();
  Value* num = b.CreateAdd(b.CreateAdd(b.CreateMul(o, kb.I(a)), b.CreateMul(k, kb.I(bk))), kb.I(c));
  Value* ok = b.getTrue();
  Value* coord = num;
  if (d > 1) {
    ok = b.CreateAnd(b.CreateICmpSGE(num, kb.I(0)),
                     b.CreateICmpEQ(b.CreateSRem(num, kb.I(d)), kb.I(0)));
    coord = b.CreateSDiv(num, kb.I(d));
  }
  ok = b.CreateAnd(ok, kb.InRange(coord, size));
  return {kb.Clamp(coord, size), ok};
}

// out = activation(bias + sum_{kh,kw,ci} in[...] * filter[kh, kw, ci, co]) with `filter` packed
// [KH, KW, red_c, out_c]. One task per output row (n, oh).
void EmitDirectConv(Lowering& l, const Node& node, const ConvGeometry& g, int in_slot,
                    int filter_slot, int bias_slot, bool relu) {
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  const int lanes = kb.lanes();
  const int64_t vectors = (g.out_c + lanes - 1) / lanes;
  const int64_t cb = std::min<int64_t>(vectors, 4);
  const int64_t rb = std::min<int64_t>(std::max<int64_t>(24 / cb, 1), g.out_w);
  const double flops = 2.0 * g.n * g.out_h * g.out_w * g.out_c * g.kh * g.kw * g.red_c;
  const double row_flops = flops / static_cast<double>(g.n * g.out_h);
  l.BeginKernel(node, "conv", g.n * g.out_h, std::max<int64_t>(1, 400000 / row_flops), flops);
  Value* in = kb.Buffer(in_slot);
  Value* filter = kb.Buffer(filter_slot);
  Value* bias = bias_slot >= 0 ? kb.Buffer(bias_slot) : nullptr;
  Value* out = l.Out(node);
  // Accumulators live in allocas that SROA turns into registers.
  std::vector<Value*> acc(rb * cb);
  {
    llvm::IRBuilder<>::InsertPointGuard guard(b);
    b.SetInsertPoint(&b.GetInsertBlock()->getParent()->getEntryBlock().front());
    for (auto& a : acc) a = b.CreateAlloca(kb.Vec(lanes));
  }
  kb.For(kb.task_begin(), kb.task_end(), 1, [&](Value* row) {
    Value* n = b.CreateUDiv(row, kb.I(g.out_h), "n");
    Value* oh = b.CreateURem(row, kb.I(g.out_h), "oh");
    // Output pixel blocks: full blocks in a loop, then one static tail block.
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
        kb.For(0, g.kh, 1, [&](Value* kh) {
          auto [ih, ok_h] = MapCoord(kb, oh, kh, g.a_h, g.bk_h, g.c_h, g.d_h, g.in_h);
          kb.If(ok_h, [&] {
            kb.For(0, g.kw, 1, [&](Value* kw) {
              std::vector<Value*> x_base(pixels), ok_w(pixels);
              for (int64_t p = 0; p < pixels; ++p) {
                auto [iw, ok] = MapCoord(kb, b.CreateAdd(ow0, kb.I(p)), kw, g.a_w, g.bk_w, g.c_w,
                                         g.d_w, g.in_w);
                x_base[p] = b.CreateMul(
                    b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.I(g.in_h)), ih),
                                            kb.I(g.in_w)),
                                iw),
                    kb.I(g.red_c));
                ok_w[p] = ok;
              }
              Value* tap = b.CreateMul(b.CreateAdd(b.CreateMul(kh, kb.I(g.kw)), kw),
                                       kb.I(g.red_c));
              kb.For(0, g.red_c, 1, [&](Value* ci) {
                Value* w_row = b.CreateMul(b.CreateAdd(tap, ci), kb.I(g.out_c));
                std::vector<Value*> w(nv);
                for (int64_t v = 0; v < nv; ++v) {
                  w[v] = kb.VLoad(filter, b.CreateAdd(w_row, kb.I((co0 + v) * lanes)), lanes,
                                  valid_lanes(v));
                }
                for (int64_t p = 0; p < pixels; ++p) {
                  Value* x = kb.Load(in, b.CreateAdd(x_base[p], ci));
                  x = b.CreateSelect(ok_w[p], x, kb.F(0.0f));
                  Value* xs = kb.Splat(x, lanes);
                  for (int64_t v = 0; v < nv; ++v) {
                    Value* a = b.CreateLoad(kb.Vec(lanes), acc[p * cb + v]);
                    b.CreateStore(kb.Fma(xs, w[v], a), acc[p * cb + v]);
                  }
                }
              }, "ci");
            }, "kw");
          });
        }, "kh");
        for (int64_t p = 0; p < pixels; ++p) {
          Value* o = b.CreateMul(
              b.CreateAdd(b.CreateMul(row, kb.I(g.out_w)), b.CreateAdd(ow0, kb.I(p))),
              kb.I(g.out_c));
          for (int64_t v = 0; v < nv; ++v) {
            Value* r = b.CreateLoad(kb.Vec(lanes), acc[p * cb + v]);
            if (relu) r = kb.Max(r, llvm::Constant::getNullValue(kb.Vec(lanes)));
            kb.VStore(r, out, b.CreateAdd(o, kb.I((co0 + v) * lanes)), valid_lanes(v));
          }
        }
      }
    };
    const int64_t full = g.out_w / rb * rb;
    if (full > 0) kb.For(0, full, rb, [&](Value* ow0) { pixel_block(ow0, rb); }, "ow");
    if (full < g.out_w) pixel_block(kb.I(full), g.out_w - full);
  }, "row");
  l.EndKernel();
}

// dst[a, b, c, d] = src[a, b, d, c] for a filter [KH, KW, C, D]: a per-step repack.
int EmitTransposeFilter(Lowering& l, const Node& node, int src_slot, const Dims& d) {
  const int dst = l.NewScratch(NumElements(d));
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  l.BeginKernel(node, "pack", d[0] * d[1], 1);
  Value* src = kb.Buffer(src_slot);
  Value* out = kb.Buffer(dst);
  kb.For(kb.task_begin(), kb.task_end(), 1, [&](Value* tap) {
    kb.For(0, d[2], 1, [&](Value* c) {
      kb.For(0, d[3], 1, [&](Value* e) {
        Value* s = b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(tap, kb.I(d[2])), c),
                                           kb.I(d[3])), e);
        Value* t = b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(tap, kb.I(d[3])), e),
                                           kb.I(d[2])), c);
        kb.Store(kb.Load(src, s), out, t);
      }, "e");
    }, "c");
  }, "tap");
  l.EndKernel();
  return dst;
}

struct Window {
  int64_t sh, sw, ph, pw;
};

Window WindowOf(const Node& node, const Dims& in, const Dims& out, int64_t kh, int64_t kw) {
  const auto& s = node.GetInts("strides");
  const std::string& padding = node.GetStr("padding");
  return {s[0], s[1], WindowPadBefore(in[1], out[1], kh, s[0], padding),
          WindowPadBefore(in[2], out[2], kw, s[1], padding)};
}

}  // namespace

void EmitConv2D(Lowering& l, const Node& node) {
  const Dims& x = l.input(node, 0).type.dims;
  const Dims& w = l.input(node, 1).type.dims;
  const Dims& y = node.type.dims;
  const Window win = WindowOf(node, x, y, w[0], w[1]);
  ConvGeometry g{x[0], x[1], x[2], x[3], y[1], y[2], y[3], w[0], w[1],
                 win.sh, 1, -win.ph, 1, win.sw, 1, -win.pw, 1};
  const bool relu = node.op == OpKind::kFusedConv2D && node.GetStr("activation") == "relu";
  EmitDirectConv(l, node, g, node.inputs[0], node.inputs[1],
                 node.inputs.size() > 2 ? node.inputs[2] : -1, relu);
}

void EmitConv2DBackpropInput(Lowering& l, const Node& node) {
  const Dims& dy = l.input(node, 0).type.dims;
  const Dims& w = l.input(node, 1).type.dims;
  const Dims& dx = node.type.dims;
  const Window win = WindowOf(node, dx, dy, w[0], w[1]);
  // dx[n, h, w, ci] = sum_{kh, kw, co} dy[n, (h + ph - kh) / sh, ..., co] * w[kh, kw, ci, co].
  const int packed = EmitTransposeFilter(l, node, node.inputs[1], w);
  ConvGeometry g{dy[0], dy[1], dy[2], dy[3], dx[1], dx[2], dx[3], w[0], w[1],
                 1, -1, win.ph, win.sh, 1, -1, win.pw, win.sw};
  EmitDirectConv(l, node, g, node.inputs[0], packed, -1, /*relu=*/false);
}

void EmitConv2DBackpropFilter(Lowering& l, const Node& node) {
  const Dims& x = l.input(node, 0).type.dims;
  const Dims& dy = l.input(node, 1).type.dims;
  const Dims& dw = node.type.dims;  // [KH, KW, CI, CO]
  const Window win = WindowOf(node, x, dy, dw[0], dw[1]);
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  const int lanes = kb.lanes();
  const int64_t vectors = (dw[3] + lanes - 1) / lanes;
  const int64_t cb = std::min<int64_t>(vectors, 4);
  const int64_t combos = dw[1] * dw[2];  // (kw, ci) pairs, ci fastest.
  const int64_t rb = std::min<int64_t>(std::max<int64_t>(24 / cb, 1), combos);
  const int64_t blocks = (combos + rb - 1) / rb;
  const double flops = 2.0 * NumElements(dw) * dy[0] * dy[1] * dy[2];
  l.BeginKernel(node, "conv_filter", dw[0] * blocks, 1, flops);
  Value* xb = l.In(node, 0);
  Value* dyb = l.In(node, 1);
  Value* out = l.Out(node);
  std::vector<Value*> acc(rb * cb);
  {
    llvm::IRBuilder<>::InsertPointGuard guard(b);
    b.SetInsertPoint(&b.GetInsertBlock()->getParent()->getEntryBlock().front());
    for (auto& a : acc) a = b.CreateAlloca(kb.Vec(lanes));
  }
  kb.For(kb.task_begin(), kb.task_end(), 1, [&](Value* task) {
    Value* kh = b.CreateUDiv(task, kb.I(blocks), "kh");
    Value* c0 = b.CreateMul(b.CreateURem(task, kb.I(blocks)), kb.I(rb), "combo0");
    std::vector<Value*> kw(rb), ci(rb), valid(rb);
    for (int64_t r = 0; r < rb; ++r) {
      Value* c = b.CreateAdd(c0, kb.I(r));
      valid[r] = b.CreateICmpULT(c, kb.I(combos));
      c = b.CreateSelect(valid[r], c, kb.I(combos - 1));
      kw[r] = b.CreateUDiv(c, kb.I(dw[2]));
      ci[r] = b.CreateURem(c, kb.I(dw[2]));
    }
    for (int64_t co0 = 0; co0 < vectors; co0 += cb) {
      const int64_t nv = std::min(cb, vectors - co0);
      auto valid_lanes = [&](int64_t v) {
        return static_cast<int>(std::min<int64_t>(lanes, dw[3] - (co0 + v) * lanes));
      };
      for (auto& a : acc) b.CreateStore(llvm::Constant::getNullValue(kb.Vec(lanes)), a);
      kb.For(0, dy[0], 1, [&](Value* n) {
        kb.For(0, dy[1], 1, [&](Value* oh) {
          Value* ih = b.CreateAdd(b.CreateMul(oh, kb.I(win.sh)), b.CreateSub(kh, kb.I(win.ph)));
          kb.If(kb.InRange(ih, x[1]), [&] {
            Value* x_row = b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.I(x[1])), ih), kb.I(x[2]));
            Value* dy_row = b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.I(dy[1])), oh), kb.I(dy[2]));
            kb.For(0, dy[2], 1, [&](Value* ow) {
              Value* dyo = b.CreateMul(b.CreateAdd(dy_row, ow), kb.I(dy[3]));
              std::vector<Value*> g(nv);
              for (int64_t v = 0; v < nv; ++v) {
                g[v] = kb.VLoad(dyb, b.CreateAdd(dyo, kb.I((co0 + v) * lanes)), lanes,
                                valid_lanes(v));
              }
              for (int64_t r = 0; r < rb; ++r) {
                Value* iw = b.CreateAdd(b.CreateMul(ow, kb.I(win.sw)),
                                        b.CreateSub(kw[r], kb.I(win.pw)));
                Value* ok = kb.InRange(iw, x[2]);
                Value* xi = b.CreateAdd(b.CreateMul(b.CreateAdd(x_row, kb.Clamp(iw, x[2])),
                                                    kb.I(x[3])),
                                        ci[r]);
                Value* xs = kb.Splat(b.CreateSelect(ok, kb.Load(xb, xi), kb.F(0.0f)), lanes);
                for (int64_t v = 0; v < nv; ++v) {
                  Value* a = b.CreateLoad(kb.Vec(lanes), acc[r * cb + v]);
                  b.CreateStore(kb.Fma(xs, g[v], a), acc[r * cb + v]);
                }
              }
            }, "ow");
          });
        }, "oh");
      }, "n");
      for (int64_t r = 0; r < rb; ++r) {
        kb.If(valid[r], [&] {
          Value* o = b.CreateMul(
              b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(kh, kb.I(dw[1])), kw[r]),
                                      kb.I(dw[2])),
                          ci[r]),
              kb.I(dw[3]));
          for (int64_t v = 0; v < nv; ++v) {
            kb.VStore(b.CreateLoad(kb.Vec(lanes), acc[r * cb + v]), out,
                      b.CreateAdd(o, kb.I((co0 + v) * lanes)), valid_lanes(v));
          }
        });
      }
    }
  }, "task");
  l.EndKernel();
}

}  // namespace kiln::codegen
