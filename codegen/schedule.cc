#include "codegen/schedule.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>

namespace kiln::codegen {
namespace {

// Size of /sys/.../cpu0/cache/index<i> when its level and type match, else 0 ("48K", "2048K").
int64_t SysfsCache(int level, const char* type) {
  for (int i = 0; i < 8; ++i) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    std::ifstream lv(dir + "level"), ty(dir + "type"), sz(dir + "size");
    int l = 0;
    std::string t, s;
    if (!(lv >> l) || !(ty >> t) || !(sz >> s)) continue;
    if (l != level || (t != type && t != "Unified")) continue;
    int64_t v = 0;
    size_t pos = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') v = v * 10 + (s[pos++] - '0');
    if (pos < s.size() && (s[pos] == 'K' || s[pos] == 'k')) v <<= 10;
    if (pos < s.size() && (s[pos] == 'M' || s[pos] == 'm')) v <<= 20;
    return v;
  }
  return 0;
}

}  // namespace

TargetInfo MakeTargetInfo(int lanes) {
  static const int64_t l1 = SysfsCache(1, "Data");
  static const int64_t l2 = SysfsCache(2, "Unified");
  TargetInfo t;
  t.lanes = lanes;
  t.vector_registers = lanes >= 16 ? 32 : 16;
  // Plausible bounds guard against odd sysfs values (containers, emulators).
  if (l1 >= (16 << 10) && l1 <= (1 << 20)) t.l1_bytes = l1;
  if (l2 >= (256 << 10) && l2 <= (64 << 20)) t.l2_bytes = l2;
  return t;
}

RegisterTile ChooseRegisterTile(const TargetInfo& t, int64_t vectors, int64_t max_rows) {
  RegisterTile best;
  double best_ratio = -1;
  for (int64_t v = 1; v <= std::min<int64_t>(vectors, 4); ++v) {
    // rows * v accumulators + v vector operands + 1 broadcast.
    const int64_t rows = std::min<int64_t>((t.vector_registers - v - 1) / v, max_rows);
    if (rows < 1) continue;
    const double ratio = static_cast<double>(rows * v) / static_cast<double>(rows + v);
    if (ratio > best_ratio + 1e-9) {
      best_ratio = ratio;
      best = {rows, v};
    }
  }
  return best;
}

int64_t ElementwiseChunk(const TargetInfo& t) {
  // Whole vectors: the loop skeletons step by vectors within a task.
  return std::max<int64_t>(1, t.l1_bytes / 4 / 4 / t.lanes) * t.lanes;
}

int64_t GrainFor(const TargetInfo& t, double work_per_task) {
  // About an L2's worth of floats per handout: long enough to amortize the pool's atomic.
  const double target = static_cast<double>(t.l2_bytes) / 4;
  return std::max<int64_t>(1, static_cast<int64_t>(target / std::max(work_per_task, 1.0)));
}

}  // namespace kiln::codegen
