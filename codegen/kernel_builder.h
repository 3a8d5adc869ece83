// IRBuilder helpers for writing kernels as loop nests: every generated kernel has the signature
// `void kernel(ptr* buffers, i64 task_begin, i64 task_end)` and computes tasks [begin, end).
#ifndef KILN_CODEGEN_KERNEL_BUILDER_H_
#define KILN_CODEGEN_KERNEL_BUILDER_H_

#include <functional>
#include <string>
#include <vector>

#include "codegen/schedule.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Module.h"

namespace kiln::codegen {

// One launch of a generated function over `tasks` independent tasks, `grain` per chunk.
struct Launch {
  std::string symbol;
  int64_t tasks = 1;
  int64_t grain = 1;
  int node = -1;     // The IR node it computes (for profiles).
  double flops = 0;  // Useful floating-point work of the whole launch.
};

class KernelBuilder {
 public:
  KernelBuilder(llvm::Module& module, std::string cpu, std::string features, int lanes);

  llvm::IRBuilder<>& b() { return b_; }
  llvm::LLVMContext& ctx() { return module_.getContext(); }
  int lanes() const { return lanes_; }
  // What schedules are chosen from: lanes, vector registers, cache sizes.
  const TargetInfo& target() const { return target_; }

  // Starts a new kernel function; the builder is left in its entry block. End() closes it.
  void Begin(const std::string& name);
  void End();
  llvm::Value* task_begin() const { return begin_; }
  llvm::Value* task_end() const { return end_; }

  // The float (or i32) pointer held in slot `buffer` of the table.
  llvm::Value* Buffer(int buffer);

  // Constants and types.
  llvm::Value* I(int64_t v) { return b_.getInt64(v); }
  llvm::Value* F(float v);
  llvm::Type* F32() { return b_.getFloatTy(); }
  llvm::VectorType* Vec(int lanes) { return llvm::FixedVectorType::get(F32(), lanes); }

  // for (i = lo; i < hi; i += step) body(i)
  void For(llvm::Value* lo, llvm::Value* hi, int64_t step,
           const std::function<void(llvm::Value*)>& body, const char* name = "i");
  void For(int64_t lo, int64_t hi, int64_t step, const std::function<void(llvm::Value*)>& body,
           const char* name = "i") {
    For(I(lo), I(hi), step, body, name);
  }
  // `count` stack slots of `type` in the entry block: loop-carried accumulators that SROA turns
  // into registers.
  std::vector<llvm::Value*> EntrySlots(llvm::Type* type, int64_t count);

  // if (cond) then()
  void If(llvm::Value* cond, const std::function<void()>& then);
  // if (cond) then() else otherwise()
  void IfElse(llvm::Value* cond, const std::function<void()>& then,
              const std::function<void()>& otherwise);

  // Element access: base[index] for f32 (or i32 when `i32`).
  llvm::Value* Ptr(llvm::Value* base, llvm::Value* index, bool i32 = false);
  llvm::Value* Load(llvm::Value* base, llvm::Value* index, bool i32 = false);
  void Store(llvm::Value* value, llvm::Value* base, llvm::Value* index);
  // `lanes` consecutive floats from base[index]; with `valid` < lanes, a masked load/store of the
  // first `valid` lanes (the rest read as zero).
  llvm::Value* VLoad(llvm::Value* base, llvm::Value* index, int lanes, int valid);
  void VStore(llvm::Value* value, llvm::Value* base, llvm::Value* index, int valid);
  llvm::Value* Splat(llvm::Value* scalar, int lanes) { return b_.CreateVectorSplat(lanes, scalar); }
  llvm::Value* Fma(llvm::Value* a, llvm::Value* b, llvm::Value* c);
  llvm::Value* Exp(llvm::Value* x);
  llvm::Value* Max(llvm::Value* a, llvm::Value* b);  // maxnum: the non-NaN operand.
  llvm::Value* Sqrt(llvm::Value* x);

  // Clamps `i` to [0, n - 1] (to keep a speculative load in bounds) and says if it was in range.
  llvm::Value* InRange(llvm::Value* i, int64_t n);
  llvm::Value* Clamp(llvm::Value* i, int64_t n);

 private:
  llvm::Module& module_;
  llvm::IRBuilder<> b_;
  std::string cpu_, features_;
  int lanes_;
  TargetInfo target_;
  llvm::Function* fn_ = nullptr;
  llvm::Value* table_ = nullptr;
  llvm::Value* begin_ = nullptr;
  llvm::Value* end_ = nullptr;
};

}  // namespace kiln::codegen

#endif  // KILN_CODEGEN_KERNEL_BUILDER_H_
