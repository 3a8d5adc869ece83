#include "codegen/host_target.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/TargetParser/Host.h"

namespace kiln::codegen {

HostTarget DetectHostTarget() {
  HostTarget target;
  target.triple = llvm::sys::getProcessTriple();
  target.cpu = llvm::sys::getHostCPUName().str();
  llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
  auto it = features.find("avx512f");
  target.avx512f = it != features.end() && it->second;
  target.llvm_version = LLVM_VERSION_STRING;
  return target;
}

}  // namespace kiln::codegen
