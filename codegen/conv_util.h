// Window arithmetic shared by the convolution emitters.
#ifndef KILN_CODEGEN_CONV_UTIL_H_
#define KILN_CODEGEN_CONV_UTIL_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "codegen/kernel_builder.h"
#include "codegen/lowering.h"
#include "ir/graph.h"

namespace kiln::codegen {

// Strides and padding before the first element: input coordinate = o * s + k - p.
struct ConvWindow {
  int64_t sh, sw, ph, pw;
};
ConvWindow ConvWindowOf(const Node& node, const Dims& in, const Dims& out, int64_t kh, int64_t kw);
// Whether some window reaches outside the input along one axis (so reads need bounds checks).
bool NeedsCheck(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p);
// Outputs [first, second) of one axis whose every tap lands inside the input: loops over them
// need no bounds checks. Empty (first == second) when no output is inside.
std::pair<int64_t, int64_t> InsideRange(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p);

// A direct convolution: input [N, IH, IW, red_c] (red_c is reduced over), output
// [N, OH, OW, out_c], filter [KH, KW, red_c, out_c]; input coordinate = o * s + k - p, taps
// outside the input skipped (p may be negative).
struct ConvGeometry {
  int64_t n, in_h, in_w, red_c;
  int64_t out_h, out_w, out_c;
  int64_t kh, kw;
  int64_t sh, sw, ph, pw;
  // Where output pixel (n, oh, ow) is stored: pixel (n * dst_h + oh * dst_sh + dst_h0) * dst_w +
  // ow * dst_sw + dst_w0 of the destination (0 for dst_h / dst_w: the output's own size). A
  // stride phase of an input gradient writes every s-th pixel of dx.
  int64_t dst_h = 0, dst_w = 0, dst_sh = 1, dst_sw = 1, dst_h0 = 0, dst_w0 = 0;
};

// A max pool over non-overlapping valid windows in the conv kernel's epilogue: a task computes
// the pool_h conv rows of one row of windows, then pools them while they are in L1.
struct PoolEpilogue {
  int64_t h = 0, w = 0;  // Window (= strides); h == 0 means no pooling.
  // Also stored after the pooled result: the conv rows, or the routes (see ir/ops.def).
  bool keep_conv = false, keep_routes = false;
};

// out = activation(bias + sum_{kh,kw,ci} in[n, oh*sh+kh-ph, ow*sw+kw-pw, ci] * filter[kh,kw,ci,co])
// with the filter packed at `filter_offset` of its slot. One task per output row (n, oh).
// Padding is never read: a row's taps are limited to the input rows, and blocks of pixels whose
// windows reach past the input's sides are emitted one by one, each tap over only the pixels it
// keeps inside. Every load the FMAs see is in bounds and unconditional, so it folds into an
// embedded broadcast. One kernel (emit_conv.cc).
void EmitDirectConv(Lowering& l, const Node& node, const ConvGeometry& g, int in_slot,
                    int filter_slot, int bias_slot, bool relu, PoolEpilogue pool = {},
                    Epilogue* epilogue = nullptr, int64_t filter_offset = 0);

// One register block of a filter gradient: `rb` combos (kh, kw, ci) x up to `cb` channel vectors
// of dw rows, accumulated in `acc` (cb slots per combo) from rows of x [N, IH, IW, CI] and rows
// of dy. Shared by the plain filter-gradient kernel and the first layer's fused one.
class FilterBlock {
 public:
  FilterBlock(KernelBuilder& kb, llvm::Value* x_buf, const Dims& x, const Dims& dw,
              const ConvWindow& win, bool check_h, bool check_w,
              const std::vector<llvm::Value*>& acc, int64_t cb);
  // Combos c_first + r for r < rb; those at or past `limit` read combo `fallback` instead (in
  // bounds) and are never stored. dw row r starts at base + c * CO.
  void SetCombos(llvm::Value* c_first, int64_t rb, llvm::Value* limit, llvm::Value* fallback,
                 llvm::Value* base);
  // Loads / stores channel vectors [co0, co0 + nv) of the block's dw rows from / to dw_buf.
  void Load(llvm::Value* dw_buf, int64_t co0, int64_t nv);
  void Store(llvm::Value* dw_buf, int64_t co0, int64_t nv);
  // Selects conv output row oh of image n: each combo's input row.
  void SetRow(llvm::Value* n, llvm::Value* oh);
  // acc[r, v] += x[row, ow * sw + kw[r] - pw, ci[r]] * dy[dy_off + (co0 + v) * lanes] for every
  // combo r and v < nv (x zero outside its bounds). Bounds are checked along an axis only where
  // the constructor asked for checks and `check_h` / `check_w` says this row / column needs them.
  void Accumulate(llvm::Value* ow, llvm::Value* dy_buf, llvm::Value* dy_off, int64_t co0,
                  int64_t nv, bool check_h = true, bool check_w = true);
  // Lanes of channel vector v that are real channels.
  int Valid(int64_t v) const;

 private:
  KernelBuilder& kb_;
  llvm::Value* x_buf_;
  Dims x_, dw_;
  ConvWindow win_;
  bool check_h_, check_w_;
  const std::vector<llvm::Value*>& acc_;
  int64_t cb_;
  std::vector<llvm::Value*> valid_, kh_, kw_, ci_, dw_off_, x_row_, ok_h_;
};

}  // namespace kiln::codegen

#endif  // KILN_CODEGEN_CONV_UTIL_H_
