#include "codegen/elemental.h"

#include <cmath>
#include <initializer_list>

#include "llvm/IR/Intrinsics.h"

namespace kiln::codegen {
namespace {

// Constants of `like`'s shape: an f32 (or i32) scalar, or a splat vector.
llvm::Constant* F(llvm::Value* like, double v) { return llvm::ConstantFP::get(like->getType(), v); }

llvm::Type* IntTypeOf(llvm::Value* like) {
  llvm::Type* i32 = llvm::Type::getInt32Ty(like->getContext());
  if (auto* vt = llvm::dyn_cast<llvm::FixedVectorType>(like->getType())) {
    return llvm::FixedVectorType::get(i32, vt->getNumElements());
  }
  return i32;
}

llvm::Constant* I(llvm::Type* int_type, int64_t v) { return llvm::ConstantInt::get(int_type, v); }

llvm::Value* Fma(llvm::IRBuilder<>& b, llvm::Value* x, llvm::Value* y, llvm::Value* z) {
  return b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {x->getType()}, {x, y, z});
}

// c[0] * x^(n-1) + ... + c[n-1], by Horner's rule.
llvm::Value* Poly(llvm::IRBuilder<>& b, llvm::Value* x, std::initializer_list<double> c) {
  auto it = c.begin();
  llvm::Value* acc = F(x, *it++);
  for (; it != c.end(); ++it) acc = Fma(b, acc, x, F(x, *it));
  return acc;
}

llvm::Value* IsNaN(llvm::IRBuilder<>& b, llvm::Value* x) { return b.CreateFCmpUNO(x, x); }

}  // namespace

llvm::Value* EmitExp(llvm::IRBuilder<>& b, llvm::Value* x) {
  // e^x = 2^n * e^r with n = round(x / ln 2) and |r| <= ln 2 / 2; r by Cody and Waite's split of
  // ln 2 (its high part has 9 significant bits, so n * hi is exact). e^r = 1 + r + r^2 P(r)
  // with Cephes's minimax P. 2^n is applied as two factors 2^(n/2) and 2^(n - n/2), each a
  // normal float, so results that overflow become +inf and tiny ones round once to denormals.
  llvm::Value* clamped = b.CreateBinaryIntrinsic(
      llvm::Intrinsic::minnum, b.CreateBinaryIntrinsic(llvm::Intrinsic::maxnum, x, F(x, -104.0)),
      F(x, 88.8));
  llvm::Value* n = b.CreateUnaryIntrinsic(llvm::Intrinsic::rint,
                                          b.CreateFMul(clamped, F(x, 1.44269504088896341)));
  llvm::Value* r = Fma(b, n, F(x, -0.693359375), clamped);
  r = Fma(b, n, F(x, 2.12194440e-4), r);
  llvm::Value* p = Poly(b, r,
                        {1.9875691500E-4, 1.3981999507E-3, 8.3334519073E-3, 4.1665795894E-2,
                         1.6666665459E-1, 5.0000001201E-1});
  llvm::Value* r2 = b.CreateFMul(r, r);
  llvm::Value* er = b.CreateFAdd(Fma(b, r2, p, r), F(x, 1.0));
  llvm::Type* it = IntTypeOf(x);
  llvm::Value* ni = b.CreateFPToSI(n, it);
  llvm::Value* half = b.CreateAShr(ni, I(it, 1));
  auto pow2 = [&](llvm::Value* e) {
    return b.CreateBitCast(b.CreateShl(b.CreateAdd(e, I(it, 127)), I(it, 23)), x->getType());
  };
  llvm::Value* result =
      b.CreateFMul(b.CreateFMul(er, pow2(half)), pow2(b.CreateSub(ni, half)), "exp");
  return b.CreateSelect(IsNaN(b, x), x, result);
}

llvm::Value* EmitLog(llvm::IRBuilder<>& b, llvm::Value* x) {
  // x = 2^e * m with m in [sqrt(1/2), sqrt(2)); log x = e ln 2 + log(1 + f), f = m - 1, with
  // log(1 + f) = f - f^2 / 2 + f^3 P(f) (Cephes's minimax P). Denormals are scaled by 2^23 first.
  llvm::Type* it = IntTypeOf(x);
  llvm::Value* denormal = b.CreateFCmpOLT(x, F(x, 1.17549435e-38));
  llvm::Value* scaled = b.CreateSelect(denormal, b.CreateFMul(x, F(x, 8388608.0)), x);
  llvm::Value* bits = b.CreateBitCast(scaled, it);
  llvm::Value* e = b.CreateSub(b.CreateLShr(bits, I(it, 23)), I(it, 126));
  e = b.CreateSub(e, b.CreateSelect(denormal, I(it, 23), I(it, 0)));
  llvm::Value* m = b.CreateBitCast(
      b.CreateOr(b.CreateAnd(bits, I(it, 0x007fffff)), I(it, 0x3f000000)), x->getType());  // [.5,1)
  llvm::Value* low = b.CreateFCmpOLT(m, F(x, 0.707106781186547524));
  e = b.CreateSub(e, b.CreateZExt(low, it));
  llvm::Value* f = b.CreateFSub(b.CreateSelect(low, b.CreateFAdd(m, m), m), F(x, 1.0));
  llvm::Value* fe = b.CreateSIToFP(e, x->getType());
  llvm::Value* z = b.CreateFMul(f, f);
  llvm::Value* p =
      Poly(b, f,
           {7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1, 1.4249322787E-1,
            -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1});
  llvm::Value* y = b.CreateFMul(b.CreateFMul(f, z), p);
  y = Fma(b, fe, F(x, -2.12194440e-4), y);
  y = Fma(b, z, F(x, -0.5), y);
  llvm::Value* result = Fma(b, fe, F(x, 0.693359375), b.CreateFAdd(f, y));
  // Special values: NaN and negatives give NaN, zero gives -inf, +inf stays.
  result = b.CreateSelect(b.CreateFCmpOEQ(x, F(x, INFINITY)), x, result);
  result = b.CreateSelect(b.CreateFCmpOEQ(x, F(x, 0.0)), F(x, -INFINITY), result);
  return b.CreateSelect(b.CreateFCmpULT(x, F(x, 0.0)), F(x, NAN), result, "log");
}

llvm::Value* EmitTanh(llvm::IRBuilder<>& b, llvm::Value* x) {
  llvm::Value* a = b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
  // |x| < 0.625: a + a^3 P(a^2), Cephes's minimax odd polynomial.
  llvm::Value* z = b.CreateFMul(a, a);
  llvm::Value* p = Poly(b, z,
                        {-5.70498872745E-3, 2.06390887954E-2, -5.37397155531E-2, 1.33314422036E-1,
                         -3.33332819422E-1});
  llvm::Value* small = Fma(b, b.CreateFMul(z, a), p, a);
  // Above: 1 - 2 / (e^(2a) + 1), which is 1 once e^(2a) overflows.
  llvm::Value* e = EmitExp(b, b.CreateFAdd(a, a));
  llvm::Value* large = b.CreateFSub(F(x, 1.0), b.CreateFDiv(F(x, 2.0), b.CreateFAdd(e, F(x, 1.0))));
  llvm::Value* r = b.CreateSelect(b.CreateFCmpOLT(a, F(x, 0.625)), small, large);
  return b.CreateBinaryIntrinsic(llvm::Intrinsic::copysign, r, x, nullptr, "tanh");
}

llvm::Value* EmitErf(llvm::IRBuilder<>& b, llvm::Value* x) {
  llvm::Value* a = b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
  // |x| < 1: the Taylor series to x^23, 2/sqrt(pi) sum (-1)^n x^(2n+1) / (n! (2n+1)), whose
  // truncation error is below 1e-10 there.
  llvm::Value* z = b.CreateFMul(x, x);
  llvm::Value* p =
      Poly(b, z,
           {-1.0 / 918086400, 1.0 / 76204800, -1.0 / 6894720, 1.0 / 685440, -1.0 / 75600,
            1.0 / 9360, -1.0 / 1320, 1.0 / 216, -1.0 / 42, 1.0 / 10, -1.0 / 3, 1.0});
  llvm::Value* small = b.CreateFMul(b.CreateFMul(x, F(x, 1.1283791670955126)), p);
  // Above: Abramowitz and Stegun 7.1.26, 1 - t P(t) e^(-x^2) with t = 1 / (1 + 0.3275911 |x|),
  // absolute error below 1.5e-7; e^(-x^2) reaches 0 and the result 1 past |x| = 10.
  llvm::Value* t = b.CreateFDiv(F(x, 1.0), Fma(b, a, F(x, 0.3275911), F(x, 1.0)));
  llvm::Value* q = Poly(b, t, {1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592});
  llvm::Value* e = EmitExp(b, b.CreateFNeg(z));
  llvm::Value* large = b.CreateFSub(F(x, 1.0), b.CreateFMul(b.CreateFMul(t, q), e));
  large = b.CreateBinaryIntrinsic(llvm::Intrinsic::copysign, large, x);
  return b.CreateSelect(b.CreateFCmpOLT(a, F(x, 1.0)), small, large, "erf");
}

namespace {

// The arithmetic of ir/elementwise_math.h as LLVM IR on f32 scalars or vectors of one type.
struct IrMath {
  using Value = llvm::Value*;
  using Mask = llvm::Value*;
  llvm::IRBuilder<>& b;
  llvm::Value* like;  // Constants take its type.
  Value Const(float c) { return F(like, c); }
  Value Add(Value x, Value y) { return b.CreateFAdd(x, y); }
  Value Sub(Value x, Value y) { return b.CreateFSub(x, y); }
  Value Mul(Value x, Value y) { return b.CreateFMul(x, y); }
  Value Div(Value x, Value y) { return b.CreateFDiv(x, y); }
  Value Sqrt(Value x) { return b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, x); }
  Value Neg(Value x) { return b.CreateFNeg(x); }
  Value Abs(Value x) { return b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x); }
  Mask Less(Value x, Value y) { return b.CreateFCmpOLT(x, y); }
  Mask Greater(Value x, Value y) { return b.CreateFCmpOGT(x, y); }
  Mask GreaterEqual(Value x, Value y) { return b.CreateFCmpOGE(x, y); }
  Value Select(Mask m, Value x, Value y) { return b.CreateSelect(m, x, y); }
  Value Exp(Value x) { return EmitExp(b, x); }
  Value Log(Value x) { return EmitLog(b, x); }
  Value Tanh(Value x) { return EmitTanh(b, x); }
  Value Erf(Value x) { return EmitErf(b, x); }
};

}  // namespace

llvm::Value* EmitSigmoid(llvm::IRBuilder<>& b, llvm::Value* x) {
  return EmitElement(b, OpKind::kSigmoid, x, nullptr);
}

llvm::Value* EmitElement(llvm::IRBuilder<>& b, OpKind op, llvm::Value* x, llvm::Value* y) {
  IrMath m{b, x};
  return ApplyElementwise(m, op, x, y);
}

llvm::Value* EmitProgram(llvm::IRBuilder<>& b, const std::vector<ElementwiseInstr>& program,
                         const std::function<llvm::Value*(int)>& input) {
  IrMath m{b, nullptr};
  return RunProgram(m, program, [&](int k) {
    llvm::Value* v = input(k);
    if (m.like == nullptr) m.like = v;  // Every input has one type.
    return v;
  });
}

}  // namespace kiln::codegen
