// Agreement cases, one op at a time: convolutions and their gradients (stride phases included),
// matmuls, pools, reductions, elementwise ops.
#include "tests/codegen_agreement.h"

namespace kiln::agreement {

std::vector<ConvShape> ConvShapes() {
  return {
      {"Valid3x3_Cin3_Cout5", 2, 9, 9, 3, 3, 3, 5, 1, "valid", false},
      {"Valid3x3_Cin3_Cout5_Bias", 2, 9, 9, 3, 3, 3, 5, 1, "valid", true},
      {"Same3x3_Cin3_Cout20_Bias", 2, 8, 7, 3, 3, 3, 20, 1, "same", true},
      {"Same3x3_Stride2_Cin5_Cout20", 2, 9, 10, 5, 3, 3, 20, 2, "same", false},
      {"Valid3x3_Stride2_Cin16_Cout32_Bias", 2, 11, 11, 16, 3, 3, 32, 2, "valid", true},
      {"Same2x2_Even_Cin4_Cout7", 1, 6, 5, 4, 2, 2, 7, 1, "same", true},
      {"Valid5x5_Cin1_Cout16", 3, 12, 12, 1, 5, 5, 16, 1, "valid", true},
      {"Same1x1_Cin17_Cout3", 2, 5, 5, 17, 1, 1, 3, 1, "same", false},
      {"SeedLayer_Cin32_Cout64", 2, 13, 13, 32, 3, 3, 64, 1, "valid", true},
      // Wide rows: pixel blocks in the padding at both ends, a loop of inside blocks between.
      {"Same3x3_Wide_Cin3_Cout64", 1, 4, 31, 3, 3, 3, 64, 1, "same", true},
      {"Same5x5_Stride2_Wide_Cin2_Cout16", 1, 5, 40, 2, 5, 5, 16, 2, "same", false},
      // Input gradients by stride phases: phases no tap reaches (kernel smaller than the
      // stride), rows and columns past the last window, odd sizes (padding before the first).
      {"Valid1x1_Stride2_Cin8_Cout12_Bias", 2, 9, 8, 8, 1, 1, 12, 2, "valid", true},
      {"Same2x2_Stride3_Cin3_Cout5", 2, 10, 11, 3, 2, 2, 5, 3, "same", false},
      {"Same3x3_Stride2_Odd_Cin4_Cout24_Bias", 2, 7, 9, 4, 3, 3, 24, 2, "same", true},
      {"Valid4x4_Stride2_Cin6_Cout40", 1, 12, 13, 6, 4, 4, 40, 2, "valid", false},
  };
}

void AddConvCases(std::vector<Case>& cases) {
  // A batch big enough for the filter gradient to split it into L2-sized blocks of images (19
  // and a ragged 11 here), summed in order.
  cases.push_back({"Conv2DBackpropFilter_BatchBlocks", kDense, [=](Builder& b) {
                     Attrs a = Window({1, 1}, "valid");
                     a["filter_shape"] = AttrValue::Ints({3, 3, 32, 64});
                     b.Op(OpKind::kConv2DBackpropFilter,
                          {b.F32("x", {30, 13, 13, 32}), b.F32("dy", {30, 11, 11, 64})}, a);
                   }});
  for (const ConvShape& s : ConvShapes()) {
    const int64_t oh = OutSize(s.h, s.kh, s.stride, s.padding);
    const int64_t ow = OutSize(s.w, s.kw, s.stride, s.padding);
    cases.push_back({std::string("Conv2D_") + s.name, kDense, [=](Builder& b) {
                       std::vector<NodeId> in = {b.F32("x", {s.n, s.h, s.w, s.cin}),
                                                 b.F32("w", {s.kh, s.kw, s.cin, s.cout})};
                       if (s.bias) in.push_back(b.F32("bias", {s.cout}));
                       b.Op(OpKind::kConv2D, in, Window({s.stride, s.stride}, s.padding));
                     }});
    cases.push_back(
        {std::string("Conv2DBackpropInput_") + s.name, kDense, [=](Builder& b) {
           Attrs a = Window({s.stride, s.stride}, s.padding);
           a["input_shape"] = AttrValue::Ints({s.n, s.h, s.w, s.cin});
           b.Op(OpKind::kConv2DBackpropInput,
                {b.F32("dy", {s.n, oh, ow, s.cout}), b.F32("w", {s.kh, s.kw, s.cin, s.cout})}, a);
         }});
    cases.push_back(
        {std::string("Conv2DBackpropFilter_") + s.name, kDense, [=](Builder& b) {
           Attrs a = Window({s.stride, s.stride}, s.padding);
           a["filter_shape"] = AttrValue::Ints({s.kh, s.kw, s.cin, s.cout});
           b.Op(OpKind::kConv2DBackpropFilter,
                {b.F32("x", {s.n, s.h, s.w, s.cin}), b.F32("dy", {s.n, oh, ow, s.cout})}, a);
         }});
  }
}

void AddMatMulCases(std::vector<Case>& cases) {
  struct Mm {
    const char* name;
    int64_t m, k, n;
  };
  for (const Mm& s : {Mm{"7x13x5", 7, 13, 5}, Mm{"64x1600x128", 64, 1600, 128},
                      Mm{"1x10x1", 1, 10, 1}, Mm{"33x17x40", 33, 17, 40},
                      Mm{"9x11x80", 9, 11, 80}}) {  // 80: a partial last block of vectors.
    for (int ta = 0; ta < 2; ++ta) {
      for (int tb = 0; tb < 2; ++tb) {
        const std::string name =
            std::string("MatMul_") + s.name + "_T" + std::to_string(ta) + std::to_string(tb);
        cases.push_back(
            {name, kDense, [=](Builder& b) {
               NodeId a = b.F32("a", ta ? Dims{s.k, s.m} : Dims{s.m, s.k});
               NodeId c = b.F32("b", tb ? Dims{s.n, s.k} : Dims{s.k, s.n});
               b.Op(OpKind::kMatMul, {a, c},
                    {{"transpose_a", AttrValue::Int(ta)}, {"transpose_b", AttrValue::Int(tb)}});
             }});
      }
    }
  }
}

struct PoolShape {
  const char* name;
  int64_t n, h, w, c, ph, pw, sh, sw;
  const char* padding;
};

void AddPoolCases(std::vector<Case>& cases) {
  const PoolShape shapes[] = {
      {"2x2_S2_Valid_C5", 2, 8, 8, 5, 2, 2, 2, 2, "valid"},
      {"3x3_S2_Valid_Overlap_C20", 2, 9, 9, 20, 3, 3, 2, 2, "valid"},
      {"3x3_S1_Same_C17", 2, 7, 7, 17, 3, 3, 1, 1, "same"},
      {"2x2_S2_Same_Odd_C16", 2, 7, 7, 16, 2, 2, 2, 2, "same"},
      {"2x3_S1x2_Same_C3", 1, 6, 7, 3, 2, 3, 1, 2, "same"},
      {"3x3_S2_Same_Overlap_C64", 2, 10, 9, 64, 3, 3, 2, 2, "same"},
      {"Seed26_2x2_S2_C64", 4, 26, 26, 64, 2, 2, 2, 2, "valid"},
      {"Seed11_2x2_S2_C64", 4, 11, 11, 64, 2, 2, 2, 2, "valid"},
  };
  for (const PoolShape& s : shapes) {
    const int64_t oh = OutSize(s.h, s.ph, s.sh, s.padding);
    const int64_t ow = OutSize(s.w, s.pw, s.sw, s.padding);
    const Attrs a = Pool({s.ph, s.pw}, {s.sh, s.sw}, s.padding);
    for (bool ties : {false, true}) {
      const std::string suffix = std::string(s.name) + (ties ? "_Ties" : "");
      // Small integers force ties: the first strict max must win in both backends.
      const float lo = ties ? -2 : -1, hi = ties ? 2 : 1;
      cases.push_back(
          {"MaxPool2D_" + suffix, kElementwise, [=](Builder& b) {
             b.Op(OpKind::kMaxPool2D, {b.F32("x", {s.n, s.h, s.w, s.c}, lo, hi, ties)}, a);
           }});
      cases.push_back(
          {"MaxPool2DGrad_" + suffix, kElementwise, [=](Builder& b) {
             b.Op(OpKind::kMaxPool2DGrad,
                  {b.F32("x", {s.n, s.h, s.w, s.c}, lo, hi, ties), b.F32("dy", {s.n, oh, ow, s.c})},
                  a);
           }});
      if (ties) continue;
      cases.push_back({"AvgPool2D_" + suffix, kElementwise, [=](Builder& b) {
                         b.Op(OpKind::kAvgPool2D, {b.F32("x", {s.n, s.h, s.w, s.c})}, a);
                       }});
      cases.push_back({"AvgPool2DGrad_" + suffix, kElementwise, [=](Builder& b) {
                         Attrs ga = a;
                         ga["input_shape"] = AttrValue::Ints({s.n, s.h, s.w, s.c});
                         b.Op(OpKind::kAvgPool2DGrad, {b.F32("dy", {s.n, oh, ow, s.c})}, ga);
                       }});
    }
  }
}

void AddReduceCases(std::vector<Case>& cases) {
  struct R {
    const char* name;
    Dims dims;
    Dims axes;
    int keep;
    double tol;
  };
  const R shapes[] = {
      {"BiasGrad4D", {4, 6, 6, 20}, {0, 1, 2}, 0, kReduction},
      {"BiasGradSeed", {16, 24, 24, 64}, {0, 1, 2}, 0, kDense},
      {"BiasGrad2D", {64, 10}, {0}, 0, kReduction},
      {"Cols1600", {9, 1600}, {0}, 1, kReduction},
      {"LastAxis", {7, 13}, {-1}, 0, kReduction},
      {"LastAxisLong", {3, 1000}, {1}, 1, kReduction},
      {"Middle", {3, 5, 4}, {1}, 0, kReduction},
      {"FirstAndLast", {3, 5, 4}, {0, -1}, 1, kReduction},
      {"All", {6, 7, 8}, {0, 1, 2}, 0, kReduction},
      {"AllKeep", {37}, {0}, 1, kReduction},
      {"NoAxes", {4, 5}, {}, 0, kReduction},
      {"SizeOneAxes", {4, 1, 5, 1}, {1, 3}, 0, kReduction},
  };
  for (OpKind op : {OpKind::kReduceSum, OpKind::kReduceMean, OpKind::kReduceMax}) {
    for (const R& s : shapes) {
      const std::string name = std::string(OpName(op)) + "_" + s.name;
      cases.push_back({name, s.tol, [=](Builder& b) {
                         b.Op(op, {b.F32("x", s.dims, -1, 1, op == OpKind::kReduceMax)},
                              Axes(s.axes, s.keep));
                       }});
    }
  }
  struct A {
    const char* name;
    Dims dims;
    int64_t axis;
    bool i32;
  };
  for (const A& s : {A{"Last", {7, 13}, -1, false}, A{"First", {7, 13}, 0, false},
                     A{"Middle", {3, 5, 4}, 1, false}, A{"I32Ties", {6, 9}, 1, true},
                     A{"F32Ties", {5, 8, 3}, 1, false}, A{"Single", {4, 1}, 1, false}}) {
    cases.push_back({std::string("ArgMax_") + s.name, 0, [=](Builder& b) {
                       const bool ties = std::string(s.name) == "F32Ties";
                       NodeId x =
                           s.i32 ? b.I32("x", s.dims, -2, 2) : b.F32("x", s.dims, -2, 2, ties);
                       b.Op(OpKind::kArgMax, {x}, {{"axis", AttrValue::Int(s.axis)}});
                     }});
  }
  struct S {
    const char* name;
    Dims dims;
    int64_t axis;
  };
  for (const S& s : {S{"Last", {7, 13}, -1}, S{"First", {7, 13}, 0}, S{"Middle", {3, 5, 4}, 1},
                     S{"Wide", {4, 100}, 1}}) {
    cases.push_back(
        {std::string("Softmax_") + s.name, kReduction, [=](Builder& b) {
           b.Op(OpKind::kSoftmax, {b.F32("x", s.dims, -5, 5)}, {{"axis", AttrValue::Int(s.axis)}});
         }});
    cases.push_back(
        {std::string("SoftmaxGrad_") + s.name, kReduction, [=](Builder& b) {
           NodeId x = b.F32("x", s.dims, -3, 3);
           NodeId y = b.Op(OpKind::kSoftmax, {x}, {{"axis", AttrValue::Int(s.axis)}}, false);
           b.Op(OpKind::kSoftmaxGrad, {y, b.F32("dy", s.dims)}, {{"axis", AttrValue::Int(s.axis)}});
         }});
  }
  for (bool bad : {false, true}) {
    const std::string suffix = bad ? "_BadLabels" : "";
    auto labels = [bad](Builder& b, int64_t batch, int64_t classes) {
      NodeId id = b.I32("labels", {batch}, 0, static_cast<int32_t>(classes - 1));
      if (bad) {  // One label below range, one past it: those rows give NaN, never a stray read.
        b.feeds.back().second.i32()[1] = -1;
        b.feeds.back().second.i32()[3] = static_cast<int32_t>(classes);
      }
      return id;
    };
    cases.push_back(
        {"SoftmaxCrossEntropy" + suffix, kReduction, [=](Builder& b) {
           b.Op(OpKind::kSoftmaxCrossEntropy, {b.F32("logits", {8, 10}, -4, 4), labels(b, 8, 10)});
         }});
    cases.push_back({"SoftmaxCrossEntropyGrad" + suffix, kReduction, [=](Builder& b) {
                       NodeId lg = b.F32("logits", {8, 10}, -4, 4);
                       b.Op(OpKind::kSoftmaxCrossEntropyGrad,
                            {lg, labels(b, 8, 10), b.F32("dloss", {}, 0.5, 2)});
                     }});
  }
  cases.push_back({"SoftmaxCrossEntropy_Batch64", kReduction, [=](Builder& b) {
                     NodeId lg = b.F32("logits", {64, 10}, -4, 4);
                     NodeId lb = b.I32("labels", {64}, 0, 9);
                     b.Op(OpKind::kSoftmaxCrossEntropy, {lg, lb});
                     b.Op(OpKind::kSoftmaxCrossEntropyGrad, {lg, lb, b.F32("dloss", {}, 1, 1)});
                   }});
}

void AddElementwiseCases(std::vector<Case>& cases) {
  const Dims d = {5, 17, 3};
  for (OpKind op : {OpKind::kAdd, OpKind::kSub, OpKind::kMul, OpKind::kDiv}) {
    const std::string n = OpName(op);
    cases.push_back({n + "_F32", kElementwise, [=](Builder& b) {
                       b.Op(op, {b.F32("a", d), b.F32("b", d, 0.5, 2)});
                     }});
    cases.push_back({n + "_ScalarRhs", kElementwise, [=](Builder& b) {
                       b.Op(op, {b.F32("a", d), b.F32("b", {}, 0.5, 2)});
                     }});
    cases.push_back({n + "_ScalarLhs", kElementwise, [=](Builder& b) {
                       b.Op(op, {b.F32("a", {}, 0.5, 2), b.F32("b", d, 0.5, 2)});
                     }});
    cases.push_back({n + "_BothScalar", kElementwise, [=](Builder& b) {
                       b.Op(op, {b.F32("a", {}), b.F32("b", {}, 0.5, 2)});
                     }});
    cases.push_back({n + "_I32", 0, [=](Builder& b) {  // Div: includes x / 0 (= 0).
                       b.Op(op, {b.I32("a", d, -1000, 1000), b.I32("b", d, -3, 3)});
                     }});
    cases.push_back({n + "_I32ScalarRhs", 0, [=](Builder& b) {
                       b.Op(op, {b.I32("a", d, -1000, 1000), b.I32("b", {}, -3, -3)});
                     }});
  }
  cases.push_back({"Div_I32_MinByMinusOne", 0, [=](Builder& b) {
                     NodeId a = b.I32("a", {4}, std::numeric_limits<int32_t>::min(),
                                      std::numeric_limits<int32_t>::min());
                     b.Op(OpKind::kDiv, {a, b.I32("b", {4}, -1, -1)});
                   }});
  cases.push_back({"Equal_F32", 0, [=](Builder& b) {
                     b.Op(OpKind::kEqual, {b.F32("a", d, -2, 2, true), b.F32("b", d, -2, 2, true)});
                   }});
  cases.push_back({"Equal_I32", 0, [=](Builder& b) {
                     b.Op(OpKind::kEqual, {b.I32("a", {100}, 0, 3), b.I32("b", {100}, 0, 3)});
                   }});
  // Every activation and activation gradient of ops.def; a gradient's first operand (the
  // forward input or output) is drawn over [-4, 4], which covers both kinds' ranges.
  for (int k = 0; k < kNumOpKinds; ++k) {
    const OpKind op = static_cast<OpKind>(k);
    const ElementwiseCategory category = GetOpInfo(op).category;
    if (category == ElementwiseCategory::kActivation) {
      cases.push_back({std::string(OpName(op)) + "_20000", kElementwise,
                       [=](Builder& b) { b.Op(op, {b.F32("x", {20000}, -8, 8)}); }});
      cases.push_back({std::string(OpName(op)) + "_Odd", kElementwise, [=](Builder& b) {
                         b.Op(op, {b.F32("x", {3, 7}, -30, 30)});
                       }});
    } else if (category == ElementwiseCategory::kMath) {  // Positive inputs (rsqrt).
      cases.push_back({std::string(OpName(op)) + "_Positive", kElementwise,
                       [=](Builder& b) { b.Op(op, {b.F32("x", {4099}, 1e-3f, 1e3f)}); }});
    } else if (category == ElementwiseCategory::kActivationGrad) {
      cases.push_back({OpName(op), kElementwise, [=](Builder& b) {
                         b.Op(op, {b.F32("a", {9001}, -4, 4), b.F32("dy", {9001})});
                       }});
    }
  }
  // Dropout masks bit for bit: a tensor that ends in a partial vector, several steps (one out
  // of range, counted as 0), and the identity that Dropout is outside training.
  for (float step : {0.0f, 7.0f, 123456.0f, -3.0f}) {
    for (double rate : {0.3, 0.75}) {
      const std::string at = step < 0 ? "Minus" + std::to_string(static_cast<int>(-step))
                                      : std::to_string(static_cast<int>(step));
      cases.push_back(
          {"DropoutMask_Step" + at + "_Rate" + std::to_string(static_cast<int>(rate * 100)), 0,
           [=](Builder& b) {
             b.Op(OpKind::kDropoutMask, {b.F32("step", {}, step, step)},
                  {{"rate", AttrValue::Float(rate)},
                   {"seed", AttrValue::Int(4242)},
                   {"shape", AttrValue::Ints({3, 1001})}});
           }});
    }
  }
  cases.push_back({"Dropout_Identity", 0, [=](Builder& b) {
                     b.Op(OpKind::kDropout, {b.F32("x", {4, 33})},
                          {{"rate", AttrValue::Float(0.5)}, {"seed", AttrValue::Int(3)}});
                   }});
  cases.push_back({"BiasAdd_3D", kElementwise, [=](Builder& b) {
                     b.Op(OpKind::kBiasAdd, {b.F32("x", {3, 7, 20}), b.F32("b", {20})});
                   }});
  cases.push_back({"BiasAdd_Dense", kElementwise, [=](Builder& b) {
                     b.Op(OpKind::kBiasAdd, {b.F32("x", {64, 10}), b.F32("b", {10})});
                   }});
  cases.push_back({"Broadcast_Middle", 0, [=](Builder& b) {
                     b.Op(OpKind::kBroadcast, {b.F32("x", {3, 4})},
                          {{"shape", AttrValue::Ints({3, 5, 4})}, {"axes", AttrValue::Ints({1})}});
                   }});
  cases.push_back(
      {"Broadcast_Outer_I32", 0, [=](Builder& b) {
         b.Op(OpKind::kBroadcast, {b.I32("x", {5}, -9, 9)},
              {{"shape", AttrValue::Ints({2, 5, 3})}, {"axes", AttrValue::Ints({0, -1})}});
       }});
  cases.push_back({"Reshape_Constant_Add", 0, [=](Builder& b) {
                     auto c = b.g.AddSource(OpKind::kConstant, "c", TensorType{DType::kF32, {2, 3}},
                                            {{"value", AttrValue::Floats({1, 2, 3, 4, 5, 6})}});
                     NodeId r = b.Op(OpKind::kReshape, {b.F32("x", {3, 2})},
                                     {{"shape", AttrValue::Ints({2, 3})}}, false);
                     b.Op(OpKind::kAdd, {r, *c});
                   }});
}

}  // namespace kiln::agreement
