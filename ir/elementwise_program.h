// The program of a fused Elementwise node: postfix tokens over its inputs, for example
// "in0 in1 add relu" = relu(in0 + in1). Inputs are all the output's shape or scalars.
#ifndef KILN_IR_ELEMENTWISE_PROGRAM_H_
#define KILN_IR_ELEMENTWISE_PROGRAM_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ir/op.h"

namespace kiln {

struct ElementwiseInstr {
  enum Kind {
    kInput,
    kAdd,
    kSub,
    kMul,
    kDiv,
    kRelu,
    kSigmoid,
    kTanh,
    kReluGrad,
    kSigmoidGrad,
    kTanhGrad
  };
  Kind kind;
  int input = -1;  // kInput: which node input.
};

// Parses and checks a program (stack discipline, inputs below `num_inputs`, one result).
absl::StatusOr<std::vector<ElementwiseInstr>> ParseElementwiseProgram(absl::string_view program,
                                                                      int num_inputs);
// The instruction for an elementwise op kind, or an error if `op` is not one.
absl::StatusOr<ElementwiseInstr::Kind> ElementwiseKindOf(OpKind op);
const char* ElementwiseToken(ElementwiseInstr::Kind kind);
int ElementwiseArity(ElementwiseInstr::Kind kind);
// Evaluates one instruction on scalars (the interpreter's semantics).
float EvalElementwise(ElementwiseInstr::Kind kind, float a, float b);

}  // namespace kiln

#endif  // KILN_IR_ELEMENTWISE_PROGRAM_H_
