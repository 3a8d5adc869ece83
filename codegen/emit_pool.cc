// Emitters for MaxPool2D, AvgPool2D and their gradients (NHWC).
//
// The window is unrolled at emission time and the contiguous channel dimension is processed as
// vectors of `lanes` floats (a masked vector for the remainder). Padding follows the interpreter:
// "same" pads with WindowPadBefore, padded cells are skipped (max) or not counted (avg); a cell
// that may fall outside the input is loaded from a clamped, in-bounds address and masked out.
// Windows and cells are visited in the interpreter's order, so the gradients accumulate in the
// same order.
#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "codegen/lowering.h"

namespace kiln::codegen {
namespace {

struct Geometry {
  int64_t batch, in_h, in_w, c, out_h, out_w, win_h, win_w, stride_h, stride_w, pad_t, pad_l;
  bool rows_inside, cols_inside;  // Every window row (column) lies inside the input.
};

Geometry MakeGeometry(const Node& node, const Dims& x, const Dims& y) {
  const std::vector<int64_t>& pool = node.GetInts("pool");
  const std::vector<int64_t>& strides = node.GetInts("strides");
  const std::string& padding = node.GetStr("padding");
  Geometry g{x[0],    x[1],       x[2],       x[3], y[1], y[2], pool[0],
             pool[1], strides[0], strides[1], 0,    0,    true, true};
  g.pad_t = WindowPadBefore(g.in_h, g.out_h, g.win_h, g.stride_h, padding);
  g.pad_l = WindowPadBefore(g.in_w, g.out_w, g.win_w, g.stride_w, padding);
  g.rows_inside = g.pad_t == 0 && (g.out_h - 1) * g.stride_h + g.win_h <= g.in_h;
  g.cols_inside = g.pad_l == 0 && (g.out_w - 1) * g.stride_w + g.win_w <= g.in_w;
  return g;
}

// One window cell: element offset of its first channel in x (clamped in bounds), and whether it
// is really inside the input (nullptr: always).
struct Cell {
  llvm::Value* off;
  llvm::Value* inside;
};

class PoolEmitter {
 public:
  PoolEmitter(Lowering& l, const Geometry& g) : kb_(l.kb()), b_(kb_.b()), g_(g) {}

  // Window cells of output pixel (n, oy, ox), in row-major window order.
  std::vector<Cell> Cells(llvm::Value* n, llvm::Value* oy, llvm::Value* ox) {
    llvm::Value* iy0 = b_.CreateSub(b_.CreateMul(oy, kb_.I(g_.stride_h)), kb_.I(g_.pad_t));
    llvm::Value* ix0 = b_.CreateSub(b_.CreateMul(ox, kb_.I(g_.stride_w)), kb_.I(g_.pad_l));
    llvm::Value* row0 = b_.CreateMul(n, kb_.I(g_.in_h));
    std::vector<Cell> cells;
    for (int64_t ky = 0; ky < g_.win_h; ++ky) {
      llvm::Value* iy = b_.CreateAdd(iy0, kb_.I(ky));
      llvm::Value* y_in = g_.rows_inside ? nullptr : kb_.InRange(iy, g_.in_h);
      if (y_in) iy = kb_.Clamp(iy, g_.in_h);
      llvm::Value* row = b_.CreateMul(b_.CreateAdd(row0, iy), kb_.I(g_.in_w));
      for (int64_t kx = 0; kx < g_.win_w; ++kx) {
        llvm::Value* ix = b_.CreateAdd(ix0, kb_.I(kx));
        llvm::Value* x_in = g_.cols_inside ? nullptr : kb_.InRange(ix, g_.in_w);
        if (x_in) ix = kb_.Clamp(ix, g_.in_w);
        llvm::Value* inside = y_in && x_in ? b_.CreateAnd(y_in, x_in) : (y_in ? y_in : x_in);
        cells.push_back({b_.CreateMul(b_.CreateAdd(row, ix), kb_.I(g_.c)), inside});
      }
    }
    return cells;
  }

  // Number of in-bounds cells under the window of (oy, ox), as a float.
  llvm::Value* Count(llvm::Value* oy, llvm::Value* ox) {
    auto extent = [&](llvm::Value* o, int64_t stride, int64_t pad, int64_t win, int64_t in) {
      llvm::Value* lo = b_.CreateSub(b_.CreateMul(o, kb_.I(stride)), kb_.I(pad));
      llvm::Value* hi = b_.CreateAdd(lo, kb_.I(win));
      lo = b_.CreateSelect(b_.CreateICmpSLT(lo, kb_.I(0)), kb_.I(0), lo);
      hi = b_.CreateSelect(b_.CreateICmpSGT(hi, kb_.I(in)), kb_.I(in), hi);
      return b_.CreateSub(hi, lo);
    };
    llvm::Value* n = b_.CreateMul(extent(oy, g_.stride_h, g_.pad_t, g_.win_h, g_.in_h),
                                  extent(ox, g_.stride_w, g_.pad_l, g_.win_w, g_.in_w));
    return b_.CreateSIToFP(n, kb_.F32());
  }

  // body(c0, valid) for every channel block: full blocks in a loop, then the masked remainder.
  void ForChannelBlocks(const std::function<void(llvm::Value*, int)>& body) {
    const int L = kb_.lanes();
    if (g_.c / L > 0) {
      kb_.For(
          0, g_.c / L, 1, [&](llvm::Value* cb) { body(b_.CreateMul(cb, kb_.I(L)), L); }, "cb");
    }
    if (g_.c % L) body(kb_.I(g_.c / L * L), static_cast<int>(g_.c % L));
  }

  // Loops over this task's output pixels: tasks are (n, oy) rows when `per_row`, else images.
  void ForPixels(bool per_row,
                 const std::function<void(llvm::Value*, llvm::Value*, llvm::Value*)>& body) {
    kb_.For(
        kb_.task_begin(), kb_.task_end(), 1,
        [&](llvm::Value* t) {
          if (per_row) {
            llvm::Value* n = b_.CreateUDiv(t, kb_.I(g_.out_h));
            llvm::Value* oy = b_.CreateURem(t, kb_.I(g_.out_h));
            kb_.For(
                0, g_.out_w, 1, [&](llvm::Value* ox) { body(n, oy, ox); }, "ox");
            return;
          }
          // A whole image: zero dx[n] first (the gradients accumulate into it).
          const int64_t image = g_.in_h * g_.in_w * g_.c;
          b_.CreateMemSet(kb_.Ptr(out_, b_.CreateMul(t, kb_.I(image))), b_.getInt8(0),
                          kb_.I(image * 4), llvm::MaybeAlign(4));
          kb_.For(
              0, g_.out_h, 1,
              [&](llvm::Value* oy) {
                kb_.For(
                    0, g_.out_w, 1, [&](llvm::Value* ox) { body(t, oy, ox); }, "ox");
              },
              "oy");
        },
        "t");
  }

  llvm::Value* OutOffset(llvm::Value* n, llvm::Value* oy, llvm::Value* ox) {
    llvm::Value* row = b_.CreateAdd(b_.CreateMul(n, kb_.I(g_.out_h)), oy);
    return b_.CreateMul(b_.CreateAdd(b_.CreateMul(row, kb_.I(g_.out_w)), ox), kb_.I(g_.c));
  }

  // dx[cell + c0 ..] += v, where the cell is inside (a clamped outside cell gets nothing).
  void AddTo(const Cell& cell, llvm::Value* c0, int valid, llvm::Value* v) {
    const int L = kb_.lanes();
    if (cell.inside) v = b_.CreateSelect(cell.inside, v, kb_.Splat(kb_.F(0.0f), L));
    llvm::Value* at = b_.CreateAdd(cell.off, c0);
    kb_.VStore(b_.CreateFAdd(kb_.VLoad(out_, at, L, valid), v), out_, at, valid);
  }

  void set_out(llvm::Value* out) { out_ = out; }

 private:
  KernelBuilder& kb_;
  llvm::IRBuilder<>& b_;
  const Geometry& g_;
  llvm::Value* out_ = nullptr;
};

int64_t Grain(int64_t work) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(work, 1)); }

}  // namespace

void EmitPool(Lowering& l, const Node& node) {
  const Geometry g = MakeGeometry(node, l.input(node, 0).type.dims, node.type.dims);
  const bool is_max = node.op == OpKind::kMaxPool2D;
  if (NumElements(node.type.dims) == 0) return;
  const int64_t cells = g.win_h * g.win_w;
  const double flops = static_cast<double>(NumElements(node.type.dims) * cells);
  l.BeginKernel(node, "pool", g.batch * g.out_h, Grain(g.out_w * g.c * cells), flops);
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  const int L = kb.lanes();
  llvm::Value* x = l.In(node, 0);
  llvm::Value* out = l.Out(node);
  PoolEmitter pe(l, g);
  pe.ForPixels(true, [&](llvm::Value* n, llvm::Value* oy, llvm::Value* ox) {
    std::vector<Cell> window = pe.Cells(n, oy, ox);
    llvm::Value* count = is_max ? nullptr : kb.Splat(pe.Count(oy, ox), L);
    llvm::Value* o = pe.OutOffset(n, oy, ox);
    pe.ForChannelBlocks([&](llvm::Value* c0, int valid) {
      const float init = is_max ? -std::numeric_limits<float>::infinity() : 0.0f;
      llvm::Value* acc = kb.Splat(kb.F(init), L);
      for (const Cell& cell : window) {
        llvm::Value* v = kb.VLoad(x, b.CreateAdd(cell.off, c0), L, valid);
        llvm::Value* inside = cell.inside ? kb.Splat(cell.inside, L) : nullptr;
        if (is_max) {  // Strictly greater wins (NaN never does), as the interpreter.
          llvm::Value* take = b.CreateFCmpOGT(v, acc);
          if (inside) take = b.CreateAnd(take, inside);
          acc = b.CreateSelect(take, v, acc);
        } else {
          if (inside) v = b.CreateSelect(inside, v, kb.Splat(kb.F(0.0f), L));
          acc = b.CreateFAdd(acc, v);
        }
      }
      if (!is_max) acc = b.CreateFDiv(acc, count);
      kb.VStore(acc, out, b.CreateAdd(o, c0), valid);
    });
  });
  l.EndKernel();
}

void EmitPoolGrad(Lowering& l, const Node& node) {
  const bool fused_relu = node.op == OpKind::kFusedMaxPool2DGrad;
  const bool is_max = node.op == OpKind::kMaxPool2DGrad || fused_relu;
  const Dims& dy_dims = l.input(node, is_max ? 1 : 0).type.dims;
  const Geometry g = MakeGeometry(node, node.type.dims, dy_dims);
  if (NumElements(node.type.dims) == 0) return;
  const int64_t cells = g.win_h * g.win_w;
  const double flops = static_cast<double>(NumElements(dy_dims) * cells * (is_max ? 2 : 1));
  // One task per image: it owns dx[n], so overlapping windows accumulate within one task.
  l.BeginKernel(node, "pool_grad", g.batch, 1, flops);
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  const int L = kb.lanes();
  llvm::Value* x = is_max ? l.In(node, 0) : nullptr;
  llvm::Value* dy = l.In(node, is_max ? 1 : 0);
  PoolEmitter pe(l, g);
  pe.set_out(l.Out(node));
  pe.ForPixels(false, [&](llvm::Value* n, llvm::Value* oy, llvm::Value* ox) {
    std::vector<Cell> window = pe.Cells(n, oy, ox);
    llvm::Value* count = is_max ? nullptr : kb.Splat(pe.Count(oy, ox), L);
    llvm::Value* o = pe.OutOffset(n, oy, ox);
    pe.ForChannelBlocks([&](llvm::Value* c0, int valid) {
      llvm::Value* d = kb.VLoad(dy, b.CreateAdd(o, c0), L, valid);
      if (!is_max) {
        llvm::Value* share = b.CreateFDiv(d, count);
        for (const Cell& cell : window) pe.AddTo(cell, c0, valid, share);
        return;
      }
      // Per channel: the first inside cell strictly greater than all before it (from -inf);
      // the first inside cell when none is (all -inf or NaN).
      auto* i32v = llvm::FixedVectorType::get(b.getInt32Ty(), L);
      llvm::Value* best = kb.Splat(kb.F(-std::numeric_limits<float>::infinity()), L);
      llvm::Value* none = llvm::ConstantInt::get(i32v, -1);
      llvm::Value* arg = none;
      for (size_t k = 0; k < window.size(); ++k) {
        const Cell& cell = window[k];
        llvm::Value* v = kb.VLoad(x, b.CreateAdd(cell.off, c0), L, valid);
        llvm::Value* inside = cell.inside ? kb.Splat(cell.inside, L) : nullptr;
        llvm::Value* gt = b.CreateFCmpOGT(v, best);
        llvm::Value* first = b.CreateICmpEQ(arg, none);
        if (inside) {
          gt = b.CreateAnd(gt, inside);
          first = b.CreateAnd(first, inside);
        }
        best = b.CreateSelect(gt, v, best);
        arg = b.CreateSelect(b.CreateOr(gt, first),
                             llvm::ConstantInt::get(i32v, static_cast<uint64_t>(k)), arg);
      }
      if (fused_relu) {  // The ReLU mask of x at the routed cell: x = best there.
        llvm::Value* zero = kb.Splat(kb.F(0.0f), L);
        d = b.CreateSelect(b.CreateFCmpOGT(best, zero), d, zero);
      }
      for (size_t k = 0; k < window.size(); ++k) {
        llvm::Value* hit = b.CreateICmpEQ(arg, llvm::ConstantInt::get(i32v, k));
        pe.AddTo(window[k], c0, valid, b.CreateSelect(hit, d, kb.Splat(kb.F(0.0f), L)));
      }
    });
  });
  l.EndKernel();
}

// d = RoutedMaxPool2DGrad(routes, dpool): one task per row of d, each element written once:
// a cell of a window gets dpool where the window's route names it, else 0; rows and columns
// outside every window get 0.
void EmitRoutedPoolGrad(Lowering& l, const Node& node) {
  const Dims& d = node.type.dims;
  const Dims& p = l.input(node, 1).type.dims;
  const std::vector<int64_t>& pool = node.GetInts("pool");
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  const int L = kb.lanes();
  const int64_t vectors = (d[3] + L - 1) / L;
  auto valid = [&](int64_t v) { return static_cast<int>(std::min<int64_t>(L, d[3] - v * L)); };
  l.BeginKernel(node, "routed_pool_grad", d[0] * d[1], 8);
  llvm::Value* routes = l.In(node, 0);
  llvm::Value* dpool = l.In(node, 1);
  llvm::Value* out = l.Out(node);
  llvm::Value* zero = kb.Splat(kb.F(0.0f), L);
  kb.For(
      kb.task_begin(), kb.task_end(), 1,
      [&](llvm::Value* row) {
        llvm::Value* n = b.CreateUDiv(row, kb.I(d[1]));
        llvm::Value* oh = b.CreateURem(row, kb.I(d[1]));
        llvm::Value* out_row = b.CreateMul(row, kb.I(d[2] * d[3]));
        auto zeros = [&](int64_t from) {  // Columns [from, W) of this row.
          if (from < d[2]) {
            kb.For(
                b.CreateAdd(out_row, kb.I(from * d[3])), b.CreateAdd(out_row, kb.I(d[2] * d[3])), 1,
                [&](llvm::Value* i) { kb.Store(kb.F(0.0f), out, i); }, "zero");
          }
        };
        llvm::Value* covered = b.CreateICmpULT(oh, kb.I(p[1] * pool[0]));
        kb.If(covered, [&] {
          llvm::Value* prow = b.CreateUDiv(oh, kb.I(pool[0]));
          llvm::Value* i = b.CreateURem(oh, kb.I(pool[0]));
          llvm::Value* p_row =
              b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.I(p[1])), prow), kb.I(p[2] * d[3]));
          kb.For(
              0, p[2], 1,
              [&](llvm::Value* pcol) {
                llvm::Value* po = b.CreateAdd(p_row, b.CreateMul(pcol, kb.I(d[3])));
                for (int64_t v = 0; v < vectors; ++v) {
                  llvm::Value* at = b.CreateAdd(po, kb.I(v * L));
                  llvm::Value* r = kb.VLoad(routes, at, L, valid(v));
                  llvm::Value* g = kb.VLoad(dpool, at, L, valid(v));
                  // Route of cell (i, j): i * pool_w + j.
                  llvm::Value* first = b.CreateSIToFP(b.CreateMul(i, kb.I(pool[1])), kb.F32());
                  for (int64_t j = 0; j < pool[1]; ++j) {
                    llvm::Value* k = b.CreateFAdd(first, kb.F(static_cast<float>(j)));
                    llvm::Value* hit = b.CreateFCmpOEQ(r, kb.Splat(k, L));
                    llvm::Value* col = b.CreateAdd(b.CreateMul(pcol, kb.I(pool[1])), kb.I(j));
                    llvm::Value* o = b.CreateAdd(b.CreateAdd(out_row, b.CreateMul(col, kb.I(d[3]))),
                                                 kb.I(v * L));
                    kb.VStore(b.CreateSelect(hit, g, zero), out, o, valid(v));
                  }
                }
              },
              "pcol");
          zeros(p[2] * pool[1]);  // Columns past the last window.
        });
        kb.If(b.CreateNot(covered), [&] { zeros(0); });  // Rows below it.
      },
      "row");
  l.EndKernel();
}

}  // namespace kiln::codegen
