// The input gradient of a convolution, by stride phases. dx[n, h, w, ci] sums dy[n, oh, ow, co]
// * W[kh, kw, ci, co] over the taps with h = oh * sh + kh - ph (and the same along w). For the
// rows h = sh * i + a of one phase a, only the taps kh = (a + ph) mod sh + sh * t take part, and
// oh = i + (a + ph) / sh - t: a stride-1 convolution of dy itself with a flipped sub-filter. So
// each of the sh * sw phases is one direct-convolution kernel writing every sh-th row and sw-th
// column of dx, and no multiply-add ever meets a zero inserted between dy's pixels.
#include <cassert>

#include "codegen/conv_util.h"
#include "codegen/lowering.h"

namespace kiln::codegen {
namespace {

using llvm::Value;

// One axis of one phase: the sub-filter's taps and its place in dx.
struct AxisPhase {
  int64_t first_tap = 0;  // The sub-filter's tap t' is tap first_tap - stride * t' of the filter.
  int64_t taps = 0;       // Sub-filter size (0: no tap reaches this phase, its dx is 0).
  int64_t outputs = 0;    // dx positions stride * i + phase, i < outputs.
  int64_t pad = 0;  // dy coordinate = i + t' - pad (negative pads read past dy's start: never).
};

AxisPhase PhaseOf(int64_t phase, int64_t k, int64_t stride, int64_t pad, int64_t dx_len) {
  AxisPhase a;
  const int64_t k0 = (phase + pad) % stride;  // The phase's first tap.
  const int64_t shift = (phase + pad) / stride;
  a.taps = k0 < k ? (k - k0 + stride - 1) / stride : 0;
  a.first_tap = k0 + stride * (a.taps - 1);
  a.outputs = dx_len > phase ? (dx_len - phase + stride - 1) / stride : 0;
  a.pad = a.taps - 1 - shift;
  return a;
}

}  // namespace

int EmitPackFilter(Lowering& l, const Node& node, int src_slot, const Dims& d,
                   const std::vector<FilterPhase>& phases) {
  int64_t taps = 0;
  for (const FilterPhase& p : phases) taps += p.h_count * p.w_count;
  const int dst = l.NewScratch(taps * d[2] * d[3]);
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  // One task per filter output channel e: it writes row (tap, e) of every sub-filter.
  l.BeginKernel(node, "pack", d[3], GrainFor(kb.target(), static_cast<double>(taps * d[2])));
  Value* src = kb.Buffer(src_slot);
  Value* out = kb.Buffer(dst);
  kb.For(
      kb.task_begin(), kb.task_end(), 1,
      [&](Value* e) {
        int64_t dst_tap0 = 0;
        for (const FilterPhase& p : phases) {
          kb.For(
              0, p.h_count, 1,
              [&](Value* a) {
                kb.For(
                    0, p.w_count, 1,
                    [&](Value* bw) {
                      Value* sh = b.CreateAdd(kb.I(p.h_first), b.CreateMul(a, kb.I(p.h_step)));
                      Value* sw = b.CreateAdd(kb.I(p.w_first), b.CreateMul(bw, kb.I(p.w_step)));
                      Value* src_tap = b.CreateAdd(b.CreateMul(sh, kb.I(d[1])), sw);
                      Value* dst_tap = b.CreateAdd(
                          kb.I(dst_tap0), b.CreateAdd(b.CreateMul(a, kb.I(p.w_count)), bw));
                      Value* src_base = b.CreateAdd(b.CreateMul(src_tap, kb.I(d[2] * d[3])), e);
                      Value* dst_base =
                          b.CreateMul(b.CreateAdd(b.CreateMul(dst_tap, kb.I(d[3])), e), kb.I(d[2]));
                      kb.For(
                          0, d[2], 1,
                          [&](Value* c) {
                            Value* v =
                                kb.Load(src, b.CreateAdd(src_base, b.CreateMul(c, kb.I(d[3]))));
                            kb.Store(v, out, b.CreateAdd(dst_base, c));
                          },
                          "c");
                    },
                    "tap_w");
              },
              "tap_h");
          dst_tap0 += p.h_count * p.w_count;
        }
      },
      "e");
  l.EndKernel();
  return dst;
}

int EmitTransposeFilter(Lowering& l, const Node& node, int src_slot, const Dims& d, bool flip) {
  const FilterPhase all = flip ? FilterPhase{d[0] - 1, -1, d[0], d[1] - 1, -1, d[1]}
                               : FilterPhase{0, 1, d[0], 0, 1, d[1]};
  return EmitPackFilter(l, node, src_slot, d, {all});
}

void EmitConv2DBackpropInput(Lowering& l, const Node& node) {
  const Dims& dy = l.input(node, 0).type.dims;
  const Dims& w = l.input(node, 1).type.dims;
  const Dims& dx = node.type.dims;
  const ConvWindow win = ConvWindowOf(node, dx, dy, w[0], w[1]);
  std::vector<AxisPhase> rows, cols;
  for (int64_t a = 0; a < win.sh; ++a) rows.push_back(PhaseOf(a, w[0], win.sh, win.ph, dx[1]));
  for (int64_t a = 0; a < win.sw; ++a) cols.push_back(PhaseOf(a, w[1], win.sw, win.pw, dx[2]));
  std::vector<FilterPhase> phases;
  for (const AxisPhase& r : rows) {
    for (const AxisPhase& c : cols) {
      phases.push_back({r.first_tap, -win.sh, r.taps, c.first_tap, -win.sw, c.taps});
    }
  }
  const int packed = EmitPackFilter(l, node, node.inputs[1], w, phases);
  int64_t offset = 0;
  for (int64_t a = 0; a < win.sh; ++a) {
    for (int64_t c = 0; c < win.sw; ++c) {
      const AxisPhase& r = rows[a];
      const AxisPhase& q = cols[c];
      const int64_t phase_offset = offset;
      offset += r.taps * q.taps * dy[3] * dx[3];
      if (r.outputs == 0 || q.outputs == 0) continue;
      ConvGeometry g{dy[0],  dy[1],  dy[2], dy[3], r.outputs, q.outputs, dx[3],
                     r.taps, q.taps, 1,     1,     r.pad,     q.pad};
      g.dst_h = dx[1];
      g.dst_w = dx[2];
      g.dst_sh = win.sh;
      g.dst_sw = win.sw;
      g.dst_h0 = a;
      g.dst_w0 = c;
      // A phase no tap reaches stores zeros (the kernel's loops over taps are empty).
      EmitDirectConv(l, node, g, node.inputs[0], packed, -1, /*relu=*/false, {}, nullptr,
                     r.taps * q.taps > 0 ? phase_offset : 0);
    }
  }
}

}  // namespace kiln::codegen
