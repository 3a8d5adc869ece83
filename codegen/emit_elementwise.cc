// Emitters for elementwise ops, bias add, broadcast and the optimizer updates: flat loops over
// chunks of elements that LLVM vectorizes.
#include "codegen/lowering.h"
#include "ir/elementwise_program.h"
#include "llvm/IR/Intrinsics.h"

namespace kiln::codegen {
namespace {

constexpr int64_t kChunk = 8192;  // Elements per task.

int64_t Tasks(int64_t n) { return std::max<int64_t>((n + kChunk - 1) / kChunk, 1); }

// for i in this task's slice of [0, n): body(i)
void ForElements(Lowering& l, int64_t n, const std::function<void(llvm::Value*)>& body) {
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  llvm::Value* lo = b.CreateMul(kb.task_begin(), kb.I(kChunk));
  llvm::Value* hi = b.CreateMul(kb.task_end(), kb.I(kChunk));
  hi = b.CreateSelect(b.CreateICmpSGT(hi, kb.I(n)), kb.I(n), hi);
  kb.For(lo, hi, 1, body);
}

llvm::Value* ScalarOr(Lowering& l, const Node& node, int i, llvm::Value* base, llvm::Value* idx) {
  const bool scalar = l.input(node, i).type.rank() == 0 && node.type.rank() > 0;
  const bool i32 = l.input(node, i).type.dtype == DType::kI32;
  return l.kb().Load(base, scalar ? l.kb().I(0) : idx, i32);
}

llvm::Value* IntDiv(llvm::IRBuilder<>& b, llvm::Value* a, llvm::Value* d) {
  // Matches the interpreter: x / 0 = 0 and INT32_MIN / -1 = INT32_MIN, never a trap.
  llvm::Value* zero = b.getInt32(0);
  llvm::Value* bad = b.CreateOr(
      b.CreateICmpEQ(d, zero),
      b.CreateAnd(b.CreateICmpEQ(a, b.getInt32(INT32_MIN)), b.CreateICmpEQ(d, b.getInt32(-1))));
  llvm::Value* safe_d = b.CreateSelect(bad, b.getInt32(1), d);
  llvm::Value* q = b.CreateSDiv(a, safe_d);
  return b.CreateSelect(b.CreateICmpEQ(d, zero), zero, q);
}

}  // namespace

llvm::Value* EmitSigmoid(KernelBuilder& kb, llvm::Value* x) {
  auto& b = kb.b();
  llvm::Value* neg_abs = b.CreateFNeg(b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x));
  llvm::Value* e = kb.Exp(neg_abs);
  llvm::Value* denom = b.CreateFAdd(kb.F(1.0f), e);
  llvm::Value* pos = b.CreateFDiv(kb.F(1.0f), denom);
  llvm::Value* neg = b.CreateFDiv(e, denom);
  return b.CreateSelect(b.CreateFCmpOGE(x, kb.F(0.0f)), pos, neg);
}

llvm::Value* EmitTanh(KernelBuilder& kb, llvm::Value* x) {
  // libm's tanhf, as the interpreter uses: exact to within an ulp, and tanh is off the hot path.
  llvm::Module* m = kb.b().GetInsertBlock()->getModule();
  llvm::FunctionCallee tanhf =
      m->getOrInsertFunction("tanhf", llvm::FunctionType::get(kb.F32(), {kb.F32()}, false));
  return kb.b().CreateCall(tanhf, {x});
}

void EmitBinary(Lowering& l, const Node& node) {
  const int64_t n = NumElements(node.type.dims);
  const bool i32 = l.input(node, 0).type.dtype == DType::kI32;
  l.BeginKernel(node, "eltwise", Tasks(n), 1, static_cast<double>(n));
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  llvm::Value* a = l.In(node, 0);
  llvm::Value* c = l.In(node, 1);
  llvm::Value* out = l.Out(node);
  ForElements(l, n, [&](llvm::Value* i) {
    llvm::Value* x = ScalarOr(l, node, 0, a, i);
    llvm::Value* y = ScalarOr(l, node, 1, c, i);
    llvm::Value* r = nullptr;
    switch (node.op) {
      case OpKind::kAdd:
        r = i32 ? b.CreateAdd(x, y) : b.CreateFAdd(x, y);
        break;
      case OpKind::kSub:
        r = i32 ? b.CreateSub(x, y) : b.CreateFSub(x, y);
        break;
      case OpKind::kMul:
        r = i32 ? b.CreateMul(x, y) : b.CreateFMul(x, y);
        break;
      case OpKind::kDiv:
        r = i32 ? IntDiv(b, x, y) : b.CreateFDiv(x, y);
        break;
      default: {  // Equal.
        llvm::Value* eq = i32 ? b.CreateICmpEQ(x, y) : b.CreateFCmpOEQ(x, y);
        r = b.CreateSelect(eq, kb.F(1.0f), kb.F(0.0f));
      }
    }
    kb.Store(r, out, i);
  });
  l.EndKernel();
}

void EmitUnary(Lowering& l, const Node& node) {
  const int64_t n = NumElements(node.type.dims);
  l.BeginKernel(node, "eltwise", Tasks(n), 1, static_cast<double>(n));
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  llvm::Value* in = l.In(node, 0);
  llvm::Value* out = l.Out(node);
  ForElements(l, n, [&](llvm::Value* i) {
    llvm::Value* x = kb.Load(in, i);
    llvm::Value* r;
    if (node.op == OpKind::kRelu) {
      r = b.CreateSelect(b.CreateFCmpOLT(x, kb.F(0.0f)), kb.F(0.0f), x);  // NaN passes.
    } else if (node.op == OpKind::kSigmoid) {
      r = EmitSigmoid(kb, x);
    } else {
      r = EmitTanh(kb, x);
    }
    kb.Store(r, out, i);
  });
  l.EndKernel();
}

void EmitActivationGrad(Lowering& l, const Node& node) {
  const int64_t n = NumElements(node.type.dims);
  l.BeginKernel(node, "eltwise", Tasks(n), 1, static_cast<double>(n));
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  llvm::Value* y_buf = l.In(node, 0);
  llvm::Value* dy_buf = l.In(node, 1);
  llvm::Value* out = l.Out(node);
  ForElements(l, n, [&](llvm::Value* i) {
    llvm::Value* y = kb.Load(y_buf, i);
    llvm::Value* dy = kb.Load(dy_buf, i);
    llvm::Value* r;
    if (node.op == OpKind::kReluGrad) {
      r = b.CreateSelect(b.CreateFCmpOGT(y, kb.F(0.0f)), dy, kb.F(0.0f));
    } else if (node.op == OpKind::kSigmoidGrad) {
      r = b.CreateFMul(b.CreateFMul(dy, y), b.CreateFSub(kb.F(1.0f), y));
    } else {
      r = b.CreateFMul(dy, b.CreateFSub(kb.F(1.0f), b.CreateFMul(y, y)));
    }
    kb.Store(r, out, i);
  });
  l.EndKernel();
}

void EmitElementwiseProgram(Lowering& l, const Node& node) {
  auto code = ParseElementwiseProgram(node.GetStr("program"), static_cast<int>(node.inputs.size()));
  const int64_t n = NumElements(node.type.dims);
  l.BeginKernel(node, "fused_eltwise", Tasks(n), 1, static_cast<double>(n * code->size()));
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  std::vector<llvm::Value*> in;
  for (size_t i = 0; i < node.inputs.size(); ++i) in.push_back(l.In(node, static_cast<int>(i)));
  llvm::Value* out = l.Out(node);
  ForElements(l, n, [&](llvm::Value* i) {
    std::vector<llvm::Value*> stack;
    for (const ElementwiseInstr& instr : *code) {
      if (instr.kind == ElementwiseInstr::kInput) {
        stack.push_back(ScalarOr(l, node, instr.input, in[instr.input], i));
        continue;
      }
      llvm::Value* y = nullptr;
      if (ElementwiseArity(instr.kind) == 2) {
        y = stack.back();
        stack.pop_back();
      }
      llvm::Value* x = stack.back();
      llvm::Value* r = nullptr;
      switch (instr.kind) {
        case ElementwiseInstr::kInput:
          r = x;
          break;
        case ElementwiseInstr::kAdd:
          r = b.CreateFAdd(x, y);
          break;
        case ElementwiseInstr::kSub:
          r = b.CreateFSub(x, y);
          break;
        case ElementwiseInstr::kMul:
          r = b.CreateFMul(x, y);
          break;
        case ElementwiseInstr::kDiv:
          r = b.CreateFDiv(x, y);
          break;
        case ElementwiseInstr::kRelu:
          r = b.CreateSelect(b.CreateFCmpOLT(x, kb.F(0.0f)), kb.F(0.0f), x);
          break;
        case ElementwiseInstr::kSigmoid:
          r = EmitSigmoid(kb, x);
          break;
        case ElementwiseInstr::kTanh:
          r = EmitTanh(kb, x);
          break;
        case ElementwiseInstr::kReluGrad:
          r = b.CreateSelect(b.CreateFCmpOGT(x, kb.F(0.0f)), y, kb.F(0.0f));
          break;
        case ElementwiseInstr::kSigmoidGrad:
          r = b.CreateFMul(b.CreateFMul(y, x), b.CreateFSub(kb.F(1.0f), x));
          break;
        case ElementwiseInstr::kTanhGrad:
          r = b.CreateFMul(y, b.CreateFSub(kb.F(1.0f), b.CreateFMul(x, x)));
          break;
      }
      stack.back() = r;
    }
    kb.Store(stack.back(), out, i);
  });
  l.EndKernel();
}

void EmitBiasAdd(Lowering& l, const Node& node) {
  const int64_t n = NumElements(node.type.dims);
  const int64_t c = node.type.dims.back();
  const int64_t rows = n / c;
  const int64_t rows_per_task = std::max<int64_t>(kChunk / c, 1);
  l.BeginKernel(node, "bias", (rows + rows_per_task - 1) / rows_per_task, 1, n);
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  llvm::Value* x = l.In(node, 0);
  llvm::Value* bias = l.In(node, 1);
  llvm::Value* out = l.Out(node);
  llvm::Value* lo = b.CreateMul(kb.task_begin(), kb.I(rows_per_task));
  llvm::Value* hi = b.CreateMul(kb.task_end(), kb.I(rows_per_task));
  hi = b.CreateSelect(b.CreateICmpSGT(hi, kb.I(rows)), kb.I(rows), hi);
  kb.For(
      lo, hi, 1,
      [&](llvm::Value* r) {
        kb.For(
            0, c, 1,
            [&](llvm::Value* j) {
              llvm::Value* i = b.CreateAdd(b.CreateMul(r, kb.I(c)), j);
              kb.Store(b.CreateFAdd(kb.Load(x, i), kb.Load(bias, j)), out, i);
            },
            "c");
      },
      "row");
  l.EndKernel();
}

void EmitBroadcast(Lowering& l, const Node& node) {
  const Dims& out_dims = node.type.dims;
  std::vector<bool> reduced(out_dims.size(), false);
  for (int64_t a : node.GetInts("axes")) {
    reduced[a < 0 ? a + static_cast<int64_t>(out_dims.size()) : a] = true;
  }
  // Input strides for the kept axes (row-major over the kept dims); 0 for broadcast axes.
  std::vector<int64_t> in_stride(out_dims.size(), 0);
  int64_t s = 1;
  for (int d = static_cast<int>(out_dims.size()) - 1; d >= 0; --d) {
    if (!reduced[d]) {
      in_stride[d] = s;
      s *= out_dims[d];
    }
  }
  const int64_t n = NumElements(out_dims);
  const bool i32 = node.type.dtype == DType::kI32;
  l.BeginKernel(node, "broadcast", Tasks(n), 1);
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  llvm::Value* in = l.In(node, 0);
  llvm::Value* out = l.Out(node);
  ForElements(l, n, [&](llvm::Value* i) {
    llvm::Value* rest = i;
    llvm::Value* src = kb.I(0);
    for (int d = static_cast<int>(out_dims.size()) - 1; d >= 0; --d) {
      llvm::Value* coord = b.CreateURem(rest, kb.I(out_dims[d]));
      rest = b.CreateUDiv(rest, kb.I(out_dims[d]));
      if (in_stride[d]) src = b.CreateAdd(src, b.CreateMul(coord, kb.I(in_stride[d])));
    }
    kb.Store(kb.Load(in, src, i32), out, i);
  });
  l.EndKernel();
}

AdamStep EmitAdamStep(KernelBuilder& kb, const Node& node, llvm::Value* t_buf) {
  auto& b = kb.b();
  const double lr = node.GetFloat("lr"), beta1 = node.GetFloat("beta1");
  const double beta2 = node.GetFloat("beta2");
  llvm::Value* t = b.CreateFPExt(kb.Load(t_buf, kb.I(0)), b.getDoubleTy());
  auto pow = [&](double base) {
    return b.CreateBinaryIntrinsic(llvm::Intrinsic::pow,
                                   llvm::ConstantFP::get(b.getDoubleTy(), base), t);
  };
  llvm::Value* one = llvm::ConstantFP::get(b.getDoubleTy(), 1.0);
  llvm::Value* alpha = b.CreateFDiv(
      b.CreateFMul(llvm::ConstantFP::get(b.getDoubleTy(), lr),
                   b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, b.CreateFSub(one, pow(beta2)))),
      b.CreateFSub(one, pow(beta1)));
  return {b.CreateFPTrunc(alpha, kb.F32()), static_cast<float>(1.0 - beta1),
          static_cast<float>(1.0 - beta2), static_cast<float>(node.GetFloat("epsilon"))};
}

void EmitAdamUpdate(KernelBuilder& kb, const AdamStep& s, llvm::Value* g, llvm::Value* p_buf,
                    llvm::Value* m_buf, llvm::Value* v_buf, llvm::Value* index, int lanes,
                    int valid) {
  auto& b = kb.b();
  auto c = [&](llvm::Value* x) { return lanes == 1 ? x : kb.Splat(x, lanes); };
  auto load = [&](llvm::Value* buf) {
    return lanes == 1 ? kb.Load(buf, index) : kb.VLoad(buf, index, lanes, valid);
  };
  auto store = [&](llvm::Value* x, llvm::Value* buf) {
    if (lanes == 1) return kb.Store(x, buf, index);
    kb.VStore(x, buf, index, valid);
  };
  llvm::Value* m = load(m_buf);
  llvm::Value* v = load(v_buf);
  m = b.CreateFAdd(m, b.CreateFMul(b.CreateFSub(g, m), c(kb.F(s.one_minus_beta1))));
  v = b.CreateFAdd(v,
                   b.CreateFMul(b.CreateFSub(b.CreateFMul(g, g), v), c(kb.F(s.one_minus_beta2))));
  store(m, m_buf);
  store(v, v_buf);
  llvm::Value* step =
      b.CreateFDiv(b.CreateFMul(c(s.alpha), m), b.CreateFAdd(kb.Sqrt(v), c(kb.F(s.epsilon))));
  store(b.CreateFSub(load(p_buf), step), p_buf);
}

void EmitUpdate(Lowering& l, const Node& node) {
  const Node& param = l.input(node, 0);
  const int64_t n = NumElements(param.type.dims);
  l.BeginKernel(node, "update", Tasks(n), 1, static_cast<double>(n));
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  llvm::Value* p = l.In(node, 0);
  if (node.op == OpKind::kAssign) {
    llvm::Value* v = l.In(node, 1);
    ForElements(l, n, [&](llvm::Value* i) { kb.Store(kb.Load(v, i), p, i); });
  } else if (node.op == OpKind::kApplySgd) {
    const float lr = static_cast<float>(node.GetFloat("lr"));
    const float momentum = static_cast<float>(node.GetFloat("momentum"));
    const bool nesterov = node.GetInt("nesterov") != 0;
    const float decay = static_cast<float>(node.GetFloat("weight_decay"));
    llvm::Value* vel = l.In(node, 1);
    llvm::Value* grad = l.In(node, 2);
    ForElements(l, n, [&](llvm::Value* i) {
      llvm::Value* g = kb.Load(grad, i);
      llvm::Value* w = kb.Load(p, i);
      if (node.GetFloat("weight_decay") > 0) {
        w = b.CreateFSub(w, b.CreateFMul(b.CreateFMul(w, kb.F(decay)), kb.F(lr)));
      }
      llvm::Value* lr_g = b.CreateFMul(kb.F(lr), g);
      if (momentum == 0.0f) {
        w = b.CreateFSub(w, lr_g);
      } else {
        llvm::Value* v = b.CreateFSub(b.CreateFMul(kb.F(momentum), kb.Load(vel, i)), lr_g);
        kb.Store(v, vel, i);
        w = b.CreateFAdd(w, nesterov ? b.CreateFSub(b.CreateFMul(kb.F(momentum), v), lr_g) : v);
      }
      kb.Store(w, p, i);
    });
  } else {  // ApplyAdam(param, m, v, t, grad).
    const AdamStep step = EmitAdamStep(kb, node, l.In(node, 3));
    llvm::Value* m_buf = l.In(node, 1);
    llvm::Value* v_buf = l.In(node, 2);
    llvm::Value* grad = l.In(node, 4);
    ForElements(l, n, [&](llvm::Value* i) {
      EmitAdamUpdate(kb, step, kb.Load(grad, i), p, m_buf, v_buf, i, 1, 1);
    });
  }
  l.EndKernel();
}

}  // namespace kiln::codegen
