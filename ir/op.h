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

// What an elementwise row of ops.def declares (see KILN_ELEMENTWISE there).
enum class ElementwiseCategory { kNone, kArithmetic, kMath, kActivation, kActivationGrad };

struct OpInfo {
  OpKind kind;
  const char* name;  // "Conv2D", as written in the text IR.
  int min_inputs;
  int max_inputs;
  std::vector<AttrSpec> attrs;
  ElementwiseCategory category = ElementwiseCategory::kNone;
  const char* token = nullptr;  // An elementwise op's name in programs: "relu".
};

const OpInfo& GetOpInfo(OpKind kind);
const char* OpName(OpKind kind);
absl::StatusOr<OpKind> ParseOpKind(absl::string_view name);
bool IsSource(OpKind kind);
inline bool IsElementwise(OpKind kind) {
  return GetOpInfo(kind).category != ElementwiseCategory::kNone;
}
// An elementwise op's input count (1 or 2); 0 for any other op.
inline int ElementwiseArity(OpKind kind) {
  return IsElementwise(kind) ? GetOpInfo(kind).min_inputs : 0;
}
// The elementwise op whose program token (or, with `category`, activation name) is `token`.
absl::StatusOr<OpKind> ParseElementwiseToken(
    absl::string_view token, ElementwiseCategory category = ElementwiseCategory::kNone);
// The activation names `activation=` accepts, comma-separated.
std::string ActivationNames();
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
