// The LLVM side of the JIT: one ORC LLJIT per compiled graph, the O3 pipeline for the host CPU,
// and the single place where llvm::Error becomes absl::Status. Internal to codegen/.
#ifndef KILN_CODEGEN_JIT_COMPILER_H_
#define KILN_CODEGEN_JIT_COMPILER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/Error.h"
#include "llvm/Target/TargetMachine.h"

namespace kiln::codegen {

// Converts an llvm::Error to a Status (consuming it). The only conversion point in Kiln.
absl::Status ToStatus(llvm::Error error, const std::string& context);

// Registers the native target and its code emitters with LLVM (once per process).
void InitializeLlvm();

// Verifies `module` and runs the O3 pipeline tuned for `tm`, with libmvec registered so `exp`
// vectorizes. Shared by the JIT and ahead-of-time export (codegen/aot.cc), so both compile the
// same kernels the same way.
absl::Status OptimizeModule(llvm::Module& module, llvm::TargetMachine& tm);

class JitCompiler {
 public:
  // `threads` compile modules in parallel.
  static absl::StatusOr<std::unique_ptr<JitCompiler>> Create(int threads = 1);

  // What emitted functions need: attributes for the host CPU and the vector width to use.
  const std::string& cpu() const { return cpu_; }
  const std::string& features() const { return features_; }
  int vector_lanes() const { return vector_lanes_; }  // f32 lanes: 16 with AVX-512, else 8.
  const llvm::DataLayout& data_layout() const { return jit_->getDataLayout(); }
  const llvm::Triple& triple() const { return jit_->getTargetTriple(); }

  struct Unit {
    std::unique_ptr<llvm::LLVMContext> context;
    std::unique_ptr<llvm::Module> module;
  };
  // Verifies every module, optimizes them at O3 for the host and compiles them (in parallel, one
  // thread per module up to the compiler's thread count), then returns the addresses of
  // `symbols` in order. `dump_ir`, when set, receives the optimized IR.
  absl::StatusOr<std::vector<void*>> Compile(std::vector<Unit> units,
                                             const std::vector<std::string>& symbols,
                                             std::string* dump_ir = nullptr);

 private:
  JitCompiler() = default;

  absl::Status Optimize(llvm::Module& module);

  std::unique_ptr<llvm::orc::LLJIT> jit_;
  std::unique_ptr<llvm::orc::JITTargetMachineBuilder> jtmb_;
  std::string cpu_, features_;
  int vector_lanes_ = 8;
};

}  // namespace kiln::codegen

#endif  // KILN_CODEGEN_JIT_COMPILER_H_
