// The peak FMA rate: a JIT-compiled kernel of independent vector FMA chains, timed on one thread
// and on a ThreadPool.
#include "codegen/peak.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "codegen/jit_compiler.h"
#include "codegen/kernel_builder.h"
#include "ir/status.h"
#include "runtime/thread_pool.h"

namespace kiln {
namespace {

using KernelFn = void (*)(void**, int64_t, int64_t);

constexpr char kSymbol[] = "kiln_peak_fma";
constexpr int64_t kIterations = int64_t{1} << 19;  // Per task: ~1.5 ms at 180 GFLOP/s.
constexpr int64_t kTasksPerThread = 32;            // Per sample: small enough chunks to balance.

// Buffer 0 holds the multiplier and the addend vectors, buffer 1 one vector per chain per task.
// Task t runs `chains` chains acc = acc * m + a for kIterations steps, starting from and storing
// to its slice of buffer 1. Each chain starts from its own memory, so none is merged with another,
// and the stores keep the loop alive. acc converges to a / (1 - m): no overflow, no denormals.
void EmitPeakKernel(codegen::KernelBuilder& kb, int chains) {
  llvm::IRBuilder<>& b = kb.b();
  const int lanes = kb.lanes();
  kb.Begin(kSymbol);
  llvm::Value* in = kb.Buffer(0);
  llvm::Value* out = kb.Buffer(1);
  llvm::Value* m = kb.VLoad(in, kb.I(0), lanes, lanes);
  llvm::Value* a = kb.VLoad(in, kb.I(lanes), lanes, lanes);
  std::vector<llvm::Value*> acc = kb.EntrySlots(kb.Vec(lanes), chains);
  auto fma_step = [&](llvm::Value*) {
    for (int c = 0; c < chains; ++c) {
      llvm::Value* v = b.CreateLoad(kb.Vec(lanes), acc[c]);
      b.CreateStore(kb.Fma(v, m, a), acc[c]);
    }
  };
  auto task_body = [&](llvm::Value* task) {
    llvm::Value* base = b.CreateMul(task, kb.I(int64_t{chains} * lanes), "base");
    for (int c = 0; c < chains; ++c) {
      llvm::Value* at = b.CreateAdd(base, kb.I(int64_t{c} * lanes));
      b.CreateStore(kb.VLoad(out, at, lanes, lanes), acc[c]);
    }
    kb.For(0, kIterations, 1, fma_step, "it");
    for (int c = 0; c < chains; ++c) {
      llvm::Value* at = b.CreateAdd(base, kb.I(int64_t{c} * lanes));
      kb.VStore(b.CreateLoad(kb.Vec(lanes), acc[c]), out, at, lanes);
    }
  };
  kb.For(kb.task_begin(), kb.task_end(), 1, task_body, "task");
  kb.End();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

absl::StatusOr<PeakFlops> MeasurePeakFlops(const PeakOptions& options) {
  PeakFlops peak;
  peak.threads = std::max(1, options.threads);
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<codegen::JitCompiler> compiler,
                        codegen::JitCompiler::Create(1));
  peak.lanes = compiler->vector_lanes();
  // Enough chains to cover FMA latency x ports (4 x 2 here) with registers to spare: 16 of the
  // 32 zmm registers with AVX-512, 12 of the 16 ymm registers otherwise.
  peak.chains = peak.lanes == 16 ? 16 : 12;
  std::vector<codegen::JitCompiler::Unit> units(1);
  units[0].context = std::make_unique<llvm::LLVMContext>();
  units[0].module = std::make_unique<llvm::Module>("kiln_peak", *units[0].context);
  codegen::KernelBuilder kb(*units[0].module, compiler->cpu(), compiler->features(), peak.lanes);
  EmitPeakKernel(kb, peak.chains);
  KILN_ASSIGN_OR_RETURN(
      std::vector<void*> addresses,
      compiler->Compile(std::move(units), {kSymbol}, options.keep_ir ? &peak.llvm_ir : nullptr));
  const KernelFn fn = reinterpret_cast<KernelFn>(addresses[0]);

  const int64_t max_tasks = kTasksPerThread * peak.threads;
  std::vector<float> in(2 * peak.lanes);
  std::fill(in.begin(), in.begin() + peak.lanes, 0.75f);
  std::fill(in.begin() + peak.lanes, in.end(), 0.25f);
  std::vector<float> out(max_tasks * peak.chains * peak.lanes);
  for (size_t i = 0; i < out.size(); ++i) out[i] = 1.0f + static_cast<float>(i % 97) / 97;
  void* table[2] = {in.data(), out.data()};
  void** table_ptr = table;

  const double flops_per_task = 2.0 * kIterations * peak.chains * peak.lanes;
  ThreadPool one(1), many(peak.threads);
  auto sample = [&](ThreadPool& pool) {  // GFLOP/s of one sample.
    const int64_t tasks = kTasksPerThread * pool.threads();
    const auto start = std::chrono::steady_clock::now();
    pool.ParallelFor(tasks, 1, [=](int64_t b, int64_t e) { fn(table_ptr, b, e); });
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return flops_per_task * tasks / s / 1e9;
  };
  sample(one);  // Warm up: clocks, caches and the workers.
  sample(many);
  std::vector<double> single, all;
  for (int s = 0; s < std::max(1, options.samples); ++s) {  // Alternate, so load hits both alike.
    single.push_back(sample(one));
    all.push_back(sample(many));
  }
  peak.gflops_per_core = Median(single);
  peak.gflops_total = Median(all);
  return peak;
}

}  // namespace kiln
