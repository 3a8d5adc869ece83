// What `kiln bench` and `kiln bench --zoo` share: feeding an executable, timing it, per-kernel
// profiles, and the roofline (per kernel max(FLOPs / peak, minimum bytes / memory bandwidth)).
#ifndef KILN_FRONTEND_CLI_BENCH_UTIL_H_
#define KILN_FRONTEND_CLI_BENCH_UTIL_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "codegen/jit.h"
#include "frontend/model.h"
#include "runtime/executable.h"

namespace kiln::cli {

double Median(std::vector<double> v);

// The model's weights, uniform random images and labels i % 10 (the same for every backend).
absl::Status Feed(const Model& model, Executable* exe, int64_t batch);

// Seconds per run: the median over `samples` samples, each timing enough runs to last `min_s`.
double TimeRuns(Executable* exe, int samples, double min_s);

// The yardsticks, measured by Kiln's own JIT on the bench's thread count.
struct Machine {
  double peak_gflops = 0;           // FMA peak on `threads` threads.
  double peak_gflops_per_core = 0;  // One thread alone.
  int lanes = 0, chains = 0, threads = 0;
  double bandwidth_gbytes = 0;  // Memory bandwidth, read + write.
};
absl::StatusOr<Machine> MeasureMachine(int threads);

// Per kernel of a compiled step: its FLOPs, the fewest bytes it must move (each input and
// result once, parameters updated in place twice; a node's second and later kernels move
// nothing that must be moved), and its roofline bound in seconds.
struct KernelCost {
  double flops = 0, min_bytes = 0, bound_seconds = 0;
};
std::vector<KernelCost> KernelCosts(const JitExecutable& jit, const Machine& machine);
// The step's bound: the sum of its kernels'.
double RooflineSeconds(const std::vector<KernelCost>& costs);
double StepFlops(const JitExecutable& jit);

// Per-kernel times measured inside whole steps (each kernel's inputs as the step leaves them),
// medians over steps, beside their costs.
struct KernelTime {
  std::string symbol;
  double seconds = 0, gflops = 0, share = 0, fraction_of_peak = 0;
  double roofline_fraction = 0;  // bound / time: 1 at the roofline.
};
std::vector<KernelTime> ProfileKernels(JitExecutable* jit, int samples, const Machine& machine);
void PrintProfile(const std::vector<KernelTime>& kernels, const Machine& machine);
std::string ProfileJson(const std::vector<KernelTime>& kernels);

}  // namespace kiln::cli

#endif  // KILN_FRONTEND_CLI_BENCH_UTIL_H_
