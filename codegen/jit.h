// The LLVM JIT backend: compiles a whole graph into native kernels behind the Executable
// interface. No LLVM types appear here.
#ifndef KILN_CODEGEN_JIT_H_
#define KILN_CODEGEN_JIT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/graph.h"
#include "runtime/executable.h"

namespace kiln {

struct JitOptions {
  int threads = 2;       // Including the calling thread.
  bool keep_ir = false;  // Keep the optimized LLVM IR for inspection (JitInfo::llvm_ir).
  bool optimize = true;
  int compile_threads = 2;  // LLVM modules compiled in parallel.
  // f32 lanes per vector in generated kernels: 0 = the host's (16 with AVX-512, else 8). Tests
  // set 8 to exercise the narrower kernels on an AVX-512 host.
  int vector_lanes = 0;
  // Tests: the arena and every scratch buffer end against an inaccessible page, so a kernel that
  // reads or writes past a buffer's end (beyond its 64-byte alignment slack) faults instead of
  // silently touching whatever lies next to it.
  bool guard_pages = false;
  // Tests of `kiln compare`: after the kernels of the node with this name run, the first element
  // of its result is increased by 1, as a wrong kernel would leave it. Empty: no fault.
  std::string inject_fault;
};

// What a compiled graph looks like, for reports and profiles.
struct JitKernelInfo {
  std::string symbol;
  NodeId node = -1;
  int64_t tasks = 0;
  double flops = 0;
};
struct JitInfo {
  double compile_seconds = 0;  // Lowering, LLVM O3 and machine code generation.
  int64_t arena_bytes = 0;
  std::vector<JitKernelInfo> kernels;
  std::string llvm_ir;
};

class JitExecutable : public Executable {
 public:
  virtual const JitInfo& info() const = 0;
  // Runs one kernel alone (after the others ran at least once), for per-kernel profiles.
  virtual void RunKernel(int index) = 0;
  virtual int threads() const = 0;
};

// Verifies `graph`, runs the pass pipeline (OptimizeGraph) and compiles the result. Errors
// (including LLVM's) come back as a Status; the graph can still run on the interpreter.
absl::StatusOr<std::unique_ptr<JitExecutable>> CreateJit(Graph graph,
                                                         const JitOptions& options = {});

}  // namespace kiln

#endif  // KILN_CODEGEN_JIT_H_
