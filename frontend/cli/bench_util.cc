#include "frontend/cli/bench_util.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "codegen/math_kernels.h"
#include "codegen/peak.h"
#include "frontend/initializers.h"
#include "frontend/json.h"
#include "ir/status.h"

namespace kiln::cli {

using Clock = std::chrono::steady_clock;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

absl::Status Feed(const Model& model, Executable* exe, int64_t batch) {
  for (const auto& [name, value] : model.weights()) {
    if (exe->graph().Find(name) >= 0) KILN_RETURN_IF_ERROR(exe->SetTensor(name, value));
  }
  Rng rng(7);
  Dims dims = {batch};
  dims.insert(dims.end(), model.input_shape().begin(), model.input_shape().end());
  Tensor images(TensorType{DType::kF32, dims});
  for (float& v : images.f32_span()) v = rng.UniformFloat();
  KILN_RETURN_IF_ERROR(exe->SetTensor("image", images));
  if (exe->graph().Find("label") >= 0) {
    Tensor labels(TensorType{DType::kI32, {batch}});
    for (int64_t i = 0; i < batch; ++i) labels.i32()[i] = static_cast<int32_t>(i % 10);
    KILN_RETURN_IF_ERROR(exe->SetTensor("label", labels));
  }
  return absl::OkStatus();
}

double TimeRuns(Executable* exe, int samples, double min_s) {
  (void)exe->Run();  // Warm caches and the thread pool.
  std::vector<double> per_run;
  for (int s = 0; s < samples; ++s) {
    int runs = 0;
    const auto start = Clock::now();
    double elapsed = 0;
    do {
      (void)exe->Run();
      ++runs;
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    } while (elapsed < min_s);
    per_run.push_back(elapsed / runs);
  }
  return Median(per_run);
}

absl::StatusOr<Machine> MeasureMachine(int threads) {
  PeakOptions options;
  options.threads = threads;
  KILN_ASSIGN_OR_RETURN(PeakFlops peak, MeasurePeakFlops(options));
  KILN_ASSIGN_OR_RETURN(MemoryBandwidth bw, MeasureMemoryBandwidth(threads));
  Machine m;
  m.peak_gflops = peak.gflops_total;
  m.peak_gflops_per_core = peak.gflops_per_core;
  m.lanes = peak.lanes;
  m.chains = peak.chains;
  m.threads = peak.threads;
  m.bandwidth_gbytes = bw.gbytes_per_second;
  return m;
}

namespace {

double Bytes(const Node& node) { return 4.0 * static_cast<double>(NumElements(node.type.dims)); }

double NodeBytes(const Graph& g, const Node& node) {
  double bytes = Bytes(node);
  std::vector<NodeId> seen;
  for (NodeId in : node.inputs) {
    if (std::find(seen.begin(), seen.end(), in) != seen.end()) continue;
    seen.push_back(in);
    bytes += Bytes(g.node(in));
  }
  // Updates write their leading Parameter inputs back in place.
  for (int i = 0; i < NumMutatedInputs(node.op); ++i) bytes += Bytes(g.node(node.inputs[i]));
  return bytes;
}

}  // namespace

std::vector<KernelCost> KernelCosts(const JitExecutable& jit, const Machine& machine) {
  const Graph& g = jit.graph();
  std::vector<KernelCost> costs;
  std::vector<bool> counted(g.num_nodes(), false);
  for (const JitKernelInfo& k : jit.info().kernels) {
    KernelCost c;
    c.flops = k.flops;
    if (k.node >= 0 && !counted[k.node]) {
      counted[k.node] = true;
      c.min_bytes = NodeBytes(g, g.node(k.node));
    }
    c.bound_seconds = std::max(c.flops / (machine.peak_gflops * 1e9),
                               c.min_bytes / (machine.bandwidth_gbytes * 1e9));
    costs.push_back(c);
  }
  return costs;
}

double RooflineSeconds(const std::vector<KernelCost>& costs) {
  double s = 0;
  for (const KernelCost& c : costs) s += c.bound_seconds;
  return s;
}

double StepFlops(const JitExecutable& jit) {
  double flops = 0;
  for (const JitKernelInfo& k : jit.info().kernels) flops += k.flops;
  return flops;
}

std::vector<KernelTime> ProfileKernels(JitExecutable* jit, int samples, const Machine& machine) {
  (void)jit->Run();
  const JitInfo& info = jit->info();
  const int kernels = static_cast<int>(info.kernels.size());
  const int steps = std::max(samples * 4, 12);
  std::vector<std::vector<double>> t(kernels);
  for (int step = 0; step < steps; ++step) {
    for (int k = 0; k < kernels; ++k) {
      const auto start = Clock::now();
      jit->RunKernel(k);
      t[k].push_back(std::chrono::duration<double>(Clock::now() - start).count());
    }
  }
  const std::vector<KernelCost> costs = KernelCosts(*jit, machine);
  std::vector<KernelTime> out(kernels);
  double total = 0;
  for (int k = 0; k < kernels; ++k) {
    const JitKernelInfo& ki = info.kernels[k];
    KernelTime& kt = out[k];
    kt.symbol = ki.symbol;
    total += kt.seconds = Median(t[k]);
    kt.gflops = ki.flops > 0 ? ki.flops / kt.seconds / 1e9 : 0.0;
    kt.fraction_of_peak = machine.peak_gflops > 0 ? kt.gflops / machine.peak_gflops : 0.0;
    kt.roofline_fraction = kt.seconds > 0 ? costs[k].bound_seconds / kt.seconds : 0.0;
  }
  for (KernelTime& kt : out) kt.share = kt.seconds / total;
  return out;
}

void PrintProfile(const std::vector<KernelTime>& kernels, const Machine& machine) {
  std::printf(
      "\nmachine peak (Kiln's FMA kernel, %d x %d-lane chains): %.1f GFLOP/s on %d threads,"
      " %.1f per core; memory %.1f GB/s\n",
      machine.chains, machine.lanes, machine.peak_gflops, machine.threads,
      machine.peak_gflops_per_core, machine.bandwidth_gbytes);
  std::printf("%-44s %10s %10s %7s %7s %9s\n", "kernel (training step)", "ms", "GFLOP/s", "share",
              "% peak", "roofline");
  double total = 0;
  for (const KernelTime& k : kernels) {
    total += k.seconds;
    std::printf("%-44s %10.3f %10.1f %6.1f%% %6.1f%% %8.1f%%\n", k.symbol.c_str(),
                k.seconds * 1e3, k.gflops, 100 * k.share, 100 * k.fraction_of_peak,
                100 * k.roofline_fraction);
  }
  std::printf("%-44s %10.3f\n", "sum of kernel medians", total * 1e3);
}

std::string ProfileJson(const std::vector<KernelTime>& kernels) {
  std::string out = "[";
  for (const KernelTime& k : kernels) {
    if (out.size() > 1) out += ", ";
    out += JsonLine()
               .Add("symbol", k.symbol)
               .Add("seconds", k.seconds)
               .Add("gflops", k.gflops)
               .Add("share", k.share)
               .Add("fraction_of_peak", k.fraction_of_peak)
               .Add("roofline_fraction", k.roofline_fraction)
               .str();
  }
  return out + "]";
}

}  // namespace kiln::cli
