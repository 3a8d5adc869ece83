// The C header of an ahead-of-time export (codegen/aot.cc). Internal to codegen/; no LLVM here.
#ifndef KILN_CODEGEN_AOT_HEADER_H_
#define KILN_CODEGEN_AOT_HEADER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "codegen/aot.h"
#include "ir/types.h"

namespace kiln::codegen {

// An entry point as compiled: its arguments' types, in C argument order (inputs first).
struct AotArgInfo {
  const AotArg* arg = nullptr;
  TensorType type;
  bool input = true;
};
struct AotEntryInfo {
  const AotEntry* entry = nullptr;
  std::vector<AotArgInfo> args;
  int64_t kernels = 0;
  int64_t arena_bytes = 0;
};

// The C signature of an entry point: "int kiln_m_infer(const float* images, float* out)".
std::string AotSignature(const std::string& prefix, const AotEntryInfo& entry);

// The whole header: include guard, size macros, entry points, parameter accessors.
std::string AotHeader(const AotSpec& spec, const std::vector<AotEntryInfo>& entries,
                      const AotResult& result);

}  // namespace kiln::codegen

#endif  // KILN_CODEGEN_AOT_HEADER_H_
