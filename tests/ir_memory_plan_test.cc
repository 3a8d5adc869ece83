// The memory planner's invariants: no two buffers live at once share bytes, outputs are never
// reused, aliases keep their roots alive; on chains and on pseudo-random DAGs.
#include "tests/ir_passes_util.h"

namespace kiln {
namespace {

using ::testing::ElementsAre;
using namespace pass_test;  // NOLINT(build/namespaces)

// ---------------------------------------------------------------------------------------------
// PlanMemory

// The closed schedule interval during which an arena buffer's storage must be kept: from its
// definition to the last read of it or of any Reshape alias of it; to the end for graph outputs.
struct LiveRange {
  int start = 0, end = 0;
};

std::vector<LiveRange> LiveRanges(const Graph& g, const MemoryPlan& plan) {
  const int n = g.num_nodes();
  const int steps = static_cast<int>(plan.schedule.size());
  std::vector<int> pos(n, -1);
  for (int p = 0; p < steps; ++p) pos[plan.schedule[p]] = p;
  auto root = [&](NodeId id) {
    while (g.node(id).op == OpKind::kReshape) id = g.node(id).inputs[0];
    return id;
  };
  std::vector<LiveRange> ranges(n);
  for (NodeId id = 0; id < n; ++id) ranges[id] = {pos[id], pos[id]};
  for (NodeId id = 0; id < n; ++id) {
    const NodeId r = root(id);
    ranges[r].end = std::max(ranges[r].end, pos[id]);
    for (NodeId in : g.node(id).inputs) {
      ranges[root(in)].end = std::max(ranges[root(in)].end, pos[id]);
    }
  }
  for (NodeId out : g.outputs()) ranges[root(out)].end = std::numeric_limits<int>::max();
  return ranges;
}

// The pairs of arena buffers that are live together yet share bytes, one per line.
std::string LiveOverlaps(const Graph& g, const MemoryPlan& plan) {
  const std::vector<LiveRange> live = LiveRanges(g, plan);
  std::string conflicts;
  for (NodeId a = 0; a < g.num_nodes(); ++a) {
    if (plan.buffers[a].kind != MemoryPlan::Kind::kArena) continue;
    for (NodeId b = a + 1; b < g.num_nodes(); ++b) {
      if (plan.buffers[b].kind != MemoryPlan::Kind::kArena) continue;
      if (live[a].start > live[b].end || live[b].start > live[a].end) continue;
      const MemoryPlan::Buffer& x = plan.buffers[a];
      const MemoryPlan::Buffer& y = plan.buffers[b];
      if (x.offset + x.bytes <= y.offset || y.offset + y.bytes <= x.offset) continue;
      absl::StrAppend(&conflicts, g.node(a).name, " [", x.offset, ", ", x.offset + x.bytes,
                      ") overlaps ", g.node(b).name, " [", y.offset, ", ", y.offset + y.bytes,
                      ")\n");
    }
  }
  return conflicts;
}

// Every plan invariant that does not depend on the allocation strategy.
void CheckPlan(const Graph& g, const MemoryPlan& plan) {
  const int n = g.num_nodes();
  ASSERT_EQ(static_cast<int>(plan.buffers.size()), n);
  ASSERT_EQ(static_cast<int>(plan.schedule.size()), n);
  // The schedule: a permutation, inputs first, update ops after everything else.
  std::vector<int> pos(n, -1);
  for (int p = 0; p < n; ++p) {
    const NodeId id = plan.schedule[p];
    ASSERT_TRUE(id >= 0 && id < n);
    ASSERT_EQ(pos[id], -1) << "scheduled twice: " << g.node(id).name;
    pos[id] = p;
  }
  bool seen_sink = false;
  for (NodeId id : plan.schedule) {
    const Node& node = g.node(id);
    for (NodeId in : node.inputs) EXPECT_LT(pos[in], pos[id]) << node.name;
    if (IsSink(node.op))
      seen_sink = true;
    else
      EXPECT_FALSE(seen_sink) << node.name << " scheduled after an update op";
  }
  int64_t naive = 0;
  for (NodeId id = 0; id < n; ++id) {
    const Node& node = g.node(id);
    const MemoryPlan::Buffer& b = plan.buffers[id];
    auto bytes = CheckedByteSize(node.type);
    ASSERT_TRUE(bytes.ok());
    EXPECT_EQ(b.bytes, *bytes) << node.name;
    naive += b.bytes;
    if (IsSource(node.op)) {
      EXPECT_EQ(b.kind, MemoryPlan::Kind::kPersistent) << node.name;
    } else if (node.op == OpKind::kReshape) {
      EXPECT_EQ(b.kind, MemoryPlan::Kind::kAlias) << node.name;
      NodeId r = node.inputs[0];
      while (g.node(r).op == OpKind::kReshape) r = g.node(r).inputs[0];
      EXPECT_EQ(b.alias_of, r) << node.name;
    } else {
      EXPECT_EQ(b.kind, MemoryPlan::Kind::kArena) << node.name;
      EXPECT_EQ(b.offset % 64, 0) << node.name;
      EXPECT_GE(b.offset, 0) << node.name;
      EXPECT_LE(b.offset + b.bytes, plan.arena_bytes) << node.name;
    }
  }
  EXPECT_EQ(plan.naive_bytes, naive);
  // Arena buffers live at the same time never share a byte.
  EXPECT_EQ(LiveOverlaps(g, plan), "") << plan.ToString(g);
}

// x -> tanh -> ... (`length` ops) with a Reshape pair in the middle, a parameter update at the
// end, and the last value and one middle value as outputs.
Graph Chain(int length) {
  std::string body = R"(
    %x = Input() : f32[16,16]
    %p = Parameter() {trainable=1} : f32[16,16]
    %k = Constant() {value=[0.5]} : f32[]
  )";
  std::string prev = "x";
  for (int i = 0; i < length; ++i) {
    const std::string name = absl::StrCat("v", i);
    if (i == length / 2) {
      absl::StrAppend(&body, "%flat = Reshape(%", prev, ") {shape=[256]} : f32[256]\n",
                      "%back = Reshape(%flat) {shape=[16,16]} : f32[16,16]\n");
      prev = "back";
    }
    if (i % 3 == 0) {
      absl::StrAppend(&body, "%", name, " = Mul(%", prev, ", %k) : f32[16,16]\n");
    } else if (i % 3 == 1) {
      absl::StrAppend(&body, "%", name, " = Tanh(%", prev, ") : f32[16,16]\n");
    } else {
      absl::StrAppend(&body, "%", name, " = Add(%", prev, ", %p) : f32[16,16]\n");
    }
    prev = name;
  }
  absl::StrAppend(&body, "%upd = Assign(%p, %", prev, ") : f32[]\n");
  absl::StrAppend(&body, "outputs(%", prev, ", %v", length / 4, ")");
  return Parse(body);
}

TEST(PassesMemoryPlan, LongChainReusesMemory) {
  const Graph g = Chain(40);
  auto plan = PlanMemory(g);
  ASSERT_TRUE(plan.ok()) << plan.status();
  CheckPlan(g, *plan);
  EXPECT_LT(plan->arena_bytes, plan->naive_bytes);
  // 40 values of 1 KiB: two outputs plus a couple of live temporaries fit in a few KiB.
  EXPECT_LE(plan->arena_bytes, 6 * 1024) << plan->ToString(g);
  EXPECT_EQ(plan->schedule.back(), g.Find("upd"));
  for (const char* source : {"x", "p", "k"}) {
    EXPECT_EQ(plan->buffers[g.Find(source)].kind, MemoryPlan::Kind::kPersistent) << source;
  }
  const MemoryPlan::Buffer& flat = plan->buffers[g.Find("flat")];
  const MemoryPlan::Buffer& back = plan->buffers[g.Find("back")];
  EXPECT_EQ(flat.kind, MemoryPlan::Kind::kAlias);
  EXPECT_EQ(back.kind, MemoryPlan::Kind::kAlias);
  EXPECT_EQ(flat.alias_of, g.Find("v19"));
  EXPECT_EQ(back.alias_of, g.Find("v19"));
}

TEST(PassesMemoryPlan, OverlapCheckCatchesACorruptedPlan) {
  // The checker itself: moving a value onto the storage of its own input must be caught.
  const Graph g = Chain(10);
  auto plan = PlanMemory(g);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(LiveOverlaps(g, *plan), "");
  MemoryPlan bad = *plan;
  bad.buffers[g.Find("v3")].offset = bad.buffers[g.Find("v2")].offset;
  EXPECT_NE(LiveOverlaps(g, bad), "");
}

TEST(PassesMemoryPlan, GraphOutputsAreNeverReused) {
  const Graph g = Chain(30);
  auto plan = PlanMemory(g);
  ASSERT_TRUE(plan.ok()) << plan.status();
  CheckPlan(g, *plan);
  std::vector<int> pos(g.num_nodes());
  for (int p = 0; p < static_cast<int>(plan->schedule.size()); ++p) pos[plan->schedule[p]] = p;
  for (NodeId out : g.outputs()) {
    const MemoryPlan::Buffer& o = plan->buffers[out];
    ASSERT_EQ(o.kind, MemoryPlan::Kind::kArena);
    for (NodeId id = 0; id < g.num_nodes(); ++id) {
      const MemoryPlan::Buffer& b = plan->buffers[id];
      if (id == out || b.kind != MemoryPlan::Kind::kArena || pos[id] < pos[out]) continue;
      EXPECT_TRUE(b.offset + b.bytes <= o.offset || o.offset + o.bytes <= b.offset)
          << g.node(id).name << " reuses output " << g.node(out).name << "\n"
          << plan->ToString(g);
    }
  }
}

TEST(PassesMemoryPlan, OutputThroughReshapeKeepsItsRootAlive) {
  const Graph g = Parse(R"(
    %x = Input() : f32[8,8]
    %a = Tanh(%x) : f32[8,8]
    %r = Reshape(%a) {shape=[64]} : f32[64]
    %b = Sigmoid(%x) : f32[8,8]
    %c = Tanh(%b) : f32[8,8]
    %d = Relu(%c) : f32[8,8]
    %e = Tanh(%d) : f32[8,8]
    outputs(%r, %e))");
  auto plan = PlanMemory(g);
  ASSERT_TRUE(plan.ok()) << plan.status();
  CheckPlan(g, *plan);
  EXPECT_EQ(plan->buffers[g.Find("r")].alias_of, g.Find("a"));
}

// Deterministic pseudo-random DAGs: three "lanes" of different shapes (so first fit must handle
// holes of different sizes), binary and unary ops over random earlier values of the same lane,
// Reshape round trips (aliases read later), and random outputs.
class Lcg {
 public:
  explicit Lcg(uint64_t seed) : s_(seed * 6364136223846793005ull + 1442695040888963407ull) {}
  int Below(int n) {
    s_ = s_ * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<int>((s_ >> 33) % static_cast<uint64_t>(n));
  }

 private:
  uint64_t s_;
};

Graph RandomDag(uint64_t seed) {
  Lcg rng(seed);
  const char* lane_types[] = {"f32[4,4]", "f32[30,10]", "f32[3,100]"};
  const char* lane_flat[] = {"[16]", "[300]", "[300]"};
  const char* lane_shape[] = {"[4,4]", "[30,10]", "[3,100]"};
  std::vector<std::string> lanes[3];
  std::string body;
  for (int l = 0; l < 3; ++l) {
    absl::StrAppend(&body, "%in", l, " = Input() : ", lane_types[l], "\n");
    lanes[l].push_back(absl::StrCat("in", l));
  }
  const char* binary[] = {"Add", "Mul", "Sub"};
  const char* unary[] = {"Tanh", "Relu", "Sigmoid"};
  std::vector<std::string> all;
  for (int i = 0; i < 60; ++i) {
    const int l = rng.Below(3);
    auto& lane = lanes[l];
    // Mostly recent values, sometimes old ones (long live ranges).
    auto pick = [&] {
      const int n = static_cast<int>(lane.size());
      return lane[rng.Below(4) == 0 ? rng.Below(n) : std::max(0, n - 1 - rng.Below(3))];
    };
    const std::string name = absl::StrCat("n", i);
    const int kind = rng.Below(10);
    if (kind < 5) {
      absl::StrAppend(&body, "%", name, " = ", binary[rng.Below(3)], "(%", pick(), ", %", pick(),
                      ") : ", lane_types[l], "\n");
    } else if (kind < 8) {
      absl::StrAppend(&body, "%", name, " = ", unary[rng.Below(3)], "(%", pick(),
                      ") : ", lane_types[l], "\n");
    } else {
      const std::string src = pick();
      absl::StrAppend(&body, "%", name, "_flat = Reshape(%", src, ") {shape=", lane_flat[l],
                      "} : f32", lane_flat[l], "\n", "%", name, " = Reshape(%", name,
                      "_flat) {shape=", lane_shape[l], "} : ", lane_types[l], "\n");
    }
    lane.push_back(name);
    all.push_back(name);
  }
  std::string outs;
  std::vector<std::string> chosen;
  while (chosen.size() < 4) {
    const std::string& name = all[rng.Below(static_cast<int>(all.size()))];
    if (std::find(chosen.begin(), chosen.end(), name) != chosen.end()) continue;
    absl::StrAppend(&outs, chosen.empty() ? "%" : ", %", name);
    chosen.push_back(name);
  }
  absl::StrAppend(&body, "outputs(", outs, ")");
  return Parse(body);
}

TEST(PassesMemoryPlan, RandomDagsNeverOverlapLiveBuffers) {
  for (uint64_t seed = 1; seed <= 25; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    const Graph g = RandomDag(seed);
    ASSERT_TRUE(Verify(g).ok()) << Verify(g);
    auto plan = PlanMemory(g);
    ASSERT_TRUE(plan.ok()) << plan.status();
    CheckPlan(g, *plan);
    EXPECT_LT(plan->arena_bytes, plan->naive_bytes);
    if (HasFailure()) break;
  }
}

}  // namespace
}  // namespace kiln
