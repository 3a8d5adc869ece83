#include "ir/passes/memory_plan.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ir/status.h"

namespace kiln {

std::string MemoryPlan::ToString(const Graph& graph) const {
  std::string out = absl::StrFormat("# arena %d bytes (one buffer per value: %d bytes)\n",
                                    arena_bytes, naive_bytes);
  for (NodeId id : schedule) {
    const Buffer& b = buffers[id];
    const char* kind = b.kind == Kind::kPersistent ? "persistent"
                       : b.kind == Kind::kAlias    ? "alias"
                                                   : "arena";
    absl::StrAppendFormat(&out, "#   %-32s %-10s", graph.node(id).name, kind);
    if (b.kind == Kind::kArena)
      absl::StrAppendFormat(&out, " [%d, %d)", b.offset, b.offset + b.bytes);
    if (b.kind == Kind::kAlias) absl::StrAppend(&out, " of ", graph.node(b.alias_of).name);
    out += "\n";
  }
  return out;
}

absl::StatusOr<MemoryPlan> PlanMemory(const Graph& graph) {
  KILN_ASSIGN_OR_RETURN(std::vector<NodeId> order, graph.TopologicalOrder());
  MemoryPlan plan;
  for (NodeId id : order) {
    if (!IsSink(graph.node(id).op)) plan.schedule.push_back(id);
  }
  for (NodeId id : order) {
    if (IsSink(graph.node(id).op)) plan.schedule.push_back(id);
  }
  const int n = graph.num_nodes();
  plan.buffers.resize(n);
  // Storage root of each node (through Reshape, Dropout and View aliases).
  std::vector<NodeId> root(n);
  std::vector<int64_t> offset(n, 0);  // Bytes into the root's storage.
  for (NodeId id : plan.schedule) {
    const Node& node = graph.node(id);
    // Dropout outside training is the identity: it shares its input's storage like a Reshape.
    const bool same = node.op == OpKind::kReshape || node.op == OpKind::kDropout;
    const bool alias = same || node.op == OpKind::kView;
    root[id] = alias ? root[node.inputs[0]] : id;
    offset[id] = same                       ? offset[node.inputs[0]]
                 : node.op == OpKind::kView ? offset[node.inputs[0]] + node.GetInt("offset") * 4
                                            : 0;
  }
  std::vector<int> position(n), last_use(n, -1);
  for (int p = 0; p < static_cast<int>(plan.schedule.size()); ++p) {
    const NodeId id = plan.schedule[p];
    position[id] = p;
    last_use[root[id]] = std::max(last_use[root[id]], p);
    for (NodeId in : graph.node(id).inputs) last_use[root[in]] = std::max(last_use[root[in]], p);
  }
  const int end = static_cast<int>(plan.schedule.size());
  for (NodeId out : graph.outputs()) last_use[root[out]] = end;

  std::map<int64_t, int64_t> free_ranges;        // offset -> size
  std::vector<std::pair<int, NodeId>> releases;  // (last use, root) of live arena buffers
  auto release_until = [&](int p) {
    for (auto it = releases.begin(); it != releases.end();) {
      if (it->first < p) {
        const MemoryPlan::Buffer& b = plan.buffers[it->second];
        int64_t off = b.offset, size = (b.bytes + 63) / 64 * 64;
        // Insert and merge with neighbours.
        auto next = free_ranges.lower_bound(off);
        if (next != free_ranges.end() && off + size == next->first) {
          size += next->second;
          next = free_ranges.erase(next);
        }
        if (next != free_ranges.begin()) {
          auto prev = std::prev(next);
          if (prev->first + prev->second == off) {
            off = prev->first;
            size += prev->second;
            free_ranges.erase(prev);
          }
        }
        free_ranges[off] = size;
        it = releases.erase(it);
      } else {
        ++it;
      }
    }
  };
  for (NodeId id : plan.schedule) {
    const Node& node = graph.node(id);
    MemoryPlan::Buffer& buf = plan.buffers[id];
    KILN_ASSIGN_OR_RETURN(buf.bytes, CheckedByteSize(node.type));
    plan.naive_bytes += buf.bytes;
    if (IsSource(node.op)) {
      buf.kind = MemoryPlan::Kind::kPersistent;
      continue;
    }
    if (root[id] != id) {
      buf.kind = MemoryPlan::Kind::kAlias;
      buf.alias_of = root[id];
      buf.alias_offset = offset[id];
      continue;
    }
    release_until(position[id]);  // Inputs stay live through this node: their last use is >= it.
    const int64_t size = (std::max<int64_t>(buf.bytes, 1) + 63) / 64 * 64;
    auto fit = std::find_if(free_ranges.begin(), free_ranges.end(),
                            [&](const auto& r) { return r.second >= size; });
    if (fit != free_ranges.end()) {
      buf.offset = fit->first;
      const int64_t rest = fit->second - size;
      const int64_t rest_off = fit->first + size;
      free_ranges.erase(fit);
      if (rest > 0) free_ranges[rest_off] = rest;
    } else {
      buf.offset = plan.arena_bytes;
      plan.arena_bytes += size;
    }
    releases.emplace_back(last_use[id], id);
  }
  return plan;
}

}  // namespace kiln
