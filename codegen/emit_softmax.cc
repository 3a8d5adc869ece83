// Emitters for softmax, its gradient and the softmax cross-entropy loss (with its gradient),
// over rows along an axis (codegen/row_util.h). Every task owns whole rows and folds them in a
// fixed order, so results do not depend on the thread count.
#include <limits>

#include "codegen/elemental.h"
#include "codegen/lowering.h"
#include "codegen/row_util.h"

namespace kiln::codegen {

void EmitSoftmax(Lowering& l, const Node& node) {
  const Split s = SplitAt(node.type.dims, NormAxis(node.GetInt("axis"), node.type.rank()));
  if (s.outer * s.inner * s.len == 0) return;
  l.BeginKernel(node, "softmax", RowTasks(l.target(), s), 1, 3.0 * NumElements(node.type.dims));
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  llvm::Value* x = l.In(node, 0);
  llvm::Value* out = l.Out(node);
  ForAxisRows(kb, s, [&](llvm::Value* base, llvm::Value*) {
    llvm::Value* max = RowMax(kb, x, base, s.len, s.inner);
    llvm::Value* sum = ExpRow(kb, x, out, base, s.len, s.inner, max);
    kb.For(
        0, s.len, 1,
        [&](llvm::Value* j) {
          llvm::Value* i = At(kb, base, j, s.inner);
          kb.Store(b.CreateFDiv(kb.Load(out, i), sum), out, i);
        },
        "j");
  });
  l.EndKernel();
}

void EmitSoftmaxGrad(Lowering& l, const Node& node) {
  const Split s = SplitAt(node.type.dims, NormAxis(node.GetInt("axis"), node.type.rank()));
  if (s.outer * s.inner * s.len == 0) return;
  l.BeginKernel(node, "softmax_grad", RowTasks(l.target(), s), 1,
                4.0 * NumElements(node.type.dims));
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  llvm::Value* y = l.In(node, 0);
  llvm::Value* dy = l.In(node, 1);
  llvm::Value* out = l.Out(node);
  ForAxisRows(kb, s, [&](llvm::Value* base, llvm::Value*) {
    llvm::Value* dot = Slot(kb, kb.F32(), kb.F(0.0f));
    kb.For(
        0, s.len, 1,
        [&](llvm::Value* j) {
          llvm::Value* i = At(kb, base, j, s.inner);
          llvm::Value* prod = b.CreateFMul(kb.Load(dy, i), kb.Load(y, i));
          b.CreateStore(b.CreateFAdd(Get(kb, dot, kb.F32()), prod), dot);
        },
        "j");
    llvm::Value* d = Get(kb, dot, kb.F32());
    kb.For(
        0, s.len, 1,
        [&](llvm::Value* j) {
          llvm::Value* i = At(kb, base, j, s.inner);
          kb.Store(b.CreateFMul(kb.Load(y, i), b.CreateFSub(kb.Load(dy, i), d)), out, i);
        },
        "j");
  });
  l.EndKernel();
}

namespace {

// Adds row `base`'s cross-entropy, max - logits[label] + log(sum), to *total; a label outside
// [0, C) is never read through and its row contributes NaN. Shared by both loss kernels, so
// the fused one sums exactly as the plain one.
void AccumulateRowLoss(KernelBuilder& kb, llvm::Value* logits, llvm::Value* base,
                       llvm::Value* label, int64_t classes, llvm::Value* max, llvm::Value* sum,
                       llvm::Value* total) {
  auto& b = kb.b();
  llvm::Value* picked = kb.Load(logits, b.CreateAdd(base, kb.Clamp(label, classes)));
  llvm::Value* loss = b.CreateFAdd(b.CreateFSub(max, picked), EmitLog(b, sum));
  loss = b.CreateSelect(kb.InRange(label, classes), loss,
                        kb.F(std::numeric_limits<float>::quiet_NaN()));
  b.CreateStore(b.CreateFAdd(Get(kb, total, kb.F32()), loss), total);
}

}  // namespace

void EmitSoftmaxCrossEntropy(Lowering& l, const Node& node) {
  const Dims& dims = l.input(node, 0).type.dims;
  const int64_t batch = dims[0], classes = dims[1];
  // One task: the batch mean is a single ordered sum.
  l.BeginKernel(node, "sce", 1, 1, 3.0 * static_cast<double>(batch * classes));
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  llvm::Value* logits = l.In(node, 0);
  llvm::Value* labels = l.In(node, 1);
  llvm::Value* total = Slot(kb, kb.F32(), kb.F(0.0f));
  kb.For(
      0, batch, 1,
      [&](llvm::Value* r) {
        llvm::Value* base = b.CreateMul(r, kb.I(classes));
        llvm::Value* label = b.CreateSExt(kb.Load(labels, r, true), b.getInt64Ty());
        llvm::Value* max = RowMax(kb, logits, base, classes, 1);
        llvm::Value* sum = ExpRow(kb, logits, nullptr, base, classes, 1, max);
        AccumulateRowLoss(kb, logits, base, label, classes, max, sum, total);
      },
      "b");
  llvm::Value* mean = b.CreateFDiv(Get(kb, total, kb.F32()), kb.F(static_cast<float>(batch)));
  kb.Store(mean, l.Out(node), kb.I(0));
  l.EndKernel();
}

// SoftmaxCrossEntropyGrad; for SoftmaxCrossEntropyWithGrad also the mean loss, after the
// gradient, from the same exponentials (one task then, so the mean is one ordered sum).
void EmitSoftmaxCrossEntropyGrad(Lowering& l, const Node& node) {
  const bool with_loss = node.op == OpKind::kSoftmaxCrossEntropyWithGrad;
  const Dims& dims = l.input(node, 0).type.dims;
  const int64_t batch = dims[0], classes = dims[1];
  if (batch * classes == 0) return;
  const int64_t per = with_loss ? batch : Grain(l.target(), classes);
  l.BeginKernel(node, with_loss ? "sce_with_grad" : "sce_grad", (batch + per - 1) / per, 1,
                4.0 * static_cast<double>(batch * classes));
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  llvm::Value* logits = l.In(node, 0);
  llvm::Value* labels = l.In(node, 1);
  llvm::Value* out = l.Out(node);
  llvm::Value* scale =
      b.CreateFDiv(kb.Load(l.In(node, 2), kb.I(0)), kb.F(static_cast<float>(batch)));
  llvm::Value* total = with_loss ? Slot(kb, kb.F32(), kb.F(0.0f)) : nullptr;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  ForTaskRows(kb, per, batch, [&](llvm::Value* r) {
    llvm::Value* base = b.CreateMul(r, kb.I(classes));
    llvm::Value* label = b.CreateSExt(kb.Load(labels, r, true), b.getInt64Ty());
    llvm::Value* valid = kb.InRange(label, classes);
    llvm::Value* max = RowMax(kb, logits, base, classes, 1);
    llvm::Value* sum = ExpRow(kb, logits, out, base, classes, 1, max);
    if (with_loss) AccumulateRowLoss(kb, logits, base, label, classes, max, sum, total);
    kb.For(
        0, classes, 1,
        [&](llvm::Value* j) {
          llvm::Value* i = b.CreateAdd(base, j);
          llvm::Value* prob = b.CreateFDiv(kb.Load(out, i), sum);
          llvm::Value* hot = b.CreateSelect(b.CreateICmpEQ(j, label), kb.F(1.0f), kb.F(0.0f));
          llvm::Value* g = b.CreateFMul(b.CreateFSub(prob, hot), scale);
          kb.Store(b.CreateSelect(valid, g, kb.F(nan)), out, i);
        },
        "j");
  });
  if (with_loss) {
    llvm::Value* mean = b.CreateFDiv(Get(kb, total, kb.F32()), kb.F(static_cast<float>(batch)));
    kb.Store(mean, out, kb.I(batch * classes));
  }
  l.EndKernel();
}

}  // namespace kiln::codegen
