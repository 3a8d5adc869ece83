// The one definition of every elementwise op of ops.def, written once over an arithmetic `M`:
// `ScalarMath` below (floats and std:: functions) is the interpreter's reference, and
// codegen's `IrMath` (codegen/elemental.cc) emits the same formula as LLVM IR on scalars or on
// full-width vectors, with exp/log/tanh as inline polynomials. A new elementwise row of ops.def
// needs its case here and nothing else to run in both backends, in fused programs and in any
// contraction's epilogue (the build fails, -Werror=switch, until the case exists).
//
// M provides: Value, Mask, Const(float), Add, Sub, Mul, Div, Neg, Abs, Less, Greater,
// GreaterEqual (ordered: false when either side is NaN), Select(mask, a, b), Exp, Log, Tanh.
#ifndef KILN_IR_ELEMENTWISE_MATH_H_
#define KILN_IR_ELEMENTWISE_MATH_H_

#include <cmath>

#include "ir/op.h"
#include "ir/status.h"

namespace kiln {

template <typename M>
typename M::Value ApplyElementwise(M& m, OpKind op, typename M::Value a, typename M::Value b) {
  using V = typename M::Value;
  switch (op) {
    case OpKind::kAdd:
      return m.Add(a, b);
    case OpKind::kSub:
      return m.Sub(a, b);
    case OpKind::kMul:
      return m.Mul(a, b);
    case OpKind::kDiv:
      return m.Div(a, b);
    case OpKind::kRelu:  // a < 0 ? 0 : a, so NaN passes through.
      return m.Select(m.Less(a, m.Const(0)), m.Const(0), a);
    case OpKind::kSigmoid: {
      // e = e^-|a| never overflows: 1 / (1 + e) for a >= 0, e / (1 + e) below.
      const V e = m.Exp(m.Neg(m.Abs(a)));
      const V denom = m.Add(m.Const(1), e);
      return m.Select(m.GreaterEqual(a, m.Const(0)), m.Div(m.Const(1), denom), m.Div(e, denom));
    }
    case OpKind::kTanh:
      return m.Tanh(a);
    case OpKind::kReluGrad:  // (y, dy): dy where y > 0, else 0 (NaN y gives 0).
      return m.Select(m.Greater(a, m.Const(0)), b, m.Const(0));
    case OpKind::kSigmoidGrad:  // (y, dy): dy * y * (1 - y).
      return m.Mul(m.Mul(b, a), m.Sub(m.Const(1), a));
    case OpKind::kTanhGrad:  // (y, dy): dy * (1 - y^2).
      return m.Mul(b, m.Sub(m.Const(1), m.Mul(a, a)));
#include "ir/non_elementwise_cases.inc"
      KILN_CHECK(false && "not an elementwise op");
  }
  return a;
}

// Floats, with the C++ standard library's exp, log and tanh: the reference semantics.
struct ScalarMath {
  using Value = float;
  using Mask = bool;
  float Const(float c) const { return c; }
  float Add(float a, float b) const { return a + b; }
  float Sub(float a, float b) const { return a - b; }
  float Mul(float a, float b) const { return a * b; }
  float Div(float a, float b) const { return a / b; }
  float Neg(float a) const { return -a; }
  float Abs(float a) const { return std::fabs(a); }
  bool Less(float a, float b) const { return a < b; }
  bool Greater(float a, float b) const { return a > b; }
  bool GreaterEqual(float a, float b) const { return a >= b; }
  float Select(bool m, float a, float b) const { return m ? a : b; }
  float Exp(float a) const { return std::exp(a); }
  float Log(float a) const { return std::log(a); }
  float Tanh(float a) const { return std::tanh(a); }
};

}  // namespace kiln

#endif  // KILN_IR_ELEMENTWISE_MATH_H_
