// The interface every backend implements: bind inputs, run, read outputs.
#ifndef KILN_RUNTIME_EXECUTABLE_H_
#define KILN_RUNTIME_EXECUTABLE_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ir/graph.h"
#include "ir/tensor.h"

namespace kiln {

// A graph prepared for repeated execution. Inputs and parameters are addressed by node name;
// parameters keep their values across runs (and are updated in place by optimizer ops).
class Executable {
 public:
  virtual ~Executable() = default;

  // The verified graph this executable runs.
  virtual const Graph& graph() const = 0;
  // Copies `value` into the Input or Parameter node `name`; its type must match the node's.
  virtual absl::Status SetTensor(absl::string_view name, const Tensor& value) = 0;
  // Runs the whole graph once.
  virtual absl::Status Run() = 0;
  // Copies out the value of node `name` as of the last run (graph outputs and parameters always;
  // other nodes where the backend kept them).
  virtual absl::StatusOr<Tensor> GetTensor(absl::string_view name) const = 0;
};

// The Input or Parameter node of `graph` named `name` that `value` may be bound to (same type),
// or an error naming the node and the mismatch. Shared by every backend's SetTensor.
absl::StatusOr<NodeId> FindBindable(const Graph& graph, absl::string_view name,
                                    const Tensor& value);

}  // namespace kiln

#endif  // KILN_RUNTIME_EXECUTABLE_H_
