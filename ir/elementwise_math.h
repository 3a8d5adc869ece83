// The one definition of every elementwise op of ops.def, written once over an arithmetic `M`:
// `ScalarMath` below (floats and std:: functions) is the interpreter's reference, and
// codegen's `IrMath` (codegen/elemental.cc) emits the same formula as LLVM IR on scalars or on
// full-width vectors, with exp/log/tanh as inline polynomials. A new elementwise row of ops.def
// needs its case here and nothing else to run in both backends, in fused programs and in any
// contraction's epilogue (the build fails, -Werror=switch, until the case exists).
//
// M provides: Value, Mask, Const(float), Add, Sub, Mul, Div, Sqrt, Neg, Abs, Less, Greater,
// GreaterEqual (ordered: false when either side is NaN), Select(mask, a, b), Exp, Log, Tanh,
// Erf.
#ifndef KILN_IR_ELEMENTWISE_MATH_H_
#define KILN_IR_ELEMENTWISE_MATH_H_

#include <cmath>

#include "ir/op.h"
#include "ir/status.h"

namespace kiln {

inline constexpr float kLeakySlope = 0.2f;

// Phi(a) = (1 + erf(a / sqrt 2)) / 2, the standard normal distribution function.
template <typename M>
typename M::Value NormalCdf(M& m, typename M::Value a) {
  return m.Mul(m.Const(0.5f), m.Add(m.Const(1), m.Erf(m.Mul(m.Const(0.7071067811865476f), a))));
}

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
    case OpKind::kRsqrt:  // Two correctly rounded operations: the same bits in every backend.
      return m.Div(m.Const(1), m.Sqrt(a));
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
    case OpKind::kLeakyRelu:  // a < 0 ? 0.2 a : a (tf.keras and Keras 3's default slope).
      return m.Select(m.Less(a, m.Const(0)), m.Mul(m.Const(kLeakySlope), a), a);
    case OpKind::kElu:  // a > 0 ? a : e^a - 1.
      return m.Select(m.Greater(a, m.Const(0)), a, m.Sub(m.Exp(a), m.Const(1)));
    case OpKind::kGelu:  // a * Phi(a), Phi(a) = (1 + erf(a / sqrt 2)) / 2.
      return m.Mul(a, NormalCdf(m, a));
    case OpKind::kSwish:
      return m.Mul(a, ApplyElementwise(m, OpKind::kSigmoid, a, a));
    case OpKind::kSoftplus: {  // max(a, 0) + log(1 + e^-|a|): e^x never overflows.
      const V pos = m.Select(m.Greater(a, m.Const(0)), a, m.Const(0));
      return m.Add(pos, m.Log(m.Add(m.Const(1), m.Exp(m.Neg(m.Abs(a))))));
    }
    case OpKind::kReluGrad:  // (y, dy): dy where y > 0, else 0 (NaN y gives 0).
      return m.Select(m.Greater(a, m.Const(0)), b, m.Const(0));
    case OpKind::kSigmoidGrad:  // (y, dy): dy * y * (1 - y).
      return m.Mul(m.Mul(b, a), m.Sub(m.Const(1), a));
    case OpKind::kTanhGrad:  // (y, dy): dy * (1 - y^2).
      return m.Mul(b, m.Sub(m.Const(1), m.Mul(a, a)));
    case OpKind::kLeakyReluGrad:  // (x, dy): dy where x > 0, else 0.2 dy.
      return m.Select(m.Greater(a, m.Const(0)), b, m.Mul(m.Const(kLeakySlope), b));
    case OpKind::kEluGrad:  // (y, dy): dy where y > 0, else dy (y + 1) = dy e^x.
      return m.Select(m.Greater(a, m.Const(0)), b, m.Mul(b, m.Add(a, m.Const(1))));
    case OpKind::kGeluGrad: {  // (x, dy): dy (Phi(x) + x phi(x)), phi the normal density.
      const V density =
          m.Mul(m.Const(0.3989422804014327f), m.Exp(m.Mul(m.Const(-0.5f), m.Mul(a, a))));
      return m.Mul(b, m.Add(NormalCdf(m, a), m.Mul(a, density)));
    }
    case OpKind::kSwishGrad: {  // (x, dy): dy s (1 + x (1 - s)), s = sigmoid(x).
      const V s = ApplyElementwise(m, OpKind::kSigmoid, a, a);
      return m.Mul(b, m.Mul(s, m.Add(m.Const(1), m.Mul(a, m.Sub(m.Const(1), s)))));
    }
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
  float Sqrt(float a) const { return std::sqrt(a); }
  float Neg(float a) const { return -a; }
  float Abs(float a) const { return std::fabs(a); }
  bool Less(float a, float b) const { return a < b; }
  bool Greater(float a, float b) const { return a > b; }
  bool GreaterEqual(float a, float b) const { return a >= b; }
  float Select(bool m, float a, float b) const { return m ? a : b; }
  float Exp(float a) const { return std::exp(a); }
  float Log(float a) const { return std::log(a); }
  float Tanh(float a) const { return std::tanh(a); }
  float Erf(float a) const { return std::erf(a); }
};

// A cost estimate read off the same definitions: a value is the number of primitive operations
// that computed it (shared subterms counted per use), exp/log/tanh/erf as kTranscendental each.
// Schedules use it to decide where an epilogue runs (codegen/epilogue.cc).
struct CostMath {
  static constexpr double kTranscendental = 20;
  using Value = double;
  using Mask = double;
  double Const(float) const { return 0; }
  double Add(double a, double b) const { return a + b + 1; }
  double Sub(double a, double b) const { return a + b + 1; }
  double Mul(double a, double b) const { return a + b + 1; }
  double Div(double a, double b) const { return a + b + 4; }
  double Sqrt(double a) const { return a + 4; }
  double Neg(double a) const { return a + 1; }
  double Abs(double a) const { return a + 1; }
  double Less(double a, double b) const { return a + b + 1; }
  double Greater(double a, double b) const { return a + b + 1; }
  double GreaterEqual(double a, double b) const { return a + b + 1; }
  double Select(double m, double a, double b) const { return m + a + b + 1; }
  double Exp(double a) const { return a + kTranscendental; }
  double Log(double a) const { return a + kTranscendental; }
  double Tanh(double a) const { return a + kTranscendental; }
  double Erf(double a) const { return a + kTranscendental; }
};

}  // namespace kiln

#endif  // KILN_IR_ELEMENTWISE_MATH_H_
