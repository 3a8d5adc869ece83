// JitExecutable: memory plan, lowering every node, LLVM compilation, and running the kernels on
// the thread pool.
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "codegen/jit.h"
#include "codegen/jit_compiler.h"
#include "codegen/lowering.h"
#include "ir/passes/memory_plan.h"
#include "ir/passes/passes.h"
#include "ir/status.h"
#include "runtime/thread_pool.h"

namespace kiln {
namespace {

using KernelFn = void (*)(void**, int64_t, int64_t);

// Zeroed memory, 64-byte aligned; with `guard`, its end (rounded up to 64 bytes) touches a
// PROT_NONE page (JitOptions::guard_pages).
class Block {
 public:
  Block(int64_t bytes, bool guard) {
    const int64_t size = std::max<int64_t>((bytes + 63) / 64 * 64, 64);
    if (!guard) {
      data_ = std::aligned_alloc(64, size);
      KILN_CHECK(data_ != nullptr);
      std::memset(data_, 0, size);
      return;
    }
    const int64_t page = sysconf(_SC_PAGESIZE);
    mapped_ = (size + page - 1) / page * page + page;
    base_ = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    KILN_CHECK(base_ != MAP_FAILED);
    char* guard_page = static_cast<char*>(base_) + mapped_ - page;
    KILN_CHECK(mprotect(guard_page, page, PROT_NONE) == 0);
    data_ = guard_page - size;
  }
  ~Block() {
    if (mapped_ > 0) {
      munmap(base_, mapped_);
    } else {
      std::free(data_);
    }
  }
  Block(const Block&) = delete;
  Block& operator=(const Block&) = delete;
  void* data() const { return data_; }

 private:
  void* data_ = nullptr;
  void* base_ = nullptr;
  int64_t mapped_ = 0;
};

class Jit final : public JitExecutable {
 public:
  Jit(Graph graph, MemoryPlan plan, int threads)
      : graph_(std::move(graph)), plan_(std::move(plan)), pool_(threads) {}

  absl::Status Compile(const JitOptions& options) {
    const auto start = std::chrono::steady_clock::now();
    // Kernels are spread over one module per compile thread; LLVM compiles them in parallel.
    const int units = std::max(1, std::min(options.compile_threads, 8));
    KILN_ASSIGN_OR_RETURN(compiler_, codegen::JitCompiler::Create(units));
    std::vector<codegen::JitCompiler::Unit> modules(units);
    std::vector<std::unique_ptr<codegen::KernelBuilder>> builders;
    std::vector<codegen::KernelBuilder*> builder_ptrs;
    for (int u = 0; u < units; ++u) {
      modules[u].context = std::make_unique<llvm::LLVMContext>();
      modules[u].module = std::make_unique<llvm::Module>(
          "kiln_" + graph_.name() + "_" + std::to_string(u), *modules[u].context);
      builders.push_back(std::make_unique<codegen::KernelBuilder>(
          *modules[u].module, compiler_->cpu(), compiler_->features(),
          options.vector_lanes > 0 ? options.vector_lanes : compiler_->vector_lanes()));
      builder_ptrs.push_back(builders.back().get());
    }
    codegen::Lowering lowering(builder_ptrs, graph_);
    for (NodeId id : plan_.schedule) KILN_RETURN_IF_ERROR(EmitNode(lowering, graph_.node(id)));
    const char* dump_path = std::getenv("KILN_DUMP_IR");
    std::vector<std::string> symbols;
    for (const codegen::Launch& launch : lowering.launches()) symbols.push_back(launch.symbol);
    KILN_ASSIGN_OR_RETURN(
        std::vector<void*> addresses,
        compiler_->Compile(std::move(modules), symbols,
                           options.keep_ir || dump_path ? &info_.llvm_ir : nullptr));
    if (dump_path) {  // Debugging aid: KILN_DUMP_IR=file writes the optimized LLVM IR.
      if (FILE* f = std::fopen(dump_path, "w")) {
        std::fwrite(info_.llvm_ir.data(), 1, info_.llvm_ir.size(), f);
        std::fclose(f);
      }
    }
    for (size_t i = 0; i < addresses.size(); ++i) {
      const codegen::Launch& launch = lowering.launches()[i];
      kernels_.push_back({reinterpret_cast<KernelFn>(addresses[i]), launch.tasks, launch.grain});
      info_.kernels.push_back({launch.symbol, launch.node, launch.tasks, launch.flops});
    }
    Allocate(lowering.scratch_floats(), options.guard_pages);
    if (!options.inject_fault.empty()) {
      fault_node_ = graph_.Find(options.inject_fault);
      if (fault_node_ < 0) {
        return absl::NotFoundError(
            absl::StrCat("inject_fault: no node named '", options.inject_fault, "'"));
      }
      for (size_t k = 0; k < info_.kernels.size(); ++k) {
        if (info_.kernels[k].node == fault_node_) fault_after_ = static_cast<int>(k);
      }
      if (fault_after_ < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("inject_fault: node '", options.inject_fault, "' runs no kernel"));
      }
    }
    info_.arena_bytes = plan_.arena_bytes;
    info_.compile_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return absl::OkStatus();
  }

  const Graph& graph() const override { return graph_; }
  const JitInfo& info() const override { return info_; }
  int threads() const override { return pool_.threads(); }

  absl::Status SetTensor(absl::string_view name, const Tensor& value) override {
    KILN_ASSIGN_OR_RETURN(NodeId id, FindBindable(graph_, name, value));
    std::memcpy(table_[id], value.raw(), value.bytes());
    return absl::OkStatus();
  }

  absl::Status Run() override {
    for (size_t k = 0; k < kernels_.size(); ++k) {
      RunKernel(static_cast<int>(k));
      if (static_cast<int>(k) == fault_after_) static_cast<float*>(table_[fault_node_])[0] += 1.0f;
    }
    return absl::OkStatus();
  }

  void RunKernel(int index) override {
    const Kernel& k = kernels_[index];
    void** table = table_.data();
    KernelFn fn = k.fn;
    pool_.ParallelFor(k.tasks, k.grain, [=](int64_t b, int64_t e) { fn(table, b, e); });
  }

  absl::StatusOr<Tensor> GetTensor(absl::string_view name) const override {
    NodeId id = graph_.Find(name);
    if (id < 0) return absl::NotFoundError(absl::StrCat("no node named '", name, "'"));
    const bool kept =
        IsSource(graph_.node(id).op) ||
        std::find(graph_.outputs().begin(), graph_.outputs().end(), id) != graph_.outputs().end();
    if (!kept) {
      return absl::FailedPreconditionError(
          absl::StrCat("node '", name,
                       "' is an intermediate value the JIT's memory plan reuses; "
                       "make it a graph output to read it"));
    }
    Tensor t(graph_.node(id).type);
    std::memcpy(t.raw(), table_[id], t.bytes());
    return t;
  }

 private:
  struct Kernel {
    KernelFn fn;
    int64_t tasks, grain;
  };

  void Allocate(const std::vector<int64_t>& scratch, bool guard) {
    const int n = graph_.num_nodes();
    table_.assign(n + scratch.size(), nullptr);
    arena_ = std::make_unique<Block>(plan_.arena_bytes, guard);
    persistent_.resize(n);
    for (NodeId id : plan_.schedule) {
      const Node& node = graph_.node(id);
      const MemoryPlan::Buffer& buf = plan_.buffers[id];
      if (buf.kind == MemoryPlan::Kind::kPersistent) {
        persistent_[id] = std::make_unique<Block>(buf.bytes, guard);
        table_[id] = persistent_[id]->data();
        if (node.op == OpKind::kConstant) {
          const std::vector<float>& v = node.GetFloats("value");
          for (int64_t i = 0; i < NumElements(node.type.dims); ++i) {
            if (node.type.dtype == DType::kF32) {
              static_cast<float*>(table_[id])[i] = v[i];
            } else {
              static_cast<int32_t*>(table_[id])[i] = static_cast<int32_t>(v[i]);
            }
          }
        }
      } else if (buf.kind == MemoryPlan::Kind::kArena) {
        table_[id] = static_cast<char*>(arena_->data()) + buf.offset;
      }
    }
    for (NodeId id : plan_.schedule) {
      const MemoryPlan::Buffer& buf = plan_.buffers[id];
      if (buf.kind == MemoryPlan::Kind::kAlias) {
        table_[id] = static_cast<char*>(table_[buf.alias_of]) + buf.alias_offset;
      }
    }
    for (size_t s = 0; s < scratch.size(); ++s) {
      scratch_.push_back(std::make_unique<Block>(scratch[s] * 4, guard));
      table_[n + s] = scratch_.back()->data();
    }
  }

  Graph graph_;
  MemoryPlan plan_;
  ThreadPool pool_;
  std::unique_ptr<codegen::JitCompiler> compiler_;  // Owns the compiled code.
  std::vector<Kernel> kernels_;
  std::vector<void*> table_;
  std::vector<std::unique_ptr<Block>> persistent_;
  std::vector<std::unique_ptr<Block>> scratch_;
  std::unique_ptr<Block> arena_;
  JitInfo info_;
  NodeId fault_node_ = -1;  // JitOptions::inject_fault, and the index of its node's last kernel.
  int fault_after_ = -1;
};

}  // namespace

absl::StatusOr<std::unique_ptr<JitExecutable>> CreateJit(Graph graph, const JitOptions& options) {
  KILN_RETURN_IF_ERROR(Verify(graph));
  if (options.optimize) {
    KILN_ASSIGN_OR_RETURN(graph, OptimizeGraph(std::move(graph)));
  }
  KILN_ASSIGN_OR_RETURN(MemoryPlan plan, PlanMemory(graph));
  auto jit = std::make_unique<Jit>(std::move(graph), std::move(plan), options.threads);
  KILN_RETURN_IF_ERROR(jit->Compile(options));
  return jit;
}

}  // namespace kiln
