// Window arithmetic shared by the convolution emitters.
#ifndef KILN_CODEGEN_CONV_UTIL_H_
#define KILN_CODEGEN_CONV_UTIL_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "codegen/kernel_builder.h"
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
