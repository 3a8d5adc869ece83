// Interpreter baselines: the seed CNN's training step and inference, and its heaviest kernels,
// with images/s and GFLOP/s counters. The JIT will be measured against these in the same run.
#include <memory>

#include "benchmark/benchmark.h"
#include "frontend/builtin_models.h"
#include "frontend/initializers.h"
#include "frontend/training.h"
#include "runtime/interpreter.h"

namespace kiln {
namespace {

void Fill(Tensor* t, uint64_t seed) {
  Rng rng(seed);
  for (float& v : t->f32_span()) v = rng.UniformFloat();
}

std::unique_ptr<Executable> Prepare(const Model& model, Graph graph, int64_t batch) {
  auto exe = CreateExecutable(std::move(graph), Backend::kInterpreter);
  if (!exe.ok()) return nullptr;
  for (const auto& [name, value] : model.weights()) (void)(*exe)->SetTensor(name, value);
  Tensor images(TensorType{DType::kF32, {batch, 28, 28, 1}});
  Fill(&images, 1);
  (void)(*exe)->SetTensor("image", images);
  Tensor labels(TensorType{DType::kI32, {batch}});
  for (int64_t i = 0; i < batch; ++i) labels.i32()[i] = static_cast<int32_t>(i % 10);
  (void)(*exe)->SetTensor("label", labels);
  return std::move(*exe);
}

void BM_InterpreterTrainStep(benchmark::State& state) {
  const int64_t batch = state.range(0);
  auto model = BuiltinModel("mnist-cnn", 1);
  auto graph = BuildTrainingGraph(*model, batch, Optimizer::Adam());
  auto exe = Prepare(*model, std::move(*graph), batch);
  for (auto _ : state) benchmark::DoNotOptimize(exe->Run());
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["images/s"] =
      benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_InterpreterTrainStep)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_InterpreterInference(benchmark::State& state) {
  const int64_t batch = state.range(0);
  auto model = BuiltinModel("mnist-cnn", 1);
  auto fwd = model->Build(batch);
  auto exe = Prepare(*model, std::move(fwd->graph), batch);
  for (auto _ : state) benchmark::DoNotOptimize(exe->Run());
  state.counters["images/s"] =
      benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_InterpreterInference)->Arg(1)->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();

// The seed CNN's second convolution: [B,13,13,64] * [3,3,64,64] -> [B,11,11,64].
void BM_InterpreterConv2D(benchmark::State& state) {
  const int64_t batch = state.range(0);
  Graph g;
  NodeId x = *g.AddSource(OpKind::kInput, "x", {DType::kF32, {batch, 13, 13, 64}});
  NodeId w = *g.AddSource(OpKind::kParameter, "w", {DType::kF32, {3, 3, 64, 64}});
  NodeId y = *g.AddOp(OpKind::kConv2D, "y", {x, w},
                      {{"strides", AttrValue::Ints({1, 1})}, {"padding", AttrValue::Str("valid")}});
  g.set_outputs({y});
  auto exe = CreateInterpreter(std::move(g));
  Tensor xt(TensorType{DType::kF32, {batch, 13, 13, 64}});
  Fill(&xt, 2);
  (void)(*exe)->SetTensor("x", xt);
  for (auto _ : state) benchmark::DoNotOptimize((*exe)->Run());
  const double flops = 2.0 * batch * 11 * 11 * 64 * 3 * 3 * 64;
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_InterpreterConv2D)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace kiln
