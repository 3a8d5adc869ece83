#include "ir/elementwise_program.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "ir/status.h"

namespace kiln {

std::string ElementwiseToken(const ElementwiseInstr& instr) {
  if (instr.op == OpKind::kInput) return absl::StrCat("in", instr.input);
  return GetOpInfo(instr.op).token;
}

absl::StatusOr<std::vector<ElementwiseInstr>> ParseElementwiseProgram(absl::string_view program,
                                                                      int num_inputs) {
  std::vector<ElementwiseInstr> code;
  int depth = 0;
  for (absl::string_view tok : absl::StrSplit(program, ' ', absl::SkipEmpty())) {
    ElementwiseInstr instr;
    if (absl::StartsWith(tok, "in")) {
      int index;
      if (!absl::SimpleAtoi(tok.substr(2), &index) || index < 0 || index >= num_inputs) {
        return absl::InvalidArgumentError(
            absl::StrCat("program input '", tok, "' is not one of ", num_inputs, " inputs"));
      }
      instr.input = index;
      ++depth;
    } else {
      auto op = ParseElementwiseToken(tok);
      if (!op.ok())
        return absl::InvalidArgumentError(absl::StrCat("unknown program op '", tok, "'"));
      const int arity = ElementwiseArity(*op);
      if (depth < arity) {
        return absl::InvalidArgumentError(
            absl::StrCat("program op '", tok, "' needs ", arity, " operands"));
      }
      depth -= arity - 1;
      instr.op = *op;
    }
    code.push_back(instr);
  }
  if (depth != 1) {
    return absl::InvalidArgumentError(absl::StrCat("program leaves ", depth, " values, not 1"));
  }
  return code;
}

float EvalElementwise(OpKind op, float a, float b) {
  ScalarMath m;
  return ApplyElementwise(m, op, a, b);
}

double ProgramCost(const std::vector<ElementwiseInstr>& program) {
  CostMath m;
  return RunProgram(m, program, [](int) { return 0.0; });
}

namespace {

// out[i] = op(a[i], b[i]) for i < n with the op a compile-time constant, so its definition
// folds into a tight loop.
template <OpKind kOp>
void OpLoop(const float* a, const float* b, float* out, int64_t n) {
  ScalarMath m;
  for (int64_t i = 0; i < n; ++i) out[i] = ApplyElementwise(m, kOp, a[i], b[i]);
}

void ApplyOp(OpKind op, const float* a, const float* b, float* out, int64_t n) {
  switch (op) {
#define KILN_OP(kind, min_in, max_in, schema)
#define KILN_ELEMENTWISE(kind, arity, token, category) \
  case OpKind::k##kind:                                \
    return OpLoop<OpKind::k##kind>(a, b, out, n);
#include "ir/ops.def"
#undef KILN_ELEMENTWISE
#undef KILN_OP
#include "ir/non_elementwise_cases.inc"
    KILN_CHECK(false && "not an elementwise op");
  }
}

}  // namespace

void EvalProgram(const std::vector<ElementwiseInstr>& program, const std::vector<const float*>& in,
                 const std::vector<bool>& scalar, float* out, int64_t n) {
  // An instruction at a time over blocks of elements: each op runs as one loop over a block.
  // The stack holds pointers: an input's own elements where it is not a scalar, else a block
  // of scratch that ops write in place.
  constexpr int64_t kBlock = 1024;
  std::vector<std::vector<float>> scratch(program.size(), std::vector<float>(std::min(kBlock, n)));
  std::vector<const float*> stack(program.size());
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t len = std::min(kBlock, n - i0);
    size_t depth = 0;
    for (const ElementwiseInstr& instr : program) {
      if (instr.op == OpKind::kInput) {
        const float* src = in[instr.input];
        if (scalar[instr.input]) {
          std::fill(scratch[depth].begin(), scratch[depth].begin() + len, src[0]);
          src = scratch[depth].data();
        } else {
          src += i0;
        }
        stack[depth++] = src;
        continue;
      }
      const bool binary = ElementwiseArity(instr.op) == 2;
      const size_t slot = depth - (binary ? 2 : 1);
      float* result = scratch[slot].data();
      ApplyOp(instr.op, stack[slot], binary ? stack[depth - 1] : stack[slot], result, len);
      stack[slot] = result;
      if (binary) --depth;
    }
    if (stack[0] != out + i0) std::copy(stack[0], stack[0] + len, out + i0);
  }
}

EpilogueLayout LayoutOfEpilogue(int num_inputs, int rank_of_input2) {
  EpilogueLayout l;
  l.has_bias = num_inputs > 2 && rank_of_input2 == 1;
  l.first_extra = l.has_bias ? 3 : 2;
  l.extras = num_inputs - l.first_extra;
  return l;
}

std::string ComposePrograms(absl::string_view outer, int slot, absl::string_view inner,
                            int inner_base, const std::vector<int>& rename) {
  auto input_index = [](absl::string_view tok, int* index) {
    return absl::StartsWith(tok, "in") && absl::SimpleAtoi(tok.substr(2), index);
  };
  std::string inner_renamed;
  for (absl::string_view tok : absl::StrSplit(inner, ' ', absl::SkipEmpty())) {
    int k;
    if (!inner_renamed.empty()) inner_renamed += ' ';
    if (input_index(tok, &k) && k > 0) {
      absl::StrAppend(&inner_renamed, "in", inner_base + k - 1);
    } else {
      absl::StrAppend(&inner_renamed, tok);
    }
  }
  std::string out;
  for (absl::string_view tok : absl::StrSplit(outer, ' ', absl::SkipEmpty())) {
    int j;
    if (!out.empty()) out += ' ';
    if (input_index(tok, &j)) {
      if (j == slot) {
        out += inner_renamed;
      } else {
        absl::StrAppend(&out, "in", rename[j]);
      }
    } else {
      absl::StrAppend(&out, tok);
    }
  }
  return out;
}

}  // namespace kiln
