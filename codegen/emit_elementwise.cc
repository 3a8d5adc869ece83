// Emitters for elementwise ops, bias add, broadcast, dropout masks and the optimizer updates:
// flat loops over chunks of elements; elementwise programs and masks in explicit vectors of the
// target's width.
#include "codegen/elemental.h"
#include "codegen/lowering.h"
#include "ir/elementwise_program.h"
#include "ir/random.h"
#include "llvm/IR/Intrinsics.h"

namespace kiln::codegen {
namespace {

// Elements per task (codegen/schedule.h); kernels of one module share a target.
int64_t Chunk(const Lowering& l) { return ElementwiseChunk(l.target()); }

int64_t Tasks(const Lowering& l, int64_t n) {
  return std::max<int64_t>((n + Chunk(l) - 1) / Chunk(l), 1);
}

// for i in this task's slice of [0, n): body(i)
void ForElements(Lowering& l, int64_t n, const std::function<void(llvm::Value*)>& body) {
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  llvm::Value* lo = b.CreateMul(kb.task_begin(), kb.I(Chunk(l)));
  llvm::Value* hi = b.CreateMul(kb.task_end(), kb.I(Chunk(l)));
  hi = b.CreateSelect(b.CreateICmpSGT(hi, kb.I(n)), kb.I(n), hi);
  kb.For(lo, hi, 1, body);
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

// Binary ops on i32 operands (labels, class ids) and Equal stay scalar: they are batch-sized.
void EmitScalarBinary(Lowering& l, const Node& node) {
  const int64_t n = NumElements(node.type.dims);
  const bool i32 = l.input(node, 0).type.dtype == DType::kI32;
  l.BeginKernel(node, "eltwise_scalar", Tasks(l, n), 1);
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  std::vector<llvm::Value*> in = {l.In(node, 0), l.In(node, 1)};
  llvm::Value* out = l.Out(node);
  ForElements(l, n, [&](llvm::Value* i) {
    llvm::Value* v[2];
    for (int k = 0; k < 2; ++k) {
      const bool scalar = l.input(node, k).type.rank() == 0 && node.type.rank() > 0;
      v[k] = kb.Load(in[k], scalar ? kb.I(0) : i, i32);
    }
    llvm::Value* r = nullptr;
    switch (node.op) {
      case OpKind::kAdd:
        r = b.CreateAdd(v[0], v[1]);
        break;
      case OpKind::kSub:
        r = b.CreateSub(v[0], v[1]);
        break;
      case OpKind::kMul:
        r = b.CreateMul(v[0], v[1]);
        break;
      case OpKind::kDiv:
        r = IntDiv(b, v[0], v[1]);
        break;
      default: {  // Equal.
        llvm::Value* eq = i32 ? b.CreateICmpEQ(v[0], v[1]) : b.CreateFCmpOEQ(v[0], v[1]);
        r = b.CreateSelect(eq, kb.F(1.0f), kb.F(0.0f));
      }
    }
    kb.Store(r, out, i);
  });
  l.EndKernel();
}

// The vector loop skeleton: this task's Chunk(l) elements in vectors of the target's width, the
// tensor's last partial vector masked; body(first element index, valid lanes).
void ForVectors(Lowering& l, int64_t n, const std::function<void(llvm::Value*, int)>& body) {
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  const int lanes = kb.lanes();
  const int64_t full = n - n % lanes;
  llvm::Value* lo = b.CreateMul(kb.task_begin(), kb.I(Chunk(l)));
  llvm::Value* hi = b.CreateMul(kb.task_end(), kb.I(Chunk(l)));
  hi = b.CreateSelect(b.CreateICmpSGT(hi, kb.I(full)), kb.I(full), hi);
  kb.For(lo, hi, lanes, [&](llvm::Value* i) { body(i, lanes); });
  if (full < n) {
    kb.If(b.CreateICmpSGE(b.CreateMul(kb.task_end(), kb.I(Chunk(l))), kb.I(n)),
          [&] { body(kb.I(full), static_cast<int>(n - full)); });
  }
}

// The loop skeleton for f32 elementwise work: each task covers Chunk(l) elements in vectors of the
// target's width; the last vector of the tensor is masked. `program` runs on vectors through
// EmitElement, its rank-0 inputs splatted.
void EmitProgramKernel(Lowering& l, const Node& node, const std::vector<ElementwiseInstr>& program,
                       const char* suffix) {
  const int64_t n = NumElements(node.type.dims);
  double ops = 0;
  for (const ElementwiseInstr& instr : program) ops += instr.op != OpKind::kInput;
  l.BeginKernel(node, suffix, Tasks(l, n), 1, static_cast<double>(n) * ops);
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  const int lanes = kb.lanes();
  std::vector<llvm::Value*> in;
  for (size_t i = 0; i < node.inputs.size(); ++i) in.push_back(l.In(node, static_cast<int>(i)));
  llvm::Value* out = l.Out(node);
  ForVectors(l, n, [&](llvm::Value* i, int valid) {
    llvm::Value* r = EmitProgram(b, program, [&](int k) {
      const bool scalar = l.input(node, k).type.rank() == 0 && node.type.rank() > 0;
      return scalar ? kb.Splat(kb.Load(in[k], kb.I(0)), lanes) : kb.VLoad(in[k], i, lanes, valid);
    });
    kb.VStore(r, out, i, valid);
  });
  l.EndKernel();
}

// uint32 arithmetic on LLVM integer values (scalars or vectors), so the generic mixers of
// ir/random.h run in the JIT exactly as in the interpreter.
struct IrU32 {
  llvm::IRBuilder<>* b;
  llvm::Value* v;
  llvm::Value* Const(uint64_t c) const { return llvm::ConstantInt::get(v->getType(), c); }
  IrU32 operator^(IrU32 o) const { return {b, b->CreateXor(v, o.v)}; }
  IrU32 operator+(IrU32 o) const { return {b, b->CreateAdd(v, o.v)}; }
  IrU32 operator+(uint32_t c) const { return {b, b->CreateAdd(v, Const(c))}; }
  IrU32 operator*(uint32_t c) const { return {b, b->CreateMul(v, Const(c))}; }
  IrU32 operator>>(int s) const { return {b, b->CreateLShr(v, Const(s))}; }
};

}  // namespace

void EmitElementwiseOp(Lowering& l, const Node& node) {
  if (node.op == OpKind::kEqual || l.input(node, 0).type.dtype == DType::kI32) {
    return EmitScalarBinary(l, node);
  }
  std::vector<ElementwiseInstr> program = {{OpKind::kInput, 0}};
  if (ElementwiseArity(node.op) == 2) program.push_back({OpKind::kInput, 1});
  program.push_back({node.op, -1});
  EmitProgramKernel(l, node, program, "eltwise");
}

void EmitDropoutMask(Lowering& l, const Node& node) {
  const int64_t n = NumElements(node.type.dims);
  l.BeginKernel(node, "dropout_mask", Tasks(l, n), 1);
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  const int lanes = kb.lanes();
  llvm::Type* i32 = b.getInt32Ty();
  // The key from the step, as DropoutKey: steps outside [0, 2^32) count as 0.
  llvm::Value* step = kb.Load(l.In(node, 0), kb.I(0));
  llvm::Value* in_range =
      b.CreateAnd(b.CreateFCmpOGE(step, kb.F(0.0f)), b.CreateFCmpOLT(step, kb.F(4294967296.0f)));
  llvm::Value* t = b.CreateSelect(in_range, b.CreateFPToUI(step, i32), b.getInt32(0));
  const auto seed = static_cast<uint32_t>(static_cast<uint64_t>(node.GetInt("seed")));
  IrU32 key = DropoutKey(IrU32{&b, b.getInt32(seed)}, IrU32{&b, t});
  IrU32 vkey{&b, b.CreateVectorSplat(lanes, key.v)};
  llvm::Value* iota = nullptr;
  {
    std::vector<llvm::Constant*> offsets;
    for (int k = 0; k < lanes; ++k) offsets.push_back(b.getInt32(k));
    iota = llvm::ConstantVector::get(offsets);
  }
  const double rate = node.GetFloat("rate");
  llvm::Value* threshold = b.CreateVectorSplat(lanes, b.getInt32(DropoutThreshold(rate)));
  llvm::Value* scale = kb.Splat(kb.F(static_cast<float>(1.0 / (1.0 - rate))), lanes);
  llvm::Value* zero = kb.Splat(kb.F(0.0f), lanes);
  llvm::Value* out = l.Out(node);
  ForVectors(l, n, [&](llvm::Value* i, int valid) {
    llvm::Value* index = b.CreateAdd(b.CreateVectorSplat(lanes, b.CreateTrunc(i, i32)), iota);
    IrU32 bits = DropoutBits(IrU32{&b, index}, vkey);
    kb.VStore(b.CreateSelect(b.CreateICmpUGE(bits.v, threshold), scale, zero), out, i, valid);
  });
  l.EndKernel();
}

void EmitElementwiseProgram(Lowering& l, const Node& node) {
  auto code = ParseElementwiseProgram(node.GetStr("program"), static_cast<int>(node.inputs.size()));
  EmitProgramKernel(l, node, *code, "fused_eltwise");
}

void EmitBiasAdd(Lowering& l, const Node& node) {
  const int64_t n = NumElements(node.type.dims);
  const int64_t c = node.type.dims.back();
  const int64_t rows = n / c;
  const int64_t rows_per_task = std::max<int64_t>(Chunk(l) / c, 1);
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
  l.BeginKernel(node, "broadcast", Tasks(l, n), 1);
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
  l.BeginKernel(node, "update", Tasks(l, n), 1, static_cast<double>(n));
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
  } else if (node.op == OpKind::kApplyRmsprop) {  // As kernels::ApplyRmsprop, op for op.
    const float lr = static_cast<float>(node.GetFloat("lr"));
    const float rho = static_cast<float>(node.GetFloat("rho"));
    const float one_minus_rho = static_cast<float>(1.0 - node.GetFloat("rho"));
    const float epsilon = static_cast<float>(node.GetFloat("epsilon"));
    llvm::Value* ms = l.In(node, 1);
    llvm::Value* grad = l.In(node, 2);
    ForElements(l, n, [&](llvm::Value* i) {
      llvm::Value* g = kb.Load(grad, i);
      llvm::Value* s = b.CreateFAdd(b.CreateFMul(kb.F(rho), kb.Load(ms, i)),
                                    b.CreateFMul(kb.F(one_minus_rho), b.CreateFMul(g, g)));
      kb.Store(s, ms, i);
      llvm::Value* step =
          b.CreateFDiv(b.CreateFMul(kb.F(lr), g), kb.Sqrt(b.CreateFAdd(s, kb.F(epsilon))));
      kb.Store(b.CreateFSub(kb.Load(p, i), step), p, i);
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
