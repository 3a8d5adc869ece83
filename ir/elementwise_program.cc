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

}  // namespace kiln
