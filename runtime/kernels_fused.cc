// Fused groups: each runs the kernels of the ops it replaces, then its epilogue, so the
// interpreter stays the reference for every fused pattern.
#include <cstring>
#include <limits>
#include <vector>

#include "ir/elementwise_program.h"
#include "ir/status.h"
#include "runtime/kernels.h"
#include "runtime/window.h"

namespace kiln::kernels {
namespace {

// out = epilogue(y, extras...) elementwise (see ir/ops.def), `first_extra` the index of the
// node input the program reads as in1; with keep = 1, y itself follows in out.
void ApplyEpilogue(const Node& node, const Inputs& in, int first_extra, const Tensor& y,
                   Tensor* out) {
  auto program = ParseElementwiseProgram(node.GetStr("epilogue"),
                                         1 + static_cast<int>(in.size()) - first_extra);
  KILN_CHECK(program.ok());
  std::vector<const float*> args = {y.f32()};
  std::vector<bool> scalar = {false};
  for (size_t i = first_extra; i < in.size(); ++i) {
    args.push_back(in[i]->f32());
    scalar.push_back(in[i]->dims().empty() && !y.dims().empty());
  }
  if (node.GetInt("keep") != 0) std::memcpy(out->f32() + y.size(), y.raw(), y.bytes());
  EvalProgram(*program, args, scalar, out->f32(), y.size());
}

// The contraction's own result (ir/graph.h ContractionType): `out` itself unless it keeps it.
Tensor ContractionResult(const Node& node, const Inputs& in) {
  if (node.GetInt("keep") == 0) return Tensor();
  std::vector<TensorType> types;
  for (const Tensor* t : in) types.push_back(t->type());
  auto type = ContractionType(node, types);
  KILN_CHECK(type.ok());
  return Tensor(*type);
}

EpilogueLayout Layout(const Inputs& in) {
  return LayoutOfEpilogue(static_cast<int>(in.size()),
                          in.size() > 2 ? static_cast<int>(in[2]->dims().size()) : 0);
}

// out = mask > 0 ? out : 0.
void ApplyMask(const Tensor& mask, Tensor* out) {
  float* o = out->f32();
  const float* m = mask.f32();
  for (int64_t i = 0; i < out->size(); ++i) o[i] = m[i] > 0 ? o[i] : 0.0f;
}

// The MaxPool2D over the node's non-overlapping "valid" windows.
Node PoolOfWindows(const Node& node) {
  Node pool;
  pool.op = OpKind::kMaxPool2D;
  pool.attrs = {{"pool", node.attrs.at("pool")},
                {"strides", node.attrs.at("pool")},
                {"padding", AttrValue::Str("valid")}};
  return pool;
}

// d (zero-filled, the conv result's shape) += each dpool element at the window cell its route
// names, if any.
void Route(const Node& pool, const Tensor& routes, const Tensor& dpool, Tensor* d) {
  const std::vector<int64_t>& window = pool.GetInts("pool");
  const WindowGeometry g = MakeWindowGeometry(pool, d->dims(), dpool.dims(), window[0], window[1]);
  const float* r = routes.f32();
  const float* dp = dpool.f32();
  float* dv = d->f32();
  ForEachWindowCells(g, [&](int64_t p_off, const std::vector<Cell>& cells) {
    for (int64_t c = 0; c < g.out_c; ++c) {
      for (const Cell& cell : cells) {
        if (r[p_off + c] == static_cast<float>(cell.tap)) dv[cell.x_off + c] += dp[p_off + c];
      }
    }
  });
}

}  // namespace

void FusedConv2D(const Node& node, const Inputs& in, Tensor* out) {
  const EpilogueLayout layout = Layout(in);
  Tensor kept = ContractionResult(node, in);
  Tensor* y = node.GetInt("keep") != 0 ? &kept : out;
  Conv2D(node, Inputs(in.begin(), in.begin() + layout.first_extra), y);
  ApplyEpilogue(node, in, layout.first_extra, *y, out);
}

void FusedConv2DMaxPool(const Node& node, const Inputs& in, Tensor* out) {
  const Dims& x = in[0]->dims();
  const Dims& w = in[1]->dims();
  const std::vector<int64_t>& s = node.GetInts("strides");
  const std::string& padding = node.GetStr("padding");
  Tensor y(TensorType{DType::kF32,
                      {x[0], *WindowOutputSize(x[1], w[0], s[0], padding),
                       *WindowOutputSize(x[2], w[1], s[1], padding), w[3]}});
  Conv2D(node, in, &y);
  if (node.GetStr("activation") == "relu") {
    for (float& v : y.f32_span()) v = v < 0 ? 0.0f : v;
  }
  const Node max_pool = PoolOfWindows(node);
  const std::vector<int64_t>& pool = node.GetInts("pool");
  const Dims& yd = y.dims();
  Tensor pooled(TensorType{DType::kF32, {yd[0], yd[1] / pool[0], yd[2] / pool[1], yd[3]}});
  MaxPool2D(max_pool, {&y}, &pooled);
  std::memcpy(out->raw(), pooled.raw(), pooled.bytes());
  const std::string& keep = node.GetStr("keep");
  float* kept = out->f32() + pooled.size();
  if (keep == "conv") std::memcpy(kept, y.raw(), y.bytes());
  if (keep != "routes") return;
  // The cell MaxPool2DGrad routes to (the first strictly largest), or -1 where FusedMaxPool2DGrad's
  // mask (that cell > 0) would drop the gradient.
  const WindowGeometry g = MakeWindowGeometry(max_pool, yd, pooled.dims(), pool[0], pool[1]);
  const float* yv = y.f32();
  ForEachWindowCells(g, [&](int64_t p_off, const std::vector<Cell>& cells) {
    for (int64_t c = 0; c < g.out_c; ++c) {
      float best = -std::numeric_limits<float>::infinity();
      int64_t tap = cells[0].tap;
      for (const Cell& cell : cells) {
        if (yv[cell.x_off + c] > best) {
          best = yv[cell.x_off + c];
          tap = cell.tap;
        }
      }
      kept[p_off + c] = best > 0 ? static_cast<float>(tap) : -1.0f;
    }
  });
}

void FusedDense(const Node& node, const Inputs& in, Tensor* out) {
  const EpilogueLayout layout = Layout(in);
  Tensor kept = ContractionResult(node, in);
  Tensor* y = node.GetInt("keep") != 0 ? &kept : out;
  MatMul(node, {in[0], in[1]}, y);
  if (layout.has_bias) {
    const int64_t n = y->dims()[1];
    const float* b = in[2]->f32();
    float* o = y->f32();
    for (int64_t i = 0; i < y->size(); ++i) o[i] += b[i % n];
  }
  ApplyEpilogue(node, in, layout.first_extra, *y, out);
}

void FusedMaxPool2DGrad(const Node& node, const Inputs& in, Tensor* out) {
  MaxPool2DGrad(node, in, out);
  ApplyMask(*in[0], out);
}

void FusedConvPoolFilterGrad(const Node& node, const Inputs& in, Tensor* out) {
  const Dims& shape = node.GetInts("filter_shape");
  const Dims& x = in[0]->dims();
  const std::vector<int64_t>& s = node.GetInts("strides");
  const std::string& padding = node.GetStr("padding");
  Tensor d(TensorType{DType::kF32,
                      {x[0], *WindowOutputSize(x[1], shape[0], s[0], padding),
                       *WindowOutputSize(x[2], shape[1], s[1], padding), shape[3]}});
  Node pool = PoolOfWindows(node);
  if (node.GetStr("source") == "conv") {
    pool.op = OpKind::kFusedMaxPool2DGrad;
    FusedMaxPool2DGrad(pool, {in[1], in[2]}, &d);
  } else {
    Route(pool, *in[1], *in[2], &d);
  }
  Node filter;
  filter.op = OpKind::kConv2DBackpropFilter;
  filter.attrs = node.attrs;
  Tensor dw(TensorType{DType::kF32, shape});
  Conv2DBackpropFilter(filter, {in[0], &d}, &dw);
  std::memcpy(out->raw(), dw.raw(), dw.bytes());
  // db in float64, like ReduceSum.
  const int64_t channels = shape[3];
  std::vector<double> db(channels, 0.0);
  for (int64_t i = 0; i < d.size(); ++i) db[i % channels] += d.f32()[i];
  for (int64_t c = 0; c < channels; ++c) out->f32()[dw.size() + c] = static_cast<float>(db[c]);
}

void RoutedMaxPool2DGrad(const Node& node, const Inputs& in, Tensor* out) {
  std::memset(out->raw(), 0, out->bytes());
  Route(PoolOfWindows(node), *in[0], *in[1], out);
}

void Elementwise(const Node& node, const Inputs& in, Tensor* out) {
  auto code = ParseElementwiseProgram(node.GetStr("program"), static_cast<int>(in.size()));
  KILN_CHECK(code.ok());
  std::vector<const float*> operands;
  std::vector<bool> scalar;
  for (const Tensor* t : in) {
    operands.push_back(t->f32());
    scalar.push_back(t->size() == 1 && out->size() != 1);
  }
  EvalProgram(*code, operands, scalar, out->f32(), out->size());
}

void SoftmaxCrossEntropyWithGrad(const Node& node, const Inputs& in, Tensor* out) {
  Tensor grad(in[0]->type());
  SoftmaxCrossEntropyGrad(node, in, &grad);
  Tensor loss(TensorType{DType::kF32, {}});
  SoftmaxCrossEntropy(node, {in[0], in[1]}, &loss);
  std::memcpy(out->raw(), grad.raw(), grad.bytes());
  out->f32()[grad.size()] = loss.f32()[0];
}

}  // namespace kiln::kernels
