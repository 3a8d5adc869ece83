// The program of a fused Elementwise node: postfix tokens over its inputs, for example
// "in0 in1 add relu" = relu(in0 + in1). Inputs are all the output's shape or scalars.
#ifndef KILN_IR_ELEMENTWISE_PROGRAM_H_
#define KILN_IR_ELEMENTWISE_PROGRAM_H_

#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ir/elementwise_math.h"
#include "ir/op.h"

namespace kiln {

// One postfix instruction: push node input `input` (op kInput), or apply an elementwise op of
// ops.def to the top one or two values.
struct ElementwiseInstr {
  OpKind op = OpKind::kInput;
  int input = -1;  // kInput: which node input.
};

// Parses and checks a program (stack discipline, inputs below `num_inputs`, one result).
absl::StatusOr<std::vector<ElementwiseInstr>> ParseElementwiseProgram(absl::string_view program,
                                                                      int num_inputs);
// The program token of an instruction: "in3", "relu".
std::string ElementwiseToken(const ElementwiseInstr& instr);
// One op on scalars (the interpreter's semantics, ir/elementwise_math.h).
float EvalElementwise(OpKind op, float a, float b = 0.0f);

// Runs `program` in the arithmetic `m` (ir/elementwise_math.h); `input(k)` is input k's value.
template <typename M, typename Input>
typename M::Value RunProgram(M& m, const std::vector<ElementwiseInstr>& program, Input&& input) {
  absl::InlinedVector<typename M::Value, 8> stack;
  for (const ElementwiseInstr& instr : program) {
    if (instr.op == OpKind::kInput) {
      stack.push_back(input(instr.input));
      continue;
    }
    typename M::Value b = stack.back();
    if (ElementwiseArity(instr.op) == 2) stack.pop_back();
    stack.back() = ApplyElementwise(m, instr.op, stack.back(), b);
  }
  return stack.back();
}

// The program's cost per element in primitive operations (CostMath, ir/elementwise_math.h).
double ProgramCost(const std::vector<ElementwiseInstr>& program);

// out[i] = program(in[0][i], in[1][i], ...) for i < n, where an input flagged in `scalar` is
// read at index 0 for every i. `out` may be one of the inputs.
void EvalProgram(const std::vector<ElementwiseInstr>& program, const std::vector<const float*>& in,
                 const std::vector<bool>& scalar, float* out, int64_t n);

// The inputs of a contraction with an epilogue (FusedConv2D, FusedDense; see ir/ops.def): the
// two operands, a bias when input 2 is rank 1, then the extras the program reads as in1, in2, ...
struct EpilogueLayout {
  bool has_bias = false;
  int first_extra = 2;
  int extras = 0;
};
EpilogueLayout LayoutOfEpilogue(int num_inputs, int rank_of_input2);

// The program with every `in{slot}` replaced by `inner` (a program whose in0 stays in0 and whose
// inK becomes in{inner_base + K - 1}) and every other `inJ` renamed to in{rename[J]}: how the
// fuser folds a consumer into its producer's epilogue. Programs are checked by the caller.
std::string ComposePrograms(absl::string_view outer, int slot, absl::string_view inner,
                            int inner_base, const std::vector<int>& rename);

}  // namespace kiln

#endif  // KILN_IR_ELEMENTWISE_PROGRAM_H_
