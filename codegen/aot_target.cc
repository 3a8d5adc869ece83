#include "codegen/aot_target.h"

#include <cstdlib>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "codegen/jit_compiler.h"
#include "ir/status.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetOptions.h"

namespace kiln::codegen {

absl::StatusOr<AotTarget> MakeAotTarget(const std::string& cpu_name) {
  InitializeLlvm();
  auto host = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!host) return ToStatus(host.takeError(), "detecting the host CPU");
  const std::string triple = host->getTargetTriple().str();
  std::string error;
  const llvm::Target* target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target) return absl::InternalError(absl::StrCat("no LLVM target for ", triple, ": ", error));
  AotTarget t;
  t.cpu = host->getCPU();
  t.features = host->getFeatures().getString();
  if (!cpu_name.empty() && cpu_name != "native" && cpu_name != "host") {
    std::unique_ptr<llvm::MCSubtargetInfo> sti(target->createMCSubtargetInfo(triple, "", ""));
    if (!sti || !sti->isCPUStringValid(cpu_name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown target CPU '", cpu_name, "' for ", triple,
                       " (LLVM names such as x86-64-v3, skylake-avx512, znver4, or native)"));
    }
    t.cpu = cpu_name;
    t.features.clear();  // The CPU's own features.
  }
  t.tm.reset(target->createTargetMachine(triple, t.cpu, t.features, llvm::TargetOptions(),
                                         llvm::Reloc::PIC_, llvm::CodeModel::Small,
                                         llvm::CodeGenOptLevel::Aggressive));
  if (!t.tm) return absl::InternalError(absl::StrCat("cannot create a target machine for ", t.cpu));
  t.lanes = t.tm->getMCSubtargetInfo()->checkFeatures("+avx512f") ? 16 : 8;
  return t;
}

absl::StatusOr<std::string> OptimizeAndEmitObject(llvm::Module& module, llvm::TargetMachine& tm) {
  module.setDataLayout(tm.createDataLayout());
  module.setTargetTriple(tm.getTargetTriple().str());
  module.setPICLevel(llvm::PICLevel::BigPIC);
  KILN_RETURN_IF_ERROR(OptimizeModule(module, tm));
  if (const char* path = std::getenv("KILN_DUMP_IR")) {  // Debugging aid, as in the JIT.
    std::error_code ec;
    llvm::raw_fd_ostream f(path, ec);
    if (!ec) module.print(f, nullptr);
  }
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager pm;
  if (tm.addPassesToEmitFile(pm, os, nullptr, llvm::CodeGenFileType::ObjectFile)) {
    return absl::InternalError("LLVM cannot emit an object file for this target");
  }
  pm.run(module);
  return std::string(buffer.begin(), buffer.end());
}

}  // namespace kiln::codegen
