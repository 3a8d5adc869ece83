// The LLVM side of ahead-of-time export: the target machine and object-file emission. Internal
// to codegen/ (codegen/aot.cc); the optimization pipeline is the JIT's (jit_compiler.h).
#ifndef KILN_CODEGEN_AOT_TARGET_H_
#define KILN_CODEGEN_AOT_TARGET_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "llvm/IR/Module.h"
#include "llvm/Target/TargetMachine.h"

namespace kiln::codegen {

struct AotTarget {
  std::unique_ptr<llvm::TargetMachine> tm;  // Position-independent code, small code model, O3.
  std::string cpu, features;                // For kernels' "target-cpu"/"target-features".
  int lanes = 8;                            // f32 lanes per vector: 16 with AVX-512.
};

// `cpu_name` empty, "native" or "host": the host's CPU and features as the JIT detects them.
// Otherwise an LLVM CPU name ("x86-64-v3") with that CPU's features; unknown names are an
// InvalidArgument error listing examples.
absl::StatusOr<AotTarget> MakeAotTarget(const std::string& cpu_name);

// Runs the JIT's O3 pipeline (OptimizeModule) over `module`, then emits an ELF relocatable
// object. KILN_DUMP_IR=file writes the optimized IR, as the JIT does.
absl::StatusOr<std::string> OptimizeAndEmitObject(llvm::Module& module, llvm::TargetMachine& tm);

}  // namespace kiln::codegen

#endif  // KILN_CODEGEN_AOT_TARGET_H_
