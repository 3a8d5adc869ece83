#include "codegen/jit_compiler.h"

#include <mutex>

#include "absl/strings/str_cat.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Analysis/TargetLibraryInfo.h"
#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/ExecutionEngine/Orc/ThreadSafeModule.h"
#include "llvm/IR/Verifier.h"
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

void InitializeLlvmOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

}  // namespace

absl::StatusOr<std::unique_ptr<JitCompiler>> JitCompiler::Create() {
  InitializeLlvmOnce();
  std::unique_ptr<JitCompiler> c(new JitCompiler());
  auto jtmb_or = Take(llvm::orc::JITTargetMachineBuilder::detectHost(), "detecting the host CPU");
  if (!jtmb_or.ok()) return jtmb_or.status();
  llvm::orc::JITTargetMachineBuilder jtmb = std::move(*jtmb_or);
  jtmb.setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  c->cpu_ = jtmb.getCPU();
  c->features_ = jtmb.getFeatures().getString();
  llvm::StringMap<bool> host = llvm::sys::getHostCPUFeatures();
  c->vector_lanes_ = host.lookup("avx512f") ? 16 : 8;
  auto tm = Take(jtmb.createTargetMachine(), "creating the target machine");
  if (!tm.ok()) return tm.status();
  c->tm_ = std::move(*tm);
  auto jit = Take(llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(jtmb)).create(),
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

absl::StatusOr<std::vector<void*>> JitCompiler::Compile(
    std::unique_ptr<llvm::Module> module, std::unique_ptr<llvm::LLVMContext> context,
    const std::vector<std::string>& symbols, std::string* dump_ir) {
  module->setDataLayout(jit_->getDataLayout());
  module->setTargetTriple(jit_->getTargetTriple().str());
  std::string problems;
  llvm::raw_string_ostream problems_stream(problems);
  if (llvm::verifyModule(*module, &problems_stream)) {
    return absl::InternalError(absl::StrCat("generated LLVM IR is invalid: ", problems));
  }
  {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PassBuilder pb(tm_.get());
    llvm::TargetLibraryInfoImpl tlii(jit_->getTargetTriple());
    tlii.addVectorizableFunctionsFromVecLib(llvm::TargetLibraryInfoImpl::LIBMVEC_X86,
                                            jit_->getTargetTriple());
    fam.registerPass([&] { return llvm::TargetLibraryAnalysis(tlii); });
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
    mpm.run(*module, mam);
  }
  if (dump_ir) {
    llvm::raw_string_ostream os(*dump_ir);
    module->print(os, nullptr);
  }
  if (auto s = ToStatus(jit_->addIRModule(llvm::orc::ThreadSafeModule(std::move(module),
                                                                      std::move(context))),
                        "adding the module to the JIT");
      !s.ok()) {
    return s;
  }
  std::vector<void*> addresses;
  for (const std::string& name : symbols) {
    auto addr = Take(jit_->lookup(name), absl::StrCat("compiling '", name, "'"));
    if (!addr.ok()) return addr.status();
    addresses.push_back(addr->toPtr<void*>());
  }
  return addresses;
}

}  // namespace kiln::codegen
