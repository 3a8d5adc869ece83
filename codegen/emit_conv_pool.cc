// The first conv layer's backward pass as one kernel (FusedConvPoolFilterGrad). Its output
// gradient d = ReluGrad(y, MaxPool2DGrad(y, dpool)) is the largest tensor of the training step
// and only the filter and bias gradients read it, so it is never stored: per image, each row of
// pooling windows routes dpool through the ReLU mask into a tile of d (pool_h conv rows, a few
// KiB), and register blocks of filter taps x channel vectors accumulate dw from that tile and x
// while it is in L1; db sums the routed values. Each image writes its own partial [dw | db] and
// a second kernel sums them in image order, so results do not depend on the thread count.
// When the forward kernel kept the routes (which cell of each window won, and whether it
// passed the ReLU), they replace the conv result: 1/4 of the reads for 2x2 windows.
#include <algorithm>
#include <limits>

#include "codegen/conv_util.h"
#include "codegen/lowering.h"

namespace kiln::codegen {

using llvm::Value;

void EmitConvPoolFilterGrad(Lowering& l, const Node& node) {
  const Dims& x = l.input(node, 0).type.dims;
  const Dims& dp = l.input(node, 2).type.dims;  // [N, PH, PW, C]
  const Dims& fs = node.GetInts("filter_shape");
  const std::vector<int64_t>& pool = node.GetInts("pool");
  const bool routed = node.GetStr("source") == "routes";
  const int64_t channels = fs[3];
  const auto& strides = node.GetInts("strides");
  const std::string& padding = node.GetStr("padding");
  const Dims y = {x[0], *WindowOutputSize(x[1], fs[0], strides[0], padding),
                  *WindowOutputSize(x[2], fs[1], strides[1], padding), channels};  // The conv's.
  const ConvWindow win = ConvWindowOf(node, x, y, fs[0], fs[1]);
  const bool check_h = NeedsCheck(x[1], y[1], fs[0], win.sh, win.ph);
  const bool check_w = NeedsCheck(x[2], y[2], fs[1], win.sw, win.pw);
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  const int lanes = kb.lanes();
  const int64_t vectors = (channels + lanes - 1) / lanes;
  // Register blocks of rb combos (kh, kw, ci) x cb vectors, as even as the combos allow.
  const int64_t combos = fs[0] * fs[1] * fs[2];
  const RegisterTile regs = ChooseRegisterTile(kb.target(), vectors, combos);
  const int64_t cb = regs.vectors;
  const int64_t sub_blocks = (combos + regs.rows - 1) / regs.rows;
  const int64_t rb = (combos + sub_blocks - 1) / sub_blocks;
  const int64_t dw_size = combos * channels;
  const int64_t part = dw_size + channels;
  const int64_t cover_w = dp[2] * pool[1];  // Conv columns inside some window.
  const int64_t tile = pool[0] * cover_w * channels;
  const int partial_slot = l.NewScratch(y[0] * part);
  const int tile_slot = l.NewScratch(y[0] * tile);
  const double flops = 2.0 * dw_size * y[0] * dp[1] * pool[0] * cover_w;
  auto valid_lanes = [&](int64_t v) {
    return static_cast<int>(std::min<int64_t>(lanes, channels - v * lanes));
  };

  l.BeginKernel(node, "conv_pool_filter_partial", y[0], 1, flops);
  Value* xb = l.In(node, 0);
  Value* yb = l.In(node, 1);
  Value* dpool = l.In(node, 2);
  Value* partial = kb.Buffer(partial_slot);
  Value* t = kb.Buffer(tile_slot);
  const std::vector<Value*> acc = kb.EntrySlots(kb.Vec(lanes), rb * cb);
  FilterBlock blk(kb, xb, x, fs, win, check_h, check_w, acc, cb);
  Value* zero = kb.Splat(kb.F(0.0f), lanes);
  kb.For(
      kb.task_begin(), kb.task_end(), 1,
      [&](Value* n) {
        Value* pbase = b.CreateMul(n, kb.I(part));
        Value* tbase = b.CreateMul(n, kb.I(tile));
        kb.For(
            0, part, 1, [&](Value* i) { kb.Store(kb.F(0.0f), partial, b.CreateAdd(pbase, i)); },
            "zero");
        kb.For(
            0, dp[1], 1,
            [&](Value* prow) {
              // Route each window's dpool to its first strictly largest cell (as MaxPool2DGrad)
              // when that cell passed the ReLU, into the tile; add it to db. The routes are
              // read, or found from the conv result.
              kb.For(
                  0, dp[2], 1,
                  [&](Value* pcol) {
                    for (int64_t v = 0; v < vectors; ++v) {
                      const int valid = valid_lanes(v);
                      Value* c0 = kb.I(v * lanes);
                      Value* p_off = b.CreateMul(
                          b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.I(dp[1])), prow),
                                                  kb.I(dp[2])),
                                      pcol),
                          kb.I(channels));
                      Value* g = kb.VLoad(dpool, b.CreateAdd(p_off, c0), lanes, valid);
                      // Per lane, the window cell dpool goes to (-1: none), as a float.
                      Value* route = routed ? kb.VLoad(yb, b.CreateAdd(p_off, c0), lanes, valid)
                                            : kb.Splat(kb.F(0.0f), lanes);
                      Value* best = kb.Splat(kb.F(-std::numeric_limits<float>::infinity()), lanes);
                      std::vector<Value*> cell_tile;
                      for (int64_t i = 0; i < pool[0]; ++i) {
                        Value* oh = b.CreateAdd(b.CreateMul(prow, kb.I(pool[0])), kb.I(i));
                        Value* y_row =
                            b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.I(y[1])), oh), kb.I(y[2]));
                        for (int64_t j = 0; j < pool[1]; ++j) {
                          Value* ow = b.CreateAdd(b.CreateMul(pcol, kb.I(pool[1])), kb.I(j));
                          cell_tile.push_back(b.CreateAdd(
                              tbase, b.CreateAdd(b.CreateMul(b.CreateAdd(kb.I(i * cover_w), ow),
                                                             kb.I(channels)),
                                                 c0)));
                          if (routed) continue;
                          Value* yv = kb.VLoad(
                              yb,
                              b.CreateAdd(b.CreateMul(b.CreateAdd(y_row, ow), kb.I(channels)), c0),
                              lanes, valid);
                          Value* gt = b.CreateFCmpOGT(yv, best);
                          best = b.CreateSelect(gt, yv, best);
                          route = b.CreateSelect(
                              gt, kb.Splat(kb.F(static_cast<float>(i * pool[1] + j)), lanes),
                              route);
                        }
                      }
                      if (!routed) {
                        route = b.CreateSelect(b.CreateFCmpOGT(best, zero), route,
                                               kb.Splat(kb.F(-1.0f), lanes));
                      }
                      g = b.CreateSelect(b.CreateFCmpOGE(route, zero), g, zero);
                      Value* db_off = b.CreateAdd(pbase, kb.I(dw_size + v * lanes));
                      kb.VStore(b.CreateFAdd(kb.VLoad(partial, db_off, lanes, valid), g), partial,
                                db_off, valid);
                      for (size_t k = 0; k < cell_tile.size(); ++k) {
                        Value* hit =
                            b.CreateFCmpOEQ(route, kb.Splat(kb.F(static_cast<float>(k)), lanes));
                        kb.VStore(b.CreateSelect(hit, g, zero), t, cell_tile[k], valid);
                      }
                    }
                  },
                  "pcol");
              // dw[kh, kw, ci, :] += x[n, oh*sh + kh - ph, ow*sw + kw - pw, ci] * d[oh, ow, :]
              // over the tile's rows and covered columns.
              kb.For(
                  0, sub_blocks, 1,
                  [&](Value* sb) {
                    blk.SetCombos(b.CreateMul(sb, kb.I(rb)), rb, kb.I(combos), kb.I(0), pbase);
                    for (int64_t co0 = 0; co0 < vectors; co0 += cb) {
                      const int64_t nv = std::min(cb, vectors - co0);
                      blk.Load(partial, co0, nv);
                      kb.For(
                          0, pool[0], 1,
                          [&](Value* i) {
                            Value* oh = b.CreateAdd(b.CreateMul(prow, kb.I(pool[0])), i);
                            blk.SetRow(n, oh);
                            Value* t_row = b.CreateMul(i, kb.I(cover_w));
                            kb.For(
                                0, cover_w, 1,
                                [&](Value* ow) {
                                  Value* to = b.CreateAdd(
                                      tbase, b.CreateMul(b.CreateAdd(t_row, ow), kb.I(channels)));
                                  blk.Accumulate(ow, t, to, co0, nv);
                                },
                                "ow");
                          },
                          "i");
                      blk.Store(partial, co0, nv);
                    }
                  },
                  "sub");
            },
            "prow");
      },
      "image");
  l.EndKernel();
  EmitSumOfPartials(l, node, "conv_pool_filter_sum", partial_slot, y[0], part);
}

}  // namespace kiln::codegen
