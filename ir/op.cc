#include "ir/op.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "ir/status.h"

namespace kiln {
namespace {

std::vector<AttrSpec> ParseSchema(const char* schema) {
  std::vector<AttrSpec> specs;
  for (absl::string_view item : absl::StrSplit(schema, ' ', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(item, ':');
    AttrKind kind;
    if (kv.second == "int") {
      kind = AttrKind::kInt;
    } else if (kv.second == "ints") {
      kind = AttrKind::kInts;
    } else if (kv.second == "float") {
      kind = AttrKind::kFloat;
    } else if (kv.second == "floats") {
      kind = AttrKind::kFloats;
    } else {
      KILN_CHECK(kv.second == "str");
      kind = AttrKind::kStr;
    }
    specs.push_back({kv.first, kind});
  }
  return specs;
}

const std::vector<OpInfo>& OpTable() {
  static const auto* table = new std::vector<OpInfo>{
#define KILN_OP(kind, min_in, max_in, schema) \
  {OpKind::k##kind, #kind, min_in, max_in, ParseSchema(schema)},
#define KILN_ELEMENTWISE(kind, arity, token, category) \
  {OpKind::k##kind, #kind, arity, arity, {}, ElementwiseCategory::category, token},
#include "ir/ops.def"
#undef KILN_ELEMENTWISE
#undef KILN_OP
  };
  return *table;
}

}  // namespace

const OpInfo& GetOpInfo(OpKind kind) { return OpTable()[static_cast<int>(kind)]; }
const char* OpName(OpKind kind) { return GetOpInfo(kind).name; }

absl::StatusOr<OpKind> ParseOpKind(absl::string_view name) {
  for (const OpInfo& info : OpTable()) {
    if (name == info.name) return info.kind;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown op '", name, "'"));
}

absl::StatusOr<OpKind> ParseElementwiseToken(absl::string_view token,
                                             ElementwiseCategory category) {
  for (const OpInfo& info : OpTable()) {
    if (info.token != nullptr && token == info.token &&
        (category == ElementwiseCategory::kNone || info.category == category)) {
      return info.kind;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown elementwise op '", token, "'"));
}

std::string ActivationNames() {
  std::string names;
  for (const OpInfo& info : OpTable()) {
    if (info.category != ElementwiseCategory::kActivation) continue;
    absl::StrAppend(&names, names.empty() ? "" : ", ", info.token);
  }
  return names;
}

bool IsSource(OpKind kind) {
  return kind == OpKind::kInput || kind == OpKind::kParameter || kind == OpKind::kConstant;
}

int NumMutatedInputs(OpKind kind) {
  switch (kind) {
    case OpKind::kAssign:
      return 1;
    case OpKind::kApplySgd:
    case OpKind::kApplyRmsprop:
      return 2;
    case OpKind::kFusedMatMulApplyAdam:
    case OpKind::kApplyAdam:
      return 3;
    default:
      return 0;
  }
}

const char* AttrKindName(AttrKind kind) {
  switch (kind) {
    case AttrKind::kInt:
      return "int";
    case AttrKind::kInts:
      return "ints";
    case AttrKind::kFloat:
      return "float";
    case AttrKind::kFloats:
      return "floats";
    case AttrKind::kStr:
      return "str";
  }
  return "?";
}

AttrValue AttrValue::Int(int64_t v) {
  AttrValue a;
  a.kind = AttrKind::kInt;
  a.i = v;
  return a;
}
AttrValue AttrValue::Ints(std::vector<int64_t> v) {
  AttrValue a;
  a.kind = AttrKind::kInts;
  a.ints = std::move(v);
  return a;
}
AttrValue AttrValue::Float(double v) {
  AttrValue a;
  a.kind = AttrKind::kFloat;
  a.f = v;
  return a;
}
AttrValue AttrValue::Floats(std::vector<float> v) {
  AttrValue a;
  a.kind = AttrKind::kFloats;
  a.floats = std::move(v);
  return a;
}
AttrValue AttrValue::Str(std::string v) {
  AttrValue a;
  a.kind = AttrKind::kStr;
  a.s = std::move(v);
  return a;
}

bool AttrValue::operator==(const AttrValue& o) const {
  if (kind != o.kind) return false;
  switch (kind) {
    case AttrKind::kInt:
      return i == o.i;
    case AttrKind::kInts:
      return ints == o.ints;
    case AttrKind::kFloat:
      return f == o.f;
    case AttrKind::kFloats:
      return floats == o.floats;
    case AttrKind::kStr:
      return s == o.s;
  }
  return false;
}

}  // namespace kiln
