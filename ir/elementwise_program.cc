#include "ir/elementwise_program.h"

#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kiln {
namespace {

struct TokenInfo {
  ElementwiseInstr::Kind kind;
  const char* token;
  int arity;
};

constexpr TokenInfo kTokens[] = {
    {ElementwiseInstr::kAdd, "add", 2},
    {ElementwiseInstr::kSub, "sub", 2},
    {ElementwiseInstr::kMul, "mul", 2},
    {ElementwiseInstr::kDiv, "div", 2},
    {ElementwiseInstr::kRelu, "relu", 1},
    {ElementwiseInstr::kSigmoid, "sigmoid", 1},
    {ElementwiseInstr::kTanh, "tanh", 1},
    {ElementwiseInstr::kReluGrad, "relu_grad", 2},
    {ElementwiseInstr::kSigmoidGrad, "sigmoid_grad", 2},
    {ElementwiseInstr::kTanhGrad, "tanh_grad", 2},
};

}  // namespace

const char* ElementwiseToken(ElementwiseInstr::Kind kind) {
  for (const TokenInfo& t : kTokens) {
    if (t.kind == kind) return t.token;
  }
  return "in";
}

int ElementwiseArity(ElementwiseInstr::Kind kind) {
  for (const TokenInfo& t : kTokens) {
    if (t.kind == kind) return t.arity;
  }
  return 0;
}

absl::StatusOr<ElementwiseInstr::Kind> ElementwiseKindOf(OpKind op) {
  switch (op) {
    case OpKind::kAdd:
      return ElementwiseInstr::kAdd;
    case OpKind::kSub:
      return ElementwiseInstr::kSub;
    case OpKind::kMul:
      return ElementwiseInstr::kMul;
    case OpKind::kDiv:
      return ElementwiseInstr::kDiv;
    case OpKind::kRelu:
      return ElementwiseInstr::kRelu;
    case OpKind::kSigmoid:
      return ElementwiseInstr::kSigmoid;
    case OpKind::kTanh:
      return ElementwiseInstr::kTanh;
    case OpKind::kReluGrad:
      return ElementwiseInstr::kReluGrad;
    case OpKind::kSigmoidGrad:
      return ElementwiseInstr::kSigmoidGrad;
    case OpKind::kTanhGrad:
      return ElementwiseInstr::kTanhGrad;
    default:
      return absl::InvalidArgumentError(absl::StrCat(OpName(op), " is not elementwise"));
  }
}

absl::StatusOr<std::vector<ElementwiseInstr>> ParseElementwiseProgram(absl::string_view program,
                                                                      int num_inputs) {
  std::vector<ElementwiseInstr> code;
  int depth = 0;
  for (absl::string_view tok : absl::StrSplit(program, ' ', absl::SkipEmpty())) {
    ElementwiseInstr instr{ElementwiseInstr::kInput, -1};
    if (absl::StartsWith(tok, "in")) {
      int index;
      if (!absl::SimpleAtoi(tok.substr(2), &index) || index < 0 || index >= num_inputs) {
        return absl::InvalidArgumentError(
            absl::StrCat("program input '", tok, "' is not one of ", num_inputs, " inputs"));
      }
      instr.input = index;
      ++depth;
    } else {
      bool found = false;
      for (const TokenInfo& t : kTokens) {
        if (tok == t.token) {
          instr.kind = t.kind;
          found = true;
          if (depth < t.arity) {
            return absl::InvalidArgumentError(
                absl::StrCat("program op '", tok, "' needs ", t.arity, " operands"));
          }
          depth -= t.arity - 1;
        }
      }
      if (!found) return absl::InvalidArgumentError(absl::StrCat("unknown program op '", tok, "'"));
    }
    code.push_back(instr);
  }
  if (depth != 1) {
    return absl::InvalidArgumentError(absl::StrCat("program leaves ", depth, " values, not 1"));
  }
  return code;
}

float EvalElementwise(ElementwiseInstr::Kind kind, float a, float b) {
  switch (kind) {
    case ElementwiseInstr::kInput:
      return a;
    case ElementwiseInstr::kAdd:
      return a + b;
    case ElementwiseInstr::kSub:
      return a - b;
    case ElementwiseInstr::kMul:
      return a * b;
    case ElementwiseInstr::kDiv:
      return a / b;
    case ElementwiseInstr::kRelu:
      return a < 0 ? 0.0f : a;
    case ElementwiseInstr::kSigmoid:
      return a >= 0 ? 1.0f / (1.0f + std::exp(-a)) : std::exp(a) / (1.0f + std::exp(a));
    case ElementwiseInstr::kTanh:
      return std::tanh(a);
    case ElementwiseInstr::kReluGrad:
      return a > 0 ? b : 0.0f;
    case ElementwiseInstr::kSigmoidGrad:
      return b * a * (1.0f - a);
    case ElementwiseInstr::kTanhGrad:
      return b * (1.0f - a * a);
  }
  return 0;
}

void EvalProgram(const std::vector<ElementwiseInstr>& program, const std::vector<const float*>& in,
                 const std::vector<bool>& scalar, float* out, int64_t n) {
  std::vector<float> stack;
  for (int64_t i = 0; i < n; ++i) {
    stack.clear();
    for (const ElementwiseInstr& instr : program) {
      if (instr.kind == ElementwiseInstr::kInput) {
        stack.push_back(in[instr.input][scalar[instr.input] ? 0 : i]);
        continue;
      }
      const bool binary = ElementwiseArity(instr.kind) == 2;
      const float b = binary ? stack.back() : 0.0f;
      if (binary) stack.pop_back();
      stack.back() = EvalElementwise(instr.kind, stack.back(), b);
    }
    out[i] = stack.back();
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
