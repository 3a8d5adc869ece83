// The JIT against the interpreter, in one run: the seed CNN's whole training step and inference,
// each JIT kernel of the training step with GFLOP/s, and compile time.
#include <memory>

#include "benchmark/benchmark.h"
#include "codegen/jit.h"
#include "frontend/builtin_models.h"
#include "frontend/initializers.h"
#include "frontend/training.h"
#include "runtime/interpreter.h"

namespace kiln {
namespace {

constexpr int64_t kBatch = 64;

void Feed(const Model& model, Executable* exe, int64_t batch) {
  for (const auto& [name, value] : model.weights()) (void)exe->SetTensor(name, value);
  Rng rng(1);
  Tensor images(TensorType{DType::kF32, {batch, 28, 28, 1}});
  for (float& v : images.f32_span()) v = rng.UniformFloat();
  (void)exe->SetTensor("image", images);
  Tensor labels(TensorType{DType::kI32, {batch}});
  for (int64_t i = 0; i < batch; ++i) labels.i32()[i] = static_cast<int32_t>(i % 10);
  (void)exe->SetTensor("label", labels);
}

std::unique_ptr<Executable> Make(bool jit, bool train, int threads, int64_t batch) {
  auto model = BuiltinModel("mnist-cnn", 1);
  Graph graph =
      train ? *BuildTrainingGraph(*model, batch, Optimizer::Adam()) : model->Build(batch)->graph;
  std::unique_ptr<Executable> exe;
  if (jit) {
    JitOptions options;
    options.threads = threads;
    exe = std::move(*CreateJit(std::move(graph), options));
  } else {
    exe = std::move(*CreateInterpreter(std::move(graph)));
  }
  Feed(*model, exe.get(), batch);
  return exe;
}

void Step(benchmark::State& state, bool jit, bool train) {
  const int64_t batch = train ? kBatch : state.range(1);
  auto exe = Make(jit, train, static_cast<int>(state.range(0)), batch);
  for (auto _ : state) benchmark::DoNotOptimize(exe->Run());
  state.counters["images/s"] =
      benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_TrainStep_Jit(benchmark::State& s) { Step(s, true, true); }
void BM_TrainStep_Interpreter(benchmark::State& s) { Step(s, false, true); }
void BM_Inference_Jit(benchmark::State& s) { Step(s, true, false); }
void BM_Inference_Interpreter(benchmark::State& s) { Step(s, false, false); }
BENCHMARK(BM_TrainStep_Jit)
    ->Args({1, 0})
    ->Args({2, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_TrainStep_Interpreter)->Args({1, 0})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Inference_Jit)
    ->Args({2, 1})
    ->Args({2, 32})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Inference_Interpreter)->Args({1, 32})->Unit(benchmark::kMillisecond)->UseRealTime();

// Each kernel of the JIT's training step alone, single-threaded, with its GFLOP/s.
void BM_TrainStepKernel(benchmark::State& state) {
  static std::unique_ptr<Executable> exe = Make(true, true, 1, kBatch);
  auto* jit = static_cast<JitExecutable*>(exe.get());
  const int k = static_cast<int>(state.range(0));
  if (k >= static_cast<int>(jit->info().kernels.size())) {
    state.SkipWithError("no such kernel");
    return;
  }
  (void)jit->Run();
  const JitKernelInfo& info = jit->info().kernels[k];
  state.SetLabel(info.symbol);
  for (auto _ : state) jit->RunKernel(k);
  state.counters["GFLOP/s"] =
      benchmark::Counter(info.flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_TrainStepKernel)->DenseRange(0, 40)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_CompileTrainStep(benchmark::State& state) {
  auto model = BuiltinModel("mnist-cnn", 1);
  Graph graph = *BuildTrainingGraph(*model, kBatch, Optimizer::Adam());
  for (auto _ : state) benchmark::DoNotOptimize(CreateJit(graph));
}
BENCHMARK(BM_CompileTrainStep)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

}  // namespace
}  // namespace kiln
