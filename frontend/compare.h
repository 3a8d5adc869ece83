// `kiln compare`: one training step on the JIT and on the interpreter, from the same weights and
// batch, compared kernel by kernel, to find the first fused kernel whose result is wrong.
#ifndef KILN_FRONTEND_COMPARE_H_
#define KILN_FRONTEND_COMPARE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/jit.h"
#include "frontend/model.h"

namespace kiln {

struct CompareOptions {
  int64_t batch = 64;
  int threads = 2;
  // A result agrees when max |jit - ref| <= tolerance * max(1, max |ref|), ref the interpreter's.
  double tolerance = 1e-3;
  JitOptions jit;  // Threads are taken from `threads`; tests set jit.inject_fault.
};

// One node of the optimized training graph that a JIT kernel computes, in schedule order.
struct KernelComparison {
  std::string node;     // The node's name (a fused node keeps the name of its last op).
  std::string op;       // Its op kind: "FusedConv2D", "Elementwise", "Conv2DBackpropFilter", ...
  std::string body;     // The ops a fused node stands for, e.g. "Conv2D + BiasAdd + Relu".
  std::string kernel;   // The symbol of its first JIT kernel.
  double max_error = 0;  // max |jit - ref| / max(1, max |ref|); inf for NaN mismatches.
  bool agrees = true;
};

struct CompareReport {
  std::vector<KernelComparison> kernels;
  int first_disagreement = -1;  // Index into `kernels`, or -1 when every kernel agrees.
};

// Builds the training step (Adam), optimizes it once, and runs that same optimized graph on both
// backends with every intermediate result kept. The first disagreement in schedule order is the
// kernel at fault: every input it read agreed.
absl::StatusOr<CompareReport> CompareBackends(const Model& model, const CompareOptions& options);

}  // namespace kiln

#endif  // KILN_FRONTEND_COMPARE_H_
