// `kiln bench`: the JIT against the interpreter (and optionally PyTorch) on one model, in one
// run, as medians of samples taken alternately.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "codegen/jit.h"
#include "codegen/peak.h"
#include "frontend/cli/bench_util.h"
#include "frontend/cli/commands.h"
#include "frontend/cli/flags.h"
#include "frontend/cli/torch_peer.h"
#include "frontend/initializers.h"
#include "frontend/json.h"
#include "frontend/training.h"
#include "runtime/interpreter.h"

namespace kiln::cli {
namespace {

// PyTorch's samples per mode; a mode that fails (an inference variant this build cannot run)
// is dropped with its error, the training step failing is fatal.
struct TorchRun {
  std::unique_ptr<TorchPeer> peer;
  std::vector<std::string> modes = {"train", "train_channels_last", "infer_default", "infer_mkldnn",
                                    "infer_jit"};
  std::map<std::string, std::vector<double>> ips;
  std::map<std::string, std::string> errors;

  absl::Status Sample() {
    for (const std::string& mode : modes) {
      if (errors.count(mode)) continue;
      absl::StatusOr<double> s = peer->Sample(mode, mode.rfind("train", 0) == 0 ? 0.3 : 0.2);
      if (s.ok()) {
        ips[mode].push_back(*s);
      } else if (s.status().code() == absl::StatusCode::kUnimplemented &&
                 mode.rfind("infer_", 0) == 0 && mode != "infer_default") {
        errors[mode] = std::string(s.status().message());
      } else {
        return s.status();
      }
    }
    return absl::OkStatus();
  }
  double Median(const std::string& mode) const {
    auto it = ips.find(mode);
    return it == ips.end() ? 0 : cli::Median(it->second);
  }
  // The fastest inference mode's name (without "infer_") and median images/s.
  std::pair<std::string, double> BestInference() const {
    std::pair<std::string, double> best = {"default", 0};
    for (const auto& [mode, v] : ips) {
      if (mode.rfind("infer_", 0) == 0 && Median(mode) > best.second) {
        best = {mode.substr(6), Median(mode)};
      }
    }
    return best;
  }
};

}  // namespace

int Bench() {
  if (FlagZoo()) return BenchZoo();
  auto model = LoadModel(FlagModel(), FlagSeed());
  if (!model.ok()) return Fail("bench", model.status());
  const int64_t batch = FlagBatch() > 0 ? FlagBatch() : 64;
  const int threads = FlagThreads() > 0 ? FlagThreads() : 2;
  const int samples = FlagRepeats();
  const bool scaling = FlagScaling() && threads > 1;
  // PyTorch first, so that a missing torch fails before anything is compiled.
  TorchRun torch;
  if (FlagVsTorch()) {
    if (!TorchPeerKnowsModel(FlagModel())) {
      return Fail("bench",
                  absl::InvalidArgumentError(absl::StrCat(
                      "--vs-torch supports mnist-cnn, fashion-cnn and the zoo models, not '",
                      FlagModel(), "'")));
    }
    auto script = FindTorchPeerScript(FlagTorchScript());
    if (!script.ok()) return Fail("bench", script.status());
    auto peer = TorchPeer::Start(*script, FlagModel(), batch, threads);
    if (!peer.ok()) return Fail("bench", peer.status());
    torch.peer = std::move(*peer);
  }
  JitOptions options;
  options.threads = threads;

  auto train_graph = BuildTrainingGraph(*model, batch, Optimizer::Adam());
  if (!train_graph.ok()) return Fail("bench", train_graph.status());
  auto infer = model->Build(batch);
  if (!infer.ok()) return Fail("bench", infer.status());
  auto jit_train = CreateJit(*train_graph, options);
  if (!jit_train.ok()) return Fail("bench", jit_train.status());
  auto jit_infer = CreateJit(infer->graph, options);
  if (!jit_infer.ok()) return Fail("bench", jit_infer.status());
  auto interp_train = CreateInterpreter(*train_graph);
  auto interp_infer = CreateInterpreter(infer->graph);
  if (!interp_train.ok() || !interp_infer.ok()) {
    return Fail("bench", !interp_train.ok() ? interp_train.status() : interp_infer.status());
  }
  std::vector<Executable*> exes = {jit_train->get(), jit_infer->get(), interp_train->get(),
                                   interp_infer->get()};
  std::unique_ptr<JitExecutable> jit_train_1;  // --scaling: the same step on one thread.
  if (scaling) {
    JitOptions one = options;
    one.threads = 1;
    auto jit = CreateJit(*train_graph, one);
    if (!jit.ok()) return Fail("bench", jit.status());
    jit_train_1 = std::move(*jit);
    exes.push_back(jit_train_1.get());
  }
  for (Executable* exe : exes) {
    if (auto s = Feed(*model, exe, batch); !s.ok()) return Fail("bench", s);
  }
  // Alternate backends sample by sample so background load hits both alike.
  std::vector<double> jt, it, ji, ii, j1;
  for (int s = 0; s < samples; ++s) {
    jt.push_back(TimeRuns(jit_train->get(), 1, 0.3));
    it.push_back(TimeRuns(interp_train->get(), 1, 0.3));
    ji.push_back(TimeRuns(jit_infer->get(), 1, 0.2));
    ii.push_back(TimeRuns(interp_infer->get(), 1, 0.2));
    if (scaling) j1.push_back(TimeRuns(jit_train_1.get(), 1, 0.3));
    if (torch.peer) {
      if (auto st = torch.Sample(); !st.ok()) return Fail("bench", st);
    }
  }
  const double compile_s = (*jit_train)->info().compile_seconds;
  const double jit_train_ips = batch / Median(jt), interp_train_ips = batch / Median(it);
  const double jit_infer_ips = batch / Median(ji), interp_infer_ips = batch / Median(ii);
  const double jit_train_1_ips = scaling ? batch / Median(j1) : jit_train_ips;
  Machine machine;
  std::vector<KernelTime> profile;
  if (FlagProfile()) {
    auto measured = MeasureMachine(threads);
    if (!measured.ok()) return Fail("bench", measured.status());
    machine = *measured;
    profile = ProfileKernels(jit_train->get(), samples, machine);
  }
  const double torch_train = torch.Median("train");
  const double torch_train_cl = torch.Median("train_channels_last");
  const auto [torch_infer_mode, torch_infer] = torch.BestInference();
  if (FlagJson()) {
    JsonLine json;
    json.Add("model", model->name())
        .Add("batch", batch)
        .Add("threads", threads)
        .Add("samples", samples)
        .Add("compile_seconds", compile_s)
        .Add("infer_compile_seconds", (*jit_infer)->info().compile_seconds)
        .Add("jit_train_images_per_second", jit_train_ips)
        .Add("interp_train_images_per_second", interp_train_ips)
        .Add("train_speedup", jit_train_ips / interp_train_ips)
        .Add("jit_infer_images_per_second", jit_infer_ips)
        .Add("interp_infer_images_per_second", interp_infer_ips)
        .Add("infer_speedup", jit_infer_ips / interp_infer_ips);
    if (FlagScaling()) {
      json.Add("jit_train_images_per_second_1_thread", jit_train_1_ips)
          .Add("thread_scaling", jit_train_ips / jit_train_1_ips);
    }
    if (torch.peer) {
      json.Add("torch_version", torch.peer->torch_version())
          .Add("torch_train_images_per_second", torch_train)
          .Add("torch_channels_last_train_images_per_second", torch_train_cl)
          .Add("torch_infer_images_per_second", torch_infer)
          .Add("torch_infer_mode", torch_infer_mode);
      for (const auto& [mode, v] : torch.ips) {
        if (mode.rfind("infer_", 0) == 0) {
          json.Add(absl::StrCat("torch_", mode, "_images_per_second"), torch.Median(mode));
        }
      }
      json.Add("train_vs_torch", jit_train_ips / torch_train)
          .Add("train_vs_torch_channels_last", jit_train_ips / torch_train_cl)
          .Add("infer_vs_torch", jit_infer_ips / torch_infer);
    }
    if (FlagProfile()) {
      const double flops = StepFlops(**jit_train);
      json.Add("peak_gflops", machine.peak_gflops)
          .Add("peak_gflops_per_core", machine.peak_gflops_per_core)
          .Add("memory_gbytes_per_second", machine.bandwidth_gbytes)
          .Add("fraction_of_peak", flops / Median(jt) / (machine.peak_gflops * 1e9))
          .Add("roofline_ratio",
               Median(jt) / RooflineSeconds(KernelCosts(**jit_train, machine)))
          .AddRaw("kernels", ProfileJson(profile));
    }
    std::printf("%s\n", json.str().c_str());
    return 0;
  }
  std::printf("%s, batch %lld, %d threads, medians of %d samples\n", model->name().c_str(),
              static_cast<long long>(batch), threads, samples);
  std::printf("JIT compile: training step %.3f s (%zu kernels), inference %.3f s\n", compile_s,
              (*jit_train)->info().kernels.size(), (*jit_infer)->info().compile_seconds);
  std::printf("%-16s %14s %14s %9s\n", "", "JIT img/s", "interp img/s", "JIT/interp");
  std::printf("%-16s %14.1f %14.1f %8.1fx\n", "training step", jit_train_ips, interp_train_ips,
              jit_train_ips / interp_train_ips);
  std::printf("%-16s %14.1f %14.1f %8.1fx\n", "inference", jit_infer_ips, interp_infer_ips,
              jit_infer_ips / interp_infer_ips);
  if (FlagScaling()) {
    std::printf(
        "thread scaling (JIT training step): 1 thread %.1f img/s, %d threads %.1f img/s,"
        " %.2fx\n",
        jit_train_1_ips, threads, jit_train_ips, jit_train_ips / jit_train_1_ips);
  }
  if (torch.peer) {
    std::printf(
        "\nPyTorch %s (bench/torch_peer.py), same model, batch, threads; samples "
        "alternated with Kiln's\n",
        torch.peer->torch_version().c_str());
    std::printf("%-24s %14s %14s %12s\n", "", "Kiln JIT img/s", "PyTorch img/s", "Kiln/PyTorch");
    std::printf("%-24s %14.1f %14.1f %11.2fx\n", "training step (default)", jit_train_ips,
                torch_train, jit_train_ips / torch_train);
    std::printf("%-24s %14.1f %14.1f %11.2fx\n", "training (channels_last)", jit_train_ips,
                torch_train_cl, jit_train_ips / torch_train_cl);
    std::printf("%-24s %14.1f %14.1f %11.2fx\n", ("inference (" + torch_infer_mode + ")").c_str(),
                jit_infer_ips, torch_infer, jit_infer_ips / torch_infer);
    std::printf("PyTorch inference by mode:");
    for (const auto& [mode, v] : torch.ips) {
      if (mode.rfind("infer_", 0) == 0) std::printf(" %s %.1f", mode.substr(6).c_str(), Median(v));
    }
    std::printf(" img/s\n");
    for (const auto& [mode, error] : torch.errors) {
      std::printf("  %s skipped: %s\n", mode.c_str(), error.c_str());
    }
    std::printf("README targets: training at batch 64, inference at batch 32 (--batch 32).\n");
  }
  if (FlagProfile()) PrintProfile(profile, machine);
  return 0;
}

}  // namespace kiln::cli
