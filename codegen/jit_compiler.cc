#include "codegen/jit_compiler.h"

#include <cstdlib>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Analysis/TargetLibraryInfo.h"
#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/ExecutionEngine/Orc/ThreadSafeModule.h"
#include "llvm/IR/Verifier.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/TargetParser/Host.h"

namespace kiln::codegen {

absl::Status ToStatus(llvm::Error error, const std::string& context) {
  if (!error) return absl::OkStatus();
  std::string message = llvm::toString(std::move(error));
  return absl::InternalError(absl::StrCat(context, ": ", message));
}

namespace {

template <typename T>
absl::StatusOr<T> Take(llvm::Expected<T> expected, const std::string& context) {
  if (!expected) return ToStatus(expected.takeError(), context);
  return std::move(*expected);
}

}  // namespace

void InitializeLlvm() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

absl::Status OptimizeModule(llvm::Module& module, llvm::TargetMachine& tm) {
  std::string problems;
  llvm::raw_string_ostream problems_stream(problems);
  if (llvm::verifyModule(module, &problems_stream)) {
    return absl::InternalError(absl::StrCat("generated LLVM IR is invalid: ", problems));
  }
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb(&tm);
  const llvm::Triple& triple = tm.getTargetTriple();
  llvm::TargetLibraryInfoImpl tlii(triple);
  tlii.addVectorizableFunctionsFromVecLib(llvm::TargetLibraryInfoImpl::LIBMVEC_X86, triple);
  fam.registerPass([&] { return llvm::TargetLibraryAnalysis(tlii); });
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
  mpm.run(module, mam);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<JitCompiler>> JitCompiler::Create(int threads) {
  InitializeLlvm();
  std::unique_ptr<JitCompiler> c(new JitCompiler());
  auto jtmb_or = Take(llvm::orc::JITTargetMachineBuilder::detectHost(), "detecting the host CPU");
  if (!jtmb_or.ok()) return jtmb_or.status();
  llvm::orc::JITTargetMachineBuilder jtmb = std::move(*jtmb_or);
  jtmb.setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  llvm::StringMap<bool> host = llvm::sys::getHostCPUFeatures();
  // KILN_TARGET_CPU compiles for another CPU the host can run (x86-64-v3 for AVX2 with 16
  // vector registers, say), with that CPU's own features and vector width.
  const char* target_cpu = std::getenv("KILN_TARGET_CPU");
  if (target_cpu != nullptr && *target_cpu != '\0' && std::string(target_cpu) != "native") {
    std::string error;
    const std::string triple = jtmb.getTargetTriple().str();
    const llvm::Target* target = llvm::TargetRegistry::lookupTarget(triple, error);
    std::unique_ptr<llvm::MCSubtargetInfo> sti(
        target ? target->createMCSubtargetInfo(triple, target_cpu, "") : nullptr);
    if (!sti || !sti->isCPUStringValid(target_cpu)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "KILN_TARGET_CPU: unknown CPU '", target_cpu, "' (LLVM names such as x86-64-v3)"));
    }
    for (const char* feature : {"avx512f", "avx2", "fma", "avx"}) {
      if (sti->checkFeatures(absl::StrCat("+", feature)) && !host.lookup(feature)) {
        return absl::InvalidArgumentError(absl::StrCat("KILN_TARGET_CPU: '", target_cpu,
                                                       "' needs ", feature, ", which this CPU lacks"));
      }
    }
    jtmb.setCPU(target_cpu);
    jtmb.getFeatures() = llvm::SubtargetFeatures();
    c->vector_lanes_ = sti->checkFeatures("+avx512f") ? 16 : 8;
  } else {
    c->vector_lanes_ = host.lookup("avx512f") ? 16 : 8;
  }
  c->cpu_ = jtmb.getCPU();
  c->features_ = jtmb.getFeatures().getString();
  c->jtmb_ = std::make_unique<llvm::orc::JITTargetMachineBuilder>(jtmb);
  auto jit = Take(llvm::orc::LLJITBuilder()
                      .setJITTargetMachineBuilder(std::move(jtmb))
                      .setNumCompileThreads(threads > 1 ? threads : 0)
                      .create(),
                  "creating the LLJIT");
  if (!jit.ok()) return jit.status();
  c->jit_ = std::move(*jit);
  const char prefix = c->jit_->getDataLayout().getGlobalPrefix();
  // libm for scalar calls; libmvec for the vectorized exp LLVM emits (see TOOLCHAIN.md).
  auto process = Take(llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(prefix),
                      "opening the process's symbols");
  if (!process.ok()) return process.status();
  c->jit_->getMainJITDylib().addGenerator(std::move(*process));
  for (const char* lib : {"libmvec.so.1", "libm.so.6"}) {
    auto gen = llvm::orc::DynamicLibrarySearchGenerator::Load(lib, prefix);
    if (gen) {
      c->jit_->getMainJITDylib().addGenerator(std::move(*gen));
    } else {
      llvm::consumeError(gen.takeError());  // Optional: scalar calls still resolve.
    }
  }
  return c;
}

absl::Status JitCompiler::Optimize(llvm::Module& module) {
  module.setDataLayout(jit_->getDataLayout());
  module.setTargetTriple(jit_->getTargetTriple().str());
  // A target machine per module: optimization runs on several threads at once.
  auto tm = Take(jtmb_->createTargetMachine(), "creating the target machine");
  if (!tm.ok()) return tm.status();
  return OptimizeModule(module, **tm);
}

absl::StatusOr<std::vector<void*>> JitCompiler::Compile(std::vector<Unit> units,
                                                        const std::vector<std::string>& symbols,
                                                        std::string* dump_ir) {
  std::vector<absl::Status> results(units.size());
  {
    std::vector<std::thread> workers;
    for (size_t i = 1; i < units.size(); ++i) {
      workers.emplace_back([&, i] { results[i] = Optimize(*units[i].module); });
    }
    if (!units.empty()) results[0] = Optimize(*units[0].module);
    for (std::thread& t : workers) t.join();
  }
  for (const absl::Status& s : results) {
    if (!s.ok()) return s;
  }
  for (Unit& unit : units) {
    if (dump_ir) {
      llvm::raw_string_ostream os(*dump_ir);
      unit.module->print(os, nullptr);
    }
    if (auto s = ToStatus(jit_->addIRModule(llvm::orc::ThreadSafeModule(std::move(unit.module),
                                                                        std::move(unit.context))),
                          "adding a module to the JIT");
        !s.ok()) {
      return s;
    }
  }
  // One lookup of every symbol: the modules are compiled to machine code concurrently.
  llvm::orc::SymbolLookupSet lookup;
  std::vector<llvm::orc::SymbolStringPtr> mangled;
  for (const std::string& name : symbols) {
    mangled.push_back(jit_->mangleAndIntern(name));
    lookup.add(mangled.back());
  }
  auto found =
      Take(jit_->getExecutionSession().lookup(
               llvm::orc::makeJITDylibSearchOrder(&jit_->getMainJITDylib()), std::move(lookup)),
           "compiling the kernels");
  if (!found.ok()) return found.status();
  std::vector<void*> addresses;
  for (const auto& name : mangled) addresses.push_back(found->at(name).getAddress().toPtr<void*>());
  return addresses;
}

}  // namespace kiln::codegen
