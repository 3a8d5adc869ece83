#include "codegen/math_kernels.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "codegen/elemental.h"
#include "codegen/jit_compiler.h"
#include "codegen/kernel_builder.h"
#include "ir/status.h"

namespace kiln {
namespace {

using KernelFn = void (*)(void**, int64_t, int64_t);
constexpr char kSymbol[] = "kiln_math";
constexpr int64_t kVectorsPerTask = 512;  // Tasks the pool hands out: 32 KiB of input each.

llvm::Value* Apply(llvm::IRBuilder<>& b, MathFunction f, llvm::Value* x) {
  switch (f) {
    case MathFunction::kCopy:
      return x;
    case MathFunction::kExp:
      return codegen::EmitExp(b, x);
    case MathFunction::kLog:
      return codegen::EmitLog(b, x);
    case MathFunction::kTanh:
      return codegen::EmitTanh(b, x);
    case MathFunction::kSigmoid:
      return codegen::EmitSigmoid(b, x);
    case MathFunction::kErf:
      return codegen::EmitErf(b, x);
  }
  return x;
}

class MathKernelImpl : public MathKernel {
 public:
  MathKernelImpl(std::unique_ptr<codegen::JitCompiler> compiler, KernelFn fn, int lanes)
      : compiler_(std::move(compiler)), fn_(fn), lanes_(lanes) {}

  void Run(const float* in, float* out, int64_t n, ThreadPool* pool) const override {
    const int64_t vectors = n / lanes_;
    void* table[2] = {const_cast<float*>(in), out};
    void** t = table;
    if (pool != nullptr) {
      pool->ParallelFor(vectors, kVectorsPerTask,
                        [fn = fn_, t](int64_t b, int64_t e) { fn(t, b, e); });
    } else {
      fn_(t, 0, vectors);
    }
    if (vectors * lanes_ == n) return;
    std::vector<float> tail(lanes_, 0.0f);  // The last partial vector, through a padded copy.
    const int64_t done = vectors * lanes_;
    std::memcpy(tail.data(), in + done, (n - done) * sizeof(float));
    void* tail_table[2] = {tail.data(), tail.data()};
    fn_(tail_table, 0, 1);
    std::memcpy(out + done, tail.data(), (n - done) * sizeof(float));
  }
  int lanes() const override { return lanes_; }

 private:
  std::unique_ptr<codegen::JitCompiler> compiler_;  // Owns the code fn_ points into.
  KernelFn fn_;
  int lanes_;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

const char* MathFunctionName(MathFunction f) {
  switch (f) {
    case MathFunction::kCopy:
      return "copy";
    case MathFunction::kExp:
      return "exp";
    case MathFunction::kLog:
      return "log";
    case MathFunction::kTanh:
      return "tanh";
    case MathFunction::kSigmoid:
      return "sigmoid";
    case MathFunction::kErf:
      return "erf";
  }
  return "?";
}

absl::StatusOr<std::unique_ptr<MathKernel>> MathKernel::Create(MathFunction f, int vector_lanes) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<codegen::JitCompiler> compiler,
                        codegen::JitCompiler::Create(1));
  const int lanes = vector_lanes > 0 ? vector_lanes : compiler->vector_lanes();
  std::vector<codegen::JitCompiler::Unit> units(1);
  units[0].context = std::make_unique<llvm::LLVMContext>();
  units[0].module = std::make_unique<llvm::Module>("kiln_math", *units[0].context);
  codegen::KernelBuilder kb(*units[0].module, compiler->cpu(), compiler->features(), lanes);
  kb.Begin(kSymbol);
  llvm::Value* in = kb.Buffer(0);
  llvm::Value* out = kb.Buffer(1);
  kb.For(kb.task_begin(), kb.task_end(), 1, [&](llvm::Value* v) {
    llvm::Value* i = kb.b().CreateMul(v, kb.I(lanes));
    kb.VStore(Apply(kb.b(), f, kb.VLoad(in, i, lanes, lanes)), out, i, lanes);
  });
  kb.End();
  KILN_ASSIGN_OR_RETURN(std::vector<void*> addresses,
                        compiler->Compile(std::move(units), {kSymbol}));
  return std::unique_ptr<MathKernel>(
      new MathKernelImpl(std::move(compiler), reinterpret_cast<KernelFn>(addresses[0]), lanes));
}

absl::StatusOr<MemoryBandwidth> MeasureMemoryBandwidth(int threads, int samples) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<MathKernel> copy, MathKernel::Create(MathFunction::kCopy));
  const int64_t n = int64_t{16} << 20;  // 64 MiB of floats per array.
  std::vector<float> a(n, 1.0f), b(n, 0.0f);
  ThreadPool pool(std::max(1, threads));
  copy->Run(a.data(), b.data(), n, &pool);  // Fault the pages in and warm the workers.
  std::vector<double> rates;
  for (int s = 0; s < std::max(1, samples); ++s) {
    const auto start = std::chrono::steady_clock::now();
    copy->Run(s % 2 ? b.data() : a.data(), s % 2 ? a.data() : b.data(), n, &pool);
    const double sec =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    rates.push_back(2.0 * n * sizeof(float) / sec / 1e9);
  }
  return MemoryBandwidth{pool.threads(), Median(rates)};
}

}  // namespace kiln
