// The reference backend: runs a verified graph op by op with the kernels in kernels.h.
#ifndef KILN_RUNTIME_INTERPRETER_H_
#define KILN_RUNTIME_INTERPRETER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "runtime/executable.h"

namespace kiln {

// Verifies `graph` and prepares it for execution. Parameters start at zero and Constants at
// their values; Inputs must be set before Run.
absl::StatusOr<std::unique_ptr<Executable>> CreateInterpreter(Graph graph);

}  // namespace kiln

#endif  // KILN_RUNTIME_INTERPRETER_H_
