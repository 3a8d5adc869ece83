// Memory planning: one arena for every intermediate value, offsets assigned by liveness.
#ifndef KILN_IR_PASSES_MEMORY_PLAN_H_
#define KILN_IR_PASSES_MEMORY_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/graph.h"

namespace kiln {

struct MemoryPlan {
  enum class Kind { kPersistent, kArena, kAlias };
  struct Buffer {
    Kind kind = Kind::kArena;
    int64_t offset = 0;  // Bytes into the arena (kArena).
    int64_t bytes = 0;
    NodeId alias_of = -1;  // kAlias: shares this node's storage (Reshape, View)...
    int64_t alias_offset = 0;  // ...starting this many bytes in (View).
  };
  std::vector<Buffer> buffers;   // One per node.
  std::vector<NodeId> schedule;  // Execution order: topological, update ops last.
  int64_t arena_bytes = 0;
  int64_t naive_bytes = 0;  // What one buffer per value would need.

  std::string ToString(const Graph& graph) const;
};

// Plans `graph` (verified). Inputs, Parameters and Constants are persistent; graph outputs stay
// live to the end of the step; Reshape aliases its input; every other value gets an arena range
// that no value live at the same time overlaps (64-byte aligned, first fit). Reshape and View
// alias their input's storage (a View at its offset).
absl::StatusOr<MemoryPlan> PlanMemory(const Graph& graph);

}  // namespace kiln

#endif  // KILN_IR_PASSES_MEMORY_PLAN_H_
