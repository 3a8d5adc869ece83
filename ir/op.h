// Op kinds and their static descriptions, generated from ops.def.
#ifndef KILN_IR_OP_H_
#define KILN_IR_OP_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln {

enum class OpKind {
#define KILN_OP(kind, min_in, max_in, schema) k##kind,
#include "ir/ops.def"
#undef KILN_OP
};

inline constexpr int kNumOpKinds = 0
#define KILN_OP(kind, min_in, max_in, schema) +1
#include "ir/ops.def"
#undef KILN_OP
    ;

enum class AttrKind { kInt, kInts, kFloat, kFloats, kStr };

struct AttrSpec {
  std::string name;
  AttrKind kind;
};

struct OpInfo {
  OpKind kind;
  const char* name;  // "Conv2D", as written in the text IR.
  int min_inputs;
  int max_inputs;
  std::vector<AttrSpec> attrs;
};

const OpInfo& GetOpInfo(OpKind kind);
const char* OpName(OpKind kind);
absl::StatusOr<OpKind> ParseOpKind(absl::string_view name);
bool IsSource(OpKind kind);
// Update ops (Assign, ApplySgd, ApplyAdam) run after every other node and write their first
// NumMutatedInputs inputs, which must be Parameters, in place.
int NumMutatedInputs(OpKind kind);
inline bool IsSink(OpKind kind) { return NumMutatedInputs(kind) > 0; }
const char* AttrKindName(AttrKind kind);

// One attribute value; `kind` says which member is meaningful.
struct AttrValue {
  AttrKind kind = AttrKind::kInt;
  int64_t i = 0;
  std::vector<int64_t> ints;
  double f = 0;
  std::vector<float> floats;
  std::string s;

  static AttrValue Int(int64_t v);
  static AttrValue Ints(std::vector<int64_t> v);
  static AttrValue Float(double v);
  static AttrValue Floats(std::vector<float> v);
  static AttrValue Str(std::string v);
  bool operator==(const AttrValue& o) const;
};

// Ordered so printing is deterministic.
using Attrs = std::map<std::string, AttrValue>;

}  // namespace kiln

#endif  // KILN_IR_OP_H_
