// `kiln bench --zoo`: every model of the zoo (bench/zoo) at one batch and thread count, the JIT
// against the interpreter (and PyTorch with --vs-torch), with the step's fraction of the
// measured FMA peak and its time over the roofline bound.
#include <cstdio>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/zoo/zoo.h"
#include "codegen/jit.h"
#include "frontend/cli/bench_util.h"
#include "frontend/cli/commands.h"
#include "frontend/cli/flags.h"
#include "frontend/cli/torch_peer.h"
#include "frontend/json.h"
#include "frontend/training.h"
#include "ir/status.h"
#include "runtime/interpreter.h"

namespace kiln::cli {
namespace {

struct ZooResult {
  std::string model;
  int64_t params = 0;
  double jit_ips = 0, interp_ips = 0, torch_ips = 0;
  double step_flops = 0, fraction_of_peak = 0, roofline_seconds = 0, roofline_ratio = 0;
  double compile_seconds = 0;
  int kernels = 0;
  std::vector<KernelTime> profile;
};

absl::StatusOr<ZooResult> BenchOne(const std::string& name, int64_t batch, int threads,
                                   int samples, const Machine& machine,
                                   const std::string& torch_script) {
  KILN_ASSIGN_OR_RETURN(Model model, LoadModel(name, FlagSeed()));
  std::unique_ptr<TorchPeer> torch;
  if (!torch_script.empty()) {
    KILN_ASSIGN_OR_RETURN(torch, TorchPeer::Start(torch_script, name, batch, threads));
  }
  KILN_ASSIGN_OR_RETURN(Graph train, BuildTrainingGraph(model, batch, Optimizer::Adam()));
  JitOptions options;
  options.threads = threads;
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<JitExecutable> jit, CreateJit(train, options));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Executable> interp, CreateInterpreter(train));
  KILN_RETURN_IF_ERROR(Feed(model, jit.get(), batch));
  KILN_RETURN_IF_ERROR(Feed(model, interp.get(), batch));
  std::vector<double> jt, it, tt;
  for (int s = 0; s < samples; ++s) {  // Alternated, so background load hits all alike.
    jt.push_back(TimeRuns(jit.get(), 1, 0.3));
    it.push_back(TimeRuns(interp.get(), 1, 0.1));
    if (torch) {
      KILN_ASSIGN_OR_RETURN(double ips, torch->Sample("train", 0.3));
      tt.push_back(ips);
    }
  }
  ZooResult r;
  r.model = name;
  r.params = model.CountParams();
  const double step = Median(jt);
  r.jit_ips = batch / step;
  r.interp_ips = batch / Median(it);
  r.torch_ips = Median(tt);
  r.step_flops = StepFlops(*jit);
  r.fraction_of_peak = r.step_flops / step / (machine.peak_gflops * 1e9);
  r.roofline_seconds = RooflineSeconds(KernelCosts(*jit, machine));
  r.roofline_ratio = step / r.roofline_seconds;
  r.compile_seconds = jit->info().compile_seconds;
  r.kernels = static_cast<int>(jit->info().kernels.size());
  if (FlagProfile()) r.profile = ProfileKernels(jit.get(), samples, machine);
  return r;
}

void PrintRow(const ZooResult& r, bool torch) {
  std::printf("%-14s %10.0f %9.0f %7.1fx %6.1f%% %7.3f %6.2fx %8.3f", r.model.c_str(), r.jit_ips,
              r.interp_ips, r.jit_ips / r.interp_ips, 100 * r.fraction_of_peak,
              r.roofline_seconds * 1e3, r.roofline_ratio, r.compile_seconds);
  if (torch) std::printf(" %9.0f %7.2fx", r.torch_ips, r.jit_ips / r.torch_ips);
  std::printf("\n");
}

}  // namespace

int BenchZoo() {
  const int64_t batch = FlagBatch() > 0 ? FlagBatch() : 64;
  const int threads = FlagThreads() > 0 ? FlagThreads() : 2;
  const int samples = FlagRepeats();
  std::vector<std::string> names;
  if (FlagSpecified("model")) {
    names.push_back(FlagModel());
  } else {
    for (const ZooEntry& e : ZooModels()) names.push_back(e.name);
  }
  std::string script;
  if (FlagVsTorch()) {
    for (const std::string& name : names) {
      if (!TorchPeerKnowsModel(name)) {
        return Fail("bench", absl::InvalidArgumentError(
                                 absl::StrCat("--vs-torch has no PyTorch twin of '", name, "'")));
      }
    }
    auto found = FindTorchPeerScript(FlagTorchScript());
    if (!found.ok()) return Fail("bench", found.status());
    script = *found;
  }
  auto machine = MeasureMachine(threads);
  if (!machine.ok()) return Fail("bench", machine.status());
  if (!FlagJson()) {
    std::printf(
        "model zoo, batch %lld, %d threads, medians of %d samples; peak %.1f GFLOP/s, memory "
        "%.1f GB/s (both measured by Kiln's JIT)\n",
        static_cast<long long>(batch), threads, samples, machine->peak_gflops,
        machine->bandwidth_gbytes);
    std::printf("%-14s %10s %9s %8s %7s %7s %7s %8s", "model", "JIT img/s", "interp", "JIT/int",
                "% peak", "bound", "/bound", "compile");
    if (FlagVsTorch()) std::printf(" %9s %8s", "PyTorch", "vs torch");
    std::printf("\n%-14s %10s %9s %8s %7s %7s %7s %8s\n", "", "", "img/s", "", "", "ms", "", "s");
  }
  for (const std::string& name : names) {
    auto r = BenchOne(name, batch, threads, samples, *machine, script);
    if (!r.ok()) return Fail("bench", absl::Status(r.status().code(),
                                                   absl::StrCat(name, ": ", r.status().message())));
    if (FlagJson()) {
      JsonLine json;
      json.Add("model", r->model)
          .Add("params", r->params)
          .Add("batch", batch)
          .Add("threads", threads)
          .Add("samples", samples)
          .Add("jit_train_images_per_second", r->jit_ips)
          .Add("interp_train_images_per_second", r->interp_ips)
          .Add("train_speedup", r->jit_ips / r->interp_ips)
          .Add("step_gflop", r->step_flops / 1e9)
          .Add("fraction_of_peak", r->fraction_of_peak)
          .Add("roofline_seconds", r->roofline_seconds)
          .Add("roofline_ratio", r->roofline_ratio)
          .Add("compile_seconds", r->compile_seconds)
          .Add("kernels", r->kernels)
          .Add("peak_gflops", machine->peak_gflops)
          .Add("memory_gbytes_per_second", machine->bandwidth_gbytes);
      if (FlagVsTorch()) {
        json.Add("torch_train_images_per_second", r->torch_ips)
            .Add("train_vs_torch", r->jit_ips / r->torch_ips);
      }
      if (FlagProfile()) json.AddRaw("kernel_profile", ProfileJson(r->profile));
      std::printf("%s\n", json.str().c_str());
    } else {
      PrintRow(*r, FlagVsTorch());
      if (FlagProfile()) {
        PrintProfile(r->profile, *machine);
        std::printf("\n");
      }
    }
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace kiln::cli
