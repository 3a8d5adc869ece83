// What LLVM knows about the host CPU: the target the JIT will compile for.
#ifndef KILN_CODEGEN_HOST_TARGET_H_
#define KILN_CODEGEN_HOST_TARGET_H_

#include <string>

namespace kiln::codegen {

struct HostTarget {
  std::string triple;
  std::string cpu;
  bool avx512f = false;
  std::string llvm_version;
};

// Queries LLVM's host detection (no compilation).
HostTarget DetectHostTarget();

}  // namespace kiln::codegen

#endif  // KILN_CODEGEN_HOST_TARGET_H_
