// `kiln bench`: the JIT against the interpreter on one model, in one run, as medians.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "absl/strings/str_format.h"
#include "codegen/jit.h"
#include "frontend/cli/commands.h"
#include "frontend/cli/flags.h"
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
// the step leaves them), medians over steps: time, GFLOP/s and share of the step.
void PrintProfile(JitExecutable* jit, int samples) {
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
  std::vector<double> seconds(kernels);
  double total = 0;
  for (int k = 0; k < kernels; ++k) total += seconds[k] = Median(t[k]);
  std::printf("\n%-44s %10s %10s %7s\n", "kernel (training step)", "ms", "GFLOP/s", "share");
  for (int k = 0; k < kernels; ++k) {
    const JitKernelInfo& ki = info.kernels[k];
    std::printf("%-44s %10.3f %10.1f %6.1f%%\n", ki.symbol.c_str(), seconds[k] * 1e3,
                ki.flops > 0 ? ki.flops / seconds[k] / 1e9 : 0.0, 100 * seconds[k] / total);
  }
  std::printf("%-44s %10.3f\n", "sum of kernel medians", total * 1e3);
}

}  // namespace

int Bench() {
  auto model = LoadModel(FlagModel(), FlagSeed());
  if (!model.ok()) return Fail("bench", model.status());
  const int64_t batch = FlagBatch() > 0 ? FlagBatch() : 64;
  const int threads = FlagThreads() > 0 ? FlagThreads() : 2;
  const int samples = FlagRepeats();
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
  for (Executable* exe :
       {static_cast<Executable*>(jit_train->get()), static_cast<Executable*>(jit_infer->get()),
        interp_train->get(), interp_infer->get()}) {
    if (auto s = Feed(*model, exe, batch); !s.ok()) return Fail("bench", s);
  }
  // Alternate backends sample by sample so background load hits both alike.
  std::vector<double> jt, it, ji, ii;
  for (int s = 0; s < samples; ++s) {
    jt.push_back(TimeRuns(jit_train->get(), 1, 0.3));
    it.push_back(TimeRuns(interp_train->get(), 1, 0.3));
    ji.push_back(TimeRuns(jit_infer->get(), 1, 0.2));
    ii.push_back(TimeRuns(interp_infer->get(), 1, 0.2));
  }
  const double compile_s = (*jit_train)->info().compile_seconds;
  const double jit_train_ips = batch / Median(jt), interp_train_ips = batch / Median(it);
  const double jit_infer_ips = batch / Median(ji), interp_infer_ips = batch / Median(ii);
  if (FlagJson()) {
    std::printf("%s\n", JsonLine()
                            .Add("model", model->name())
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
                            .Add("infer_speedup", jit_infer_ips / interp_infer_ips)
                            .str()
                            .c_str());
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
  if (FlagProfile()) PrintProfile(jit_train->get(), samples);
  return 0;
}

}  // namespace kiln::cli
