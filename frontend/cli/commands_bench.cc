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
#include "frontend/cli/commands.h"
#include "frontend/cli/flags.h"
#include "frontend/cli/torch_peer.h"
#include "frontend/initializers.h"
#include "frontend/json.h"
#include "frontend/training.h"
#include "runtime/interpreter.h"

namespace kiln::cli {
namespace {

using Clock = std::chrono::steady_clock;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

absl::Status Feed(const Model& model, Executable* exe, int64_t batch) {
  for (const auto& [name, value] : model.weights()) {
    if (exe->graph().Find(name) >= 0) {
      if (auto s = exe->SetTensor(name, value); !s.ok()) return s;
    }
  }
  Rng rng(7);
  Dims dims = {batch};
  dims.insert(dims.end(), model.input_shape().begin(), model.input_shape().end());
  Tensor images(TensorType{DType::kF32, dims});
  for (float& v : images.f32_span()) v = rng.UniformFloat();
  if (auto s = exe->SetTensor("image", images); !s.ok()) return s;
  if (exe->graph().Find("label") >= 0) {
    Tensor labels(TensorType{DType::kI32, {batch}});
    for (int64_t i = 0; i < batch; ++i) labels.i32()[i] = static_cast<int32_t>(i % 10);
    if (auto s = exe->SetTensor("label", labels); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// Seconds per run: the median over `samples` samples, each timing enough runs to last `min_s`.
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

// Per-kernel times of the training step, measured inside whole steps (each kernel's inputs as
// the step leaves them), medians over steps.
struct KernelTime {
  std::string symbol;
  double seconds = 0, gflops = 0, share = 0, fraction_of_peak = 0;
};

std::vector<KernelTime> ProfileKernels(JitExecutable* jit, int samples, double peak_gflops) {
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
  std::vector<KernelTime> out(kernels);
  double total = 0;
  for (int k = 0; k < kernels; ++k) {
    const JitKernelInfo& ki = info.kernels[k];
    KernelTime& kt = out[k];
    kt.symbol = ki.symbol;
    total += kt.seconds = Median(t[k]);
    kt.gflops = ki.flops > 0 ? ki.flops / kt.seconds / 1e9 : 0.0;
    kt.fraction_of_peak = peak_gflops > 0 ? kt.gflops / peak_gflops : 0.0;
  }
  for (KernelTime& kt : out) kt.share = kt.seconds / total;
  return out;
}

void PrintProfile(const std::vector<KernelTime>& kernels, const PeakFlops& peak) {
  std::printf(
      "\nmachine peak (Kiln's FMA kernel, %d x %d-lane chains): %.1f GFLOP/s on %d threads,"
      " %.1f per core\n",
      peak.chains, peak.lanes, peak.gflops_total, peak.threads, peak.gflops_per_core);
  std::printf("%-44s %10s %10s %7s %7s\n", "kernel (training step)", "ms", "GFLOP/s", "share",
              "% peak");
  double total = 0;
  for (const KernelTime& k : kernels) {
    total += k.seconds;
    std::printf("%-44s %10.3f %10.1f %6.1f%% %6.1f%%\n", k.symbol.c_str(), k.seconds * 1e3,
                k.gflops, 100 * k.share, 100 * k.fraction_of_peak);
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
               .str();
  }
  return out + "]";
}

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
                      "--vs-torch supports mnist-cnn and fashion-cnn (the seed CNN), not '",
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
  PeakFlops peak;
  std::vector<KernelTime> profile;
  if (FlagProfile()) {
    PeakOptions peak_options;
    peak_options.threads = threads;
    auto measured = MeasurePeakFlops(peak_options);
    if (!measured.ok()) return Fail("bench", measured.status());
    peak = *measured;
    profile = ProfileKernels(jit_train->get(), samples, peak.gflops_total);
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
      json.Add("peak_gflops", peak.gflops_total)
          .Add("peak_gflops_per_core", peak.gflops_per_core)
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
  if (FlagProfile()) PrintProfile(profile, peak);
  return 0;
}

}  // namespace kiln::cli
