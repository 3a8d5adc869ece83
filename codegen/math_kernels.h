// Standalone JIT kernels over float arrays, outside any graph: the vector math of
// codegen/elemental.h applied elementwise (for its accuracy tests and `kiln bench --math`), and
// a streaming copy that measures the machine's memory bandwidth, the roofline's second
// yardstick beside the FMA peak (codegen/peak.h). No LLVM types appear here.
#ifndef KILN_CODEGEN_MATH_KERNELS_H_
#define KILN_CODEGEN_MATH_KERNELS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/thread_pool.h"

namespace kiln {

enum class MathFunction { kCopy, kExp, kLog, kTanh, kSigmoid, kErf };
const char* MathFunctionName(MathFunction f);

class MathKernel {
 public:
  // JIT-compiles out[i] = f(in[i]) at `vector_lanes` f32 lanes (0: the host's width).
  static absl::StatusOr<std::unique_ptr<MathKernel>> Create(MathFunction f, int vector_lanes = 0);
  virtual ~MathKernel() = default;
  // out[i] = f(in[i]) for i < n, in tasks of whole vectors run on `pool` (the caller when null).
  // `in` and `out` may be the same array.
  virtual void Run(const float* in, float* out, int64_t n, ThreadPool* pool = nullptr) const = 0;
  virtual int lanes() const = 0;
};

struct MemoryBandwidth {
  int threads = 1;
  double gbytes_per_second = 0;  // Bytes read plus bytes written, per second.
};

// Times the copy kernel over two 64 MiB arrays (far beyond any cache) on `threads` threads:
// the median of `samples`.
absl::StatusOr<MemoryBandwidth> MeasureMemoryBandwidth(int threads = 2, int samples = 5);

}  // namespace kiln

#endif  // KILN_CODEGEN_MATH_KERNELS_H_
