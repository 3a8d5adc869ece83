// CompileAot: the JIT's kernels plus, per entry point, a driver that binds static buffers and
// runs every kernel in order, all in one LLVM module emitted as an object file.
#include "codegen/aot.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "absl/strings/str_cat.h"
#include "codegen/aot_header.h"
#include "codegen/aot_target.h"
#include "codegen/lowering.h"
#include "ir/passes/memory_plan.h"
#include "ir/passes/passes.h"
#include "ir/status.h"

namespace kiln {
namespace {

using codegen::AotArgInfo;
using codegen::AotEntryInfo;
using codegen::AotTarget;

class ObjectBuilder {
 public:
  ObjectBuilder(const AotSpec& spec, AotTarget& target)
      : spec_(spec),
        target_(target),
        module_(spec.prefix, ctx_),
        kb_(module_, target.cpu, target.features, target.lanes),
        b_(kb_.b()) {}

  // Globals for the exposed parameters, initialized from spec.state.
  absl::Status AddState() {
    for (const auto& [name, value] : spec_.state) {
      if (value.dtype() != DType::kF32) {
        return absl::InvalidArgumentError(absl::StrCat("parameter '", name, "' is not f32"));
      }
      state_[name] = {Data("param." + name, value), value.type()};
    }
    return absl::OkStatus();
  }

  absl::StatusOr<AotEntryInfo> AddEntry(const AotEntry& entry) {
    const std::string fn_name = absl::StrCat(spec_.prefix, "_", entry.name);
    KILN_RETURN_IF_ERROR(Verify(entry.graph));
    AotEntryInfo info;
    info.entry = &entry;
    for (const AotArg& arg : entry.inputs) {
      const NodeId id = entry.graph.Find(arg.node);
      if (id < 0 || entry.graph.node(id).op != OpKind::kInput) {
        return absl::InvalidArgumentError(
            absl::StrCat(fn_name, ": argument '", arg.c_name, "' names no Input '", arg.node, "'"));
      }
      info.args.push_back({&arg, entry.graph.node(id).type, /*input=*/true});
    }
    KILN_ASSIGN_OR_RETURN(Graph graph, OptimizeGraph(entry.graph));
    KILN_ASSIGN_OR_RETURN(MemoryPlan plan, PlanMemory(graph));
    codegen::Lowering lowering({&kb_}, graph);
    for (NodeId id : plan.schedule) KILN_RETURN_IF_ERROR(EmitNode(lowering, graph.node(id)));
    // Kernel symbols restart at k0 for every graph: prefix them with the entry point's name.
    std::vector<llvm::Function*> kernels;
    for (const codegen::Launch& launch : lowering.launches()) {
      llvm::Function* f = module_.getFunction(launch.symbol);
      KILN_CHECK(f != nullptr);
      f->setName(absl::StrCat(fn_name, ".", launch.symbol));
      // Hidden but not internal: LLVM then neither inlines the kernel nor propagates the
      // driver's constant table and task range into it, so it compiles as in the JIT.
      f->setVisibility(llvm::GlobalValue::HiddenVisibility);
      kernels.push_back(f);
    }
    KILN_ASSIGN_OR_RETURN(std::vector<llvm::Constant*> slots,
                          BufferTable(fn_name, graph, plan, lowering.scratch_floats()));
    auto* table_type = llvm::ArrayType::get(b_.getPtrTy(), slots.size());
    llvm::GlobalVariable* table =
        NewGlobal(fn_name + ".buffers", llvm::ConstantArray::get(table_type, slots), true);
    for (const AotArg& arg : entry.outputs) {
      const NodeId id = graph.Find(arg.node);
      const auto& outs = graph.outputs();
      if (id < 0 || std::find(outs.begin(), outs.end(), id) == outs.end()) {
        return absl::InvalidArgumentError(absl::StrCat(fn_name, ": argument '", arg.c_name,
                                                       "' names no graph output '", arg.node, "'"));
      }
      info.args.push_back({&arg, graph.node(id).type, /*input=*/false});
    }
    EmitDriver(fn_name, info, entry.inputs.size(), graph, slots, table, kernels,
               lowering.launches());
    info.kernels = static_cast<int64_t>(kernels.size());
    info.arena_bytes = plan.arena_bytes;
    return info;
  }

  // int <prefix>_<entry>(inputs..., outputs...): -1 when an input is NULL, else 0. Copies the
  // inputs in, runs the kernels, copies the outputs out.
  void EmitDriver(const std::string& fn_name, const AotEntryInfo& info, size_t num_inputs,
                  const Graph& graph, const std::vector<llvm::Constant*>& slots,
                  llvm::GlobalVariable* table, const std::vector<llvm::Function*>& kernels,
                  const std::vector<codegen::Launch>& launches) {
    llvm::Function* fn =
        Define(fn_name, b_.getInt32Ty(), std::vector<llvm::Type*>(info.args.size(), b_.getPtrTy()));
    llvm::Value* bad = b_.getFalse();
    for (size_t a = 0; a < num_inputs; ++a) {
      bad = b_.CreateOr(bad, b_.CreateIsNull(fn->getArg(a)));
    }
    ReturnIf(bad, b_.getInt32(-1));
    for (size_t a = 0; a < info.args.size(); ++a) {
      fn->getArg(a)->setName(info.args[a].arg->c_name);
      if (!info.args[a].input) continue;
      // An input the optimized graph no longer reads has no buffer: nothing to copy.
      const NodeId id = graph.Find(info.args[a].arg->node);
      if (id < 0) continue;
      b_.CreateMemCpy(slots[id], llvm::Align(4), fn->getArg(a), llvm::Align(1),
                      Bytes(info.args[a].type));
    }
    // Every kernel in order over all of its tasks, in the chunks the JIT's thread pool hands
    // out (runtime/thread_pool.cc), so results are bitwise the JIT's.
    for (size_t k = 0; k < kernels.size(); ++k) {
      const int64_t tasks = launches[k].tasks;
      const int64_t grain = std::max<int64_t>(launches[k].grain, 1);
      if (tasks <= grain) {
        b_.CreateCall(kernels[k], {table, kb_.I(0), kb_.I(tasks)});
        continue;
      }
      kb_.For(
          0, tasks, grain,
          [&](llvm::Value* begin) {
            llvm::Value* end = b_.CreateAdd(begin, kb_.I(grain));
            end = b_.CreateSelect(b_.CreateICmpSLT(end, kb_.I(tasks)), end, kb_.I(tasks));
            b_.CreateCall(kernels[k], {table, begin, end});
          },
          "chunk");
    }
    for (size_t a = num_inputs; a < info.args.size(); ++a) {
      llvm::Value* out = fn->getArg(a);
      llvm::Constant* buffer = slots[graph.Find(info.args[a].arg->node)];
      kb_.If(b_.CreateIsNotNull(out), [&] {
        b_.CreateMemCpy(out, llvm::Align(1), buffer, llvm::Align(4), Bytes(info.args[a].type));
      });
    }
    b_.CreateRet(b_.getInt32(0));
  }

  // The parameter accessors over the exposed state (spec.state), in its order.
  void AddAccessors() {
    const std::string& p = spec_.prefix;
    const int64_t n = static_cast<int64_t>(spec_.state.size());
    std::vector<llvm::Constant*> names, data, sizes;
    for (const auto& [name, value] : spec_.state) {
      names.push_back(b_.CreateGlobalString(name, p + ".name." + name, 0, &module_));
      data.push_back(state_[name].global);
      sizes.push_back(b_.getInt64(value.size()));
    }
    auto* ptrs = llvm::ArrayType::get(b_.getPtrTy(), n);
    auto* i64s = llvm::ArrayType::get(b_.getInt64Ty(), n);
    llvm::GlobalVariable* name_table =
        NewGlobal(p + ".param_names", llvm::ConstantArray::get(ptrs, names), true);
    llvm::GlobalVariable* data_table =
        NewGlobal(p + ".param_data", llvm::ConstantArray::get(ptrs, data), true);
    llvm::GlobalVariable* size_table =
        NewGlobal(p + ".param_sizes", llvm::ConstantArray::get(i64s, sizes), true);
    auto* i32 = b_.getInt32Ty();
    auto* i64 = b_.getInt64Ty();
    auto* ptr = b_.getPtrTy();
    // Loads entry `index` of `table` (of `type` elements), after `index` was range-checked.
    auto at = [&](llvm::GlobalVariable* table, llvm::Type* type, llvm::Value* index) {
      llvm::Value* i = b_.CreateZExt(index, i64);
      return b_.CreateLoad(type, b_.CreateInBoundsGEP(type, table, i));
    };
    // Returns `fail` from the current function unless 0 <= index < n.
    auto check = [&](llvm::Value* index, llvm::Value* fail) {
      ReturnIf(b_.CreateICmpUGE(index, b_.getInt32(n)), fail);
    };

    Define(p + "_num_params", i32, {});
    b_.CreateRet(b_.getInt32(n));

    llvm::Function* f = Define(p + "_param_name", ptr, {i32});
    check(f->getArg(0), llvm::ConstantPointerNull::get(b_.getPtrTy()));
    b_.CreateRet(at(name_table, ptr, f->getArg(0)));

    f = Define(p + "_param_size", i64, {i32});
    check(f->getArg(0), b_.getInt64(-1));
    b_.CreateRet(at(size_table, i64, f->getArg(0)));

    // Compares `name` with every parameter name in turn (strcmp from libc).
    f = Define(p + "_param_index", i32, {ptr});
    llvm::FunctionCallee strcmp =
        module_.getOrInsertFunction("strcmp", llvm::FunctionType::get(i32, {ptr, ptr}, false));
    ReturnIf(b_.CreateIsNull(f->getArg(0)), b_.getInt32(-1));
    for (int64_t i = 0; i < n; ++i) {
      llvm::Value* diff = b_.CreateCall(strcmp, {f->getArg(0), names[i]});
      ReturnIf(b_.CreateICmpEQ(diff, b_.getInt32(0)), b_.getInt32(i));
    }
    b_.CreateRet(b_.getInt32(-1));

    // get_param copies out of the parameter, set_param into it.
    for (const bool get : {true, false}) {
      f = Define(p + (get ? "_get_param" : "_set_param"), i32, {i32, ptr});
      check(f->getArg(0), b_.getInt32(-1));
      ReturnIf(b_.CreateIsNull(f->getArg(1)), b_.getInt32(-1));
      llvm::Value* param = at(data_table, ptr, f->getArg(0));
      llvm::Value* bytes = b_.CreateMul(at(size_table, i64, f->getArg(0)), b_.getInt64(4));
      if (get) {
        b_.CreateMemCpy(f->getArg(1), llvm::Align(1), param, llvm::Align(4), bytes);
      } else {
        b_.CreateMemCpy(param, llvm::Align(4), f->getArg(1), llvm::Align(1), bytes);
      }
      b_.CreateRet(b_.getInt32(0));
    }
  }

  absl::StatusOr<std::string> EmitObject() {
    return codegen::OptimizeAndEmitObject(module_, *target_.tm);
  }

  int64_t data_bytes() const { return data_bytes_; }
  int64_t bss_bytes() const { return bss_bytes_; }

 private:
  struct State {
    llvm::GlobalVariable* global = nullptr;
    TensorType type;
  };

  static int64_t Bytes(const TensorType& type) { return NumElements(type.dims) * 4; }

  // An internal, 64-byte-aligned global.
  llvm::GlobalVariable* NewGlobal(const std::string& name, llvm::Constant* init, bool constant) {
    auto* g = new llvm::GlobalVariable(module_, init->getType(), constant,
                                       llvm::GlobalValue::InternalLinkage, init, name);
    g->setAlignment(llvm::Align(64));
    return g;
  }
  // A writable global initialized with `value`'s bytes (.data).
  llvm::GlobalVariable* Data(const std::string& name, const Tensor& value) {
    data_bytes_ += value.bytes();
    llvm::StringRef bytes(static_cast<const char*>(value.raw()), value.bytes());
    llvm::Type* element = value.dtype() == DType::kF32 ? b_.getFloatTy() : b_.getInt32Ty();
    return NewGlobal(name, llvm::ConstantDataArray::getRaw(bytes, value.size(), element),
                     /*constant=*/false);
  }
  // A zero-initialized global of `bytes` bytes (.bss).
  llvm::GlobalVariable* Zeros(const std::string& name, int64_t bytes) {
    bss_bytes_ += bytes;
    auto* type = llvm::ArrayType::get(b_.getInt8Ty(), std::max<int64_t>(bytes, 1));
    return NewGlobal(name, llvm::ConstantAggregateZero::get(type), /*constant=*/false);
  }

  // An exported function of the C API; the builder is left in its entry block.
  llvm::Function* Define(const std::string& name, llvm::Type* ret,
                         const std::vector<llvm::Type*>& params) {
    auto* type = llvm::FunctionType::get(ret, params, false);
    auto* f = llvm::Function::Create(type, llvm::Function::ExternalLinkage, name, module_);
    f->addFnAttr("target-cpu", target_.cpu);
    f->addFnAttr("target-features", target_.features);
    f->addFnAttr(llvm::Attribute::NoUnwind);
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", f));
    return f;
  }

  // if (cond) return value; continues in a fresh block.
  void ReturnIf(llvm::Value* cond, llvm::Value* value) {
    llvm::Function* f = b_.GetInsertBlock()->getParent();
    auto* ret = llvm::BasicBlock::Create(ctx_, "return", f);
    auto* next = llvm::BasicBlock::Create(ctx_, "next", f);
    b_.CreateCondBr(cond, ret, next);
    b_.SetInsertPoint(ret);
    b_.CreateRet(value);
    b_.SetInsertPoint(next);
  }

  // The global holding Parameter `node`, shared by name across entry points.
  absl::StatusOr<llvm::Constant*> Parameter(const std::string& fn_name, const Node& node) {
    auto it = state_.find(node.name);
    if (it == state_.end()) {  // Optimizer slots: saved values, else zero.
      auto slot = spec_.slots.find(node.name);
      llvm::GlobalVariable* global = slot != spec_.slots.end() && slot->second.type() == node.type
                                         ? Data("state." + node.name, slot->second)
                                         : Zeros("state." + node.name, Bytes(node.type));
      it = state_.emplace(node.name, State{global, node.type}).first;
    }
    if (it->second.type != node.type) {
      return absl::InvalidArgumentError(absl::StrCat(fn_name, ": parameter '", node.name, "' is ",
                                                     TypeToString(node.type), " but was ",
                                                     TypeToString(it->second.type), " before"));
    }
    return it->second.global;
  }

  // Slot i of the buffer table, as the JIT binds it (codegen/jit_executable.cc): node outputs
  // in the arena, persistent sources, aliases into their source, then scratch buffers.
  absl::StatusOr<std::vector<llvm::Constant*>> BufferTable(const std::string& fn_name,
                                                           const Graph& graph,
                                                           const MemoryPlan& plan,
                                                           const std::vector<int64_t>& scratch) {
    const int n = graph.num_nodes();
    std::vector<llvm::Constant*> slots(n + scratch.size(),
                                       llvm::ConstantPointerNull::get(b_.getPtrTy()));
    llvm::GlobalVariable* arena = Zeros(fn_name + ".arena", plan.arena_bytes);
    auto offset = [&](llvm::Constant* base, int64_t bytes) {
      return llvm::ConstantExpr::getInBoundsGetElementPtr(b_.getInt8Ty(), base, b_.getInt64(bytes));
    };
    for (NodeId id : plan.schedule) {
      const Node& node = graph.node(id);
      const MemoryPlan::Buffer& buf = plan.buffers[id];
      if (buf.kind == MemoryPlan::Kind::kArena) {
        slots[id] = offset(arena, buf.offset);
      } else if (buf.kind == MemoryPlan::Kind::kPersistent && node.op == OpKind::kParameter) {
        KILN_ASSIGN_OR_RETURN(slots[id], Parameter(fn_name, node));
      } else if (buf.kind == MemoryPlan::Kind::kPersistent && node.op == OpKind::kConstant) {
        const std::vector<float>& v = node.GetFloats("value");
        const int64_t size = NumElements(node.type.dims);
        KILN_CHECK(static_cast<int64_t>(v.size()) >= size);
        std::vector<llvm::Constant*> values;
        for (int64_t i = 0; i < size; ++i) {
          values.push_back(node.type.dtype == DType::kF32
                               ? llvm::ConstantFP::get(b_.getFloatTy(), v[i])
                               : b_.getInt32(static_cast<int32_t>(v[i])));
        }
        auto* type = llvm::ArrayType::get(values[0]->getType(), size);
        slots[id] = NewGlobal(absl::StrCat(fn_name, ".const.", node.name),
                              llvm::ConstantArray::get(type, values), /*constant=*/true);
      } else if (buf.kind == MemoryPlan::Kind::kPersistent) {  // An Input.
        slots[id] = Zeros(absl::StrCat(fn_name, ".input.", node.name), Bytes(node.type));
      }
    }
    for (NodeId id : plan.schedule) {
      const MemoryPlan::Buffer& buf = plan.buffers[id];
      if (buf.kind == MemoryPlan::Kind::kAlias) {
        slots[id] = offset(slots[buf.alias_of], buf.alias_offset);
      }
    }
    for (size_t s = 0; s < scratch.size(); ++s) {
      slots[n + s] = Zeros(absl::StrCat(fn_name, ".scratch", s), scratch[s] * 4);
    }
    return slots;
  }

  const AotSpec& spec_;
  AotTarget& target_;
  llvm::LLVMContext ctx_;
  llvm::Module module_;
  codegen::KernelBuilder kb_;
  llvm::IRBuilder<>& b_;
  std::map<std::string, State> state_;
  int64_t data_bytes_ = 0;
  int64_t bss_bytes_ = 0;
};

}  // namespace

std::string SanitizeCIdentifier(const std::string& text) {
  std::string out;
  for (char c : text) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0]))) out = "_" + out;
  return out;
}

absl::StatusOr<AotResult> CompileAot(const AotSpec& spec) {
  if (spec.prefix.empty() || SanitizeCIdentifier(spec.prefix) != spec.prefix) {
    return absl::InvalidArgumentError(
        absl::StrCat("symbol prefix '", spec.prefix, "' is not a C identifier"));
  }
  for (size_t i = 0; i < spec.entries.size(); ++i) {
    const std::string& name = spec.entries[i].name;
    if (name.empty() || SanitizeCIdentifier(name) != name) {
      return absl::InvalidArgumentError(
          absl::StrCat("entry name '", name, "' is not a C identifier"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (spec.entries[j].name == name) {
        return absl::InvalidArgumentError(absl::StrCat("two entry points named '", name, "'"));
      }
    }
  }
  KILN_ASSIGN_OR_RETURN(AotTarget target, codegen::MakeAotTarget(spec.target_cpu));
  ObjectBuilder builder(spec, target);
  KILN_RETURN_IF_ERROR(builder.AddState());
  std::vector<AotEntryInfo> entries;
  AotResult result;
  for (const AotEntry& entry : spec.entries) {
    KILN_ASSIGN_OR_RETURN(AotEntryInfo info, builder.AddEntry(entry));
    result.kernels += info.kernels;
    entries.push_back(std::move(info));
  }
  builder.AddAccessors();
  KILN_ASSIGN_OR_RETURN(result.object, builder.EmitObject());
  result.cpu = target.cpu;
  result.vector_lanes = target.lanes;
  result.data_bytes = builder.data_bytes();
  result.workspace_bytes = builder.bss_bytes();
  result.header = codegen::AotHeader(spec, entries, result);
  return result;
}

}  // namespace kiln
