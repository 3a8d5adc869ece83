// MatMul as a register-blocked micro-kernel: rows x column vectors of C held in registers, one
// broadcast of A and one vector of B per FMA column. A transposed B is repacked first so its rows
// are contiguous.
#include <algorithm>
#include <optional>

#include "codegen/lowering.h"

namespace kiln::codegen {

using llvm::Value;

void EmitMatMul(Lowering& l, const Node& node) {
  // FusedMatMulApplyAdam(p, m, v, t, a, b): the product is Adam's gradient for p, applied in the
  // epilogue instead of stored.
  const bool adam = node.op == OpKind::kFusedMatMulApplyAdam;
  const int a_in = adam ? 4 : 0;
  const Dims& ad = l.input(node, a_in).type.dims;
  const Dims& bd = l.input(node, a_in + 1).type.dims;
  const bool ta = node.GetInt("transpose_a") != 0, tb = node.GetInt("transpose_b") != 0;
  Epilogue epilogue(l, node);
  const Dims& out_dims = adam ? l.input(node, 0).type.dims : epilogue.result_dims();
  const int64_t m = out_dims[0], n = out_dims[1];
  const int64_t k = ta ? ad[0] : ad[1];
  const int b_slot =
      tb ? EmitTransposeFilter(l, node, node.inputs[a_in + 1], {1, 1, bd[0], bd[1]}, /*flip=*/false)
         : node.inputs[a_in + 1];
  KernelBuilder& kb = l.kb();
  auto& b = kb.b();
  const int lanes = kb.lanes();
  const int64_t vectors = (n + lanes - 1) / lanes;
  const RegisterTile tile = ChooseRegisterTile(kb.target(), vectors, m);
  const int64_t cb = tile.vectors, rb = tile.rows;
  const int64_t row_blocks = (m + rb - 1) / rb, col_blocks = (vectors + cb - 1) / cb;
  const double flops = 2.0 * m * n * k;
  // Adam: contiguous runs of blocks per thread keep its streams of p, m and v sequential.
  l.BeginKernel(node, "matmul", row_blocks * col_blocks, adam ? 32 : 1, flops);
  epilogue.Bind(l, node);
  Value* a_buf = l.In(node, a_in);
  Value* b_buf = kb.Buffer(b_slot);
  Value* bias = epilogue.has_bias() ? l.In(node, 2) : nullptr;
  Value* out = adam ? l.In(node, 0) : l.Out(node);
  std::optional<AdamStep> adam_step;
  if (adam) adam_step = EmitAdamStep(kb, node, l.In(node, 3));
  const std::vector<Value*> acc = kb.EntrySlots(kb.Vec(lanes), rb * cb);
  kb.For(
      kb.task_begin(), kb.task_end(), 1,
      [&](Value* task) {
        Value* row0 = b.CreateMul(b.CreateUDiv(task, kb.I(col_blocks)), kb.I(rb), "row0");
        Value* vec0 = b.CreateMul(b.CreateURem(task, kb.I(col_blocks)), kb.I(cb), "vec0");
        std::vector<Value*> row(rb), row_ok(rb);
        for (int64_t r = 0; r < rb; ++r) {
          Value* i = b.CreateAdd(row0, kb.I(r));
          row_ok[r] = b.CreateICmpULT(i, kb.I(m));
          row[r] = b.CreateSelect(row_ok[r], i, kb.I(m - 1));
        }
        // Column vectors of this block: full ones are plain loads; the last may be partial. The
        // block's vector count is static except in the last column block.
        auto block = [&](int64_t nv, int64_t last_valid) {
          auto valid = [&](int64_t v) {
            return v == nv - 1 ? static_cast<int>(last_valid) : lanes;
          };
          for (int64_t r = 0; r < rb; ++r) {
            for (int64_t v = 0; v < nv; ++v) {
              b.CreateStore(llvm::Constant::getNullValue(kb.Vec(lanes)), acc[r * cb + v]);
            }
          }
          kb.For(
              0, k, 1,
              [&](Value* kk) {
                Value* b_row =
                    b.CreateAdd(b.CreateMul(kk, kb.I(n)), b.CreateMul(vec0, kb.I(lanes)));
                std::vector<Value*> w(nv);
                for (int64_t v = 0; v < nv; ++v) {
                  w[v] = kb.VLoad(b_buf, b.CreateAdd(b_row, kb.I(v * lanes)), lanes, valid(v));
                }
                for (int64_t r = 0; r < rb; ++r) {
                  Value* ai = ta ? b.CreateAdd(b.CreateMul(kk, kb.I(m)), row[r])
                                 : b.CreateAdd(b.CreateMul(row[r], kb.I(k)), kk);
                  Value* xs = kb.Splat(kb.Load(a_buf, ai), lanes);
                  for (int64_t v = 0; v < nv; ++v) {
                    Value* a = b.CreateLoad(kb.Vec(lanes), acc[r * cb + v]);
                    b.CreateStore(kb.Fma(xs, w[v], a), acc[r * cb + v]);
                  }
                }
              },
              "k");
          for (int64_t r = 0; r < rb; ++r) {
            kb.If(row_ok[r], [&] {
              Value* o = b.CreateAdd(b.CreateMul(row[r], kb.I(n)), b.CreateMul(vec0, kb.I(lanes)));
              for (int64_t v = 0; v < nv; ++v) {
                // Epilogue: bias, then the program (an activation, the activation mask of
                // the consumer's backward pass, ...), or Adam's update.
                Value* res = b.CreateLoad(kb.Vec(lanes), acc[r * cb + v]);
                Value* at = b.CreateAdd(o, kb.I(v * lanes));
                if (bias) {
                  Value* col = b.CreateAdd(b.CreateMul(vec0, kb.I(lanes)), kb.I(v * lanes));
                  res = b.CreateFAdd(res, kb.VLoad(bias, col, lanes, valid(v)));
                }
                if (adam_step) {
                  EmitAdamUpdate(kb, *adam_step, epilogue.Apply(kb, res, at, valid(v)), out,
                                 l.In(node, 1), l.In(node, 2), at, lanes, valid(v));
                  continue;
                }
                epilogue.Store(kb, res, out, at, valid(v));
              }
            });
          }
        };
        const int64_t last_nv = vectors - (col_blocks - 1) * cb;
        const int64_t last_valid = n - (vectors - 1) * lanes;
        if (col_blocks == 1) {
          block(last_nv, last_valid);
        } else {
          Value* is_last = b.CreateICmpEQ(vec0, kb.I((col_blocks - 1) * cb));
          llvm::Function* f = b.GetInsertBlock()->getParent();
          auto* last_bb = llvm::BasicBlock::Create(kb.ctx(), "last_cols", f);
          auto* full_bb = llvm::BasicBlock::Create(kb.ctx(), "full_cols", f);
          auto* join = llvm::BasicBlock::Create(kb.ctx(), "cols_done", f);
          b.CreateCondBr(is_last, last_bb, full_bb);
          b.SetInsertPoint(last_bb);
          block(last_nv, last_valid);
          b.CreateBr(join);
          b.SetInsertPoint(full_bb);
          block(cb, lanes);
          b.CreateBr(join);
          b.SetInsertPoint(join);
        }
      },
      "task");
  l.EndKernel();
}

}  // namespace kiln::codegen
