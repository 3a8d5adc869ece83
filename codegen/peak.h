// The machine's peak floating-point rate as Kiln's own JIT reaches it: the yardstick for kernel
// GFLOP/s in `kiln bench --profile`. No LLVM types appear here.
#ifndef KILN_CODEGEN_PEAK_H_
#define KILN_CODEGEN_PEAK_H_

#include <string>

#include "absl/status/statusor.h"

namespace kiln {

struct PeakOptions {
  int threads = 2;       // The multi-threaded measurement's thread count, the caller included.
  int samples = 5;       // Medians over this many timed samples.
  bool keep_ir = false;  // Keep the optimized LLVM IR of the kernel (PeakFlops::llvm_ir).
};

struct PeakFlops {
  int lanes = 0;   // f32 lanes per FMA: the host vector width codegen uses (16 with AVX-512).
  int chains = 0;  // Independent FMA chains per thread.
  int threads = 1;
  double gflops_per_core = 0;  // One thread alone.
  double gflops_total = 0;     // `threads` threads at once.
  std::string llvm_ir;
};

// JIT-compiles a kernel of independent vector FMA chains for the host CPU and times it on one
// thread and on `options.threads` threads (runtime/ThreadPool): GFLOP/s as medians of samples,
// about 0.1 s each. Errors come from LLVM (compilation) only.
absl::StatusOr<PeakFlops> MeasurePeakFlops(const PeakOptions& options = {});

}  // namespace kiln

#endif  // KILN_CODEGEN_PEAK_H_
