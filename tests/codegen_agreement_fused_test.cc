// Agreement cases for updates, fused updates, special values (NaN, infinities) and fused kernels.
#include "tests/codegen_agreement.h"

namespace kiln::agreement {

void AddUpdateCases(std::vector<Case>& cases) {
  const Dims d = {5, 7};
  cases.push_back({"Assign", kElementwise, [=](Builder& b) {
                     b.Op(OpKind::kAssign, {b.Param("p", d), b.F32("v", d)}, {}, false);
                     b.compare = {"p"};
                     b.steps = 2;
                   }});
  struct Sgd {
    const char* name;
    float momentum;
    int nesterov;
    float decay;
  };
  for (const Sgd& s : {Sgd{"Plain", 0, 0, 0}, Sgd{"Momentum", 0.9f, 0, 0},
                       Sgd{"Nesterov", 0.9f, 1, 0}, Sgd{"WeightDecay", 0.9f, 0, 0.01f}}) {
    cases.push_back({std::string("ApplySgd_") + s.name, kElementwise, [=](Builder& b) {
                       b.Op(OpKind::kApplySgd, {b.Param("p", d), b.Param("vel", d), b.F32("g", d)},
                            {{"lr", AttrValue::Float(0.1)},
                             {"momentum", AttrValue::Float(s.momentum)},
                             {"nesterov", AttrValue::Int(s.nesterov)},
                             {"weight_decay", AttrValue::Float(s.decay)}},
                            false);
                       b.compare = {"p", "vel"};
                       b.steps = 2;
                     }});
  }
  cases.push_back({"ApplyRmsprop", kElementwise, [=](Builder& b) {
                     b.Op(OpKind::kApplyRmsprop,
                          {b.Param("p", d), b.Param("ms", d, 0, 1), b.F32("g", d)},
                          {{"lr", AttrValue::Float(0.001)},
                           {"rho", AttrValue::Float(0.9)},
                           {"epsilon", AttrValue::Float(1e-7)}},
                          false);
                     b.compare = {"p", "ms"};
                     b.steps = 2;
                   }});
  cases.push_back(
      {"ApplyAdam", kElementwise, [=](Builder& b) {
         NodeId t = b.F32("t", {}, 1, 1);
         b.Op(OpKind::kApplyAdam,
              {b.Param("p", d), b.Param("m", d), b.Param("v", d, 0, 1), t, b.F32("g", d)},
              {{"lr", AttrValue::Float(0.01)},
               {"beta1", AttrValue::Float(0.9)},
               {"beta2", AttrValue::Float(0.999)},
               {"epsilon", AttrValue::Float(1e-7)}},
              false);
         b.compare = {"p", "m", "v"};
         b.steps = 2;
         b.per_step = [](int step, Feeds& feeds) {
           for (auto& [name, tensor] : feeds) {
             if (name == "t") tensor.f32()[0] = static_cast<float>(step + 1);
             // Parameters are fed only once: later steps must see the updated values.
           }
           feeds.erase(std::remove_if(feeds.begin(), feeds.end(),
                                      [](const auto& f) {
                                        return f.first == "p" || f.first == "m" || f.first == "v";
                                      }),
                       feeds.end());
         };
       }});
}

// Adam in a matmul's epilogue: p [13, 37] (three column vectors, the last partial with 16 lanes).
void AddFusedUpdateCases(std::vector<Case>& cases) {
  for (int steps : {1, 2}) {
    for (int ta = 0; ta < 2; ++ta) {
      for (int tb = 0; tb < 2; ++tb) {
        cases.push_back({"FusedMatMulApplyAdam_T" + std::to_string(ta) + std::to_string(tb) +
                             "_Steps" + std::to_string(steps),
                         kDense, [=](Builder& b) {
                           const Dims d = {13, 37};
                           std::vector<NodeId> in = {b.Param("p", d), b.Param("m", d),
                                                     b.Param("v", d, 0, 1), b.F32("t", {}, 1, 1)};
                           in.push_back(b.F32("a", ta ? Dims{9, 13} : Dims{13, 9}));
                           in.push_back(b.F32("b", tb ? Dims{37, 9} : Dims{9, 37}));
                           b.Op(OpKind::kFusedMatMulApplyAdam, in,
                                {{"transpose_a", AttrValue::Int(ta)},
                                 {"transpose_b", AttrValue::Int(tb)},
                                 {"lr", AttrValue::Float(0.01)},
                                 {"beta1", AttrValue::Float(0.9)},
                                 {"beta2", AttrValue::Float(0.999)},
                                 {"epsilon", AttrValue::Float(1e-7)}},
                                false);
                           b.compare = {"p", "m", "v"};
                           b.steps = steps;
                           b.per_step = [](int step, Feeds& feeds) {
                             for (auto& [name, tensor] : feeds) {
                               if (name == "t") tensor.f32()[0] = static_cast<float>(step + 1);
                             }
                             feeds.erase(std::remove_if(feeds.begin(), feeds.end(),
                                                        [](const auto& f) {
                                                          return f.first == "p" || f.first == "m" ||
                                                                 f.first == "v";
                                                        }),
                                         feeds.end());
                           };
                         }});
      }
    }
  }
}

// NaN and infinities: max-style ops ignore NaN (a strict `>` never picks it), sums propagate it.
void AddSpecialValueCases(std::vector<Case>& cases) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  // x [1,4,4,3]: window (0,0) of channel 0 all -inf; channel 1 NaN first then values; channel 2
  // of window (1,1) all NaN; a +inf elsewhere.
  auto plant = [=](Builder& b) {
    for (int64_t cell : {0, 1, 4, 5}) b.Set("x", cell * 3 + 0, -inf);
    b.Set("x", 0 * 3 + 1, nan);
    for (int64_t cell : {10, 11, 14, 15}) b.Set("x", cell * 3 + 2, nan);
    b.Set("x", 7 * 3 + 0, inf);
  };
  for (const char* padding : {"valid", "same"}) {
    const Attrs a = Pool({2, 2}, {2, 2}, padding);
    const Attrs o = Pool({3, 3}, {1, 1}, padding);
    const std::string p = padding;
    cases.push_back({"MaxPool2D_Special_" + p, 0, [=](Builder& b) {
                       NodeId x = b.F32("x", {1, 4, 4, 3});
                       plant(b);
                       b.Op(OpKind::kMaxPool2D, {x}, a);
                       b.Op(OpKind::kMaxPool2D, {x}, o);
                     }});
    cases.push_back({"MaxPool2DGrad_Special_" + p, 0, [=](Builder& b) {
                       NodeId x = b.F32("x", {1, 4, 4, 3});
                       plant(b);
                       b.Op(OpKind::kMaxPool2DGrad, {x, b.F32("dy", {1, 2, 2, 3})}, a);
                       const int64_t oh = OutSize(4, 3, 1, padding);
                       b.Op(OpKind::kMaxPool2DGrad, {x, b.F32("dy3", {1, oh, oh, 3})}, o);
                     }});
    cases.push_back({"AvgPool2D_Special_" + p, 0, [=](Builder& b) {
                       NodeId x = b.F32("x", {1, 4, 4, 3});
                       plant(b);
                       b.Op(OpKind::kAvgPool2D, {x}, a);
                     }});
  }
  cases.push_back(
      {"Reductions_Special", kReduction, [=](Builder& b) {
         NodeId x = b.F32("x", {6, 40});
         b.Set("x", 3, nan);             // Row 0, column 3.
         b.Set("x", 40 + 17, inf);       // Row 1.
         b.Set("x", 2 * 40 + 39, -inf);  // Row 2, the tail after the vector part.
         for (int64_t j = 0; j < 40; ++j) b.Set("x", 4 * 40 + j, nan);  // Row 4 all NaN.
         for (OpKind op : {OpKind::kReduceSum, OpKind::kReduceMean, OpKind::kReduceMax}) {
           b.Op(op, {x}, Axes({1}, 0));
           b.Op(op, {x}, Axes({0}, 0));
           b.Op(op, {x}, Axes({0, 1}, 0));
         }
         b.Op(OpKind::kArgMax, {x}, {{"axis", AttrValue::Int(1)}});
         b.Op(OpKind::kArgMax, {x}, {{"axis", AttrValue::Int(0)}});
         b.Op(OpKind::kSoftmax, {x}, {{"axis", AttrValue::Int(1)}});
       }});
}

// The fused groups the fusion pass creates, as IR nodes, with epilogues on odd shapes.
void AddFusedCases(std::vector<Case>& cases) {
  for (const ConvShape& s : ConvShapes()) {
    // Epilogues: ReLU; a residual add then tanh; a scalar scale then sigmoid; GELU keeping
    // the conv result beside it (keep = 1).
    const std::vector<std::pair<const char*, const char*>> epilogues = {
        {"Relu", "in0 relu"},
        {"AddTanh", "in0 in1 add tanh"},
        {"ScaleSigmoid", "in1 in0 mul sigmoid"},
        {"GeluKeep", "in0 gelu"}};
    for (const auto& [label, program] : epilogues) {
      const std::string e = program;
      const bool scalar = e.find("mul") != std::string::npos;
      const bool extra = e.find("in1") != std::string::npos;
      cases.push_back({std::string("FusedConv2D_") + label + "_" + s.name, kDense, [=](Builder& b) {
                         std::vector<NodeId> in = {b.F32("x", {s.n, s.h, s.w, s.cin}),
                                                   b.F32("w", {s.kh, s.kw, s.cin, s.cout})};
                         if (s.bias) in.push_back(b.F32("bias", {s.cout}));
                         const Dims y = {s.n, OutSize(s.h, s.kh, s.stride, s.padding),
                                         OutSize(s.w, s.kw, s.stride, s.padding), s.cout};
                         if (extra) in.push_back(b.F32("extra", scalar ? Dims{} : y, -2, 2));
                         Attrs a = Window({s.stride, s.stride}, s.padding);
                         a["epilogue"] = AttrValue::Str(e);
                         a["keep"] = AttrValue::Int(e == "in0 gelu");
                         b.Op(OpKind::kFusedConv2D, in, a);
                       }});
    }
  }
  // Max pooling in the conv epilogue, keeping nothing, the conv result or the routes.
  auto conv_pool = [&](const std::string& name, const ConvShape& s, Dims pool,
                       const std::string& keep) {
    cases.push_back({"FusedConv2DMaxPool_" + std::to_string(pool[0]) + "x" +
                         std::to_string(pool[1]) + "_Keep_" + keep + "_" + name,
                     kDense, [=](Builder& b) {
                       std::vector<NodeId> in = {b.F32("x", {s.n, s.h, s.w, s.cin}),
                                                 b.F32("w", {s.kh, s.kw, s.cin, s.cout})};
                       if (s.bias) in.push_back(b.F32("bias", {s.cout}));
                       Attrs a = Window({s.stride, s.stride}, s.padding);
                       a["activation"] = AttrValue::Str(s.bias ? "relu" : "none");
                       a["pool"] = AttrValue::Ints(pool);
                       a["keep"] = AttrValue::Str(keep);
                       b.Op(OpKind::kFusedConv2DMaxPool, in, a);
                     }});
  };
  for (const ConvShape& s : ConvShapes()) {
    const int64_t oh = OutSize(s.h, s.kh, s.stride, s.padding);
    const int64_t ow = OutSize(s.w, s.kw, s.stride, s.padding);
    for (const Dims& pool : {Dims{2, 2}, Dims{3, 2}}) {
      if (oh < pool[0] || ow < pool[1]) continue;
      for (const char* keep : {"none", "conv", "routes"}) conv_pool(s.name, s, pool, keep);
    }
  }
  // Rows of windows too wide for the kernel's stack tile (the conv rows go to scratch).
  conv_pool("WideRows", {"", 1, 5, 72, 1, 3, 3, 130, 1, "valid", true}, {2, 2}, "none");
  conv_pool("WideRows", {"", 1, 5, 72, 1, 3, 3, 130, 1, "valid", true}, {2, 2}, "routes");
  // The first layer's backward pass: pooling gradient, ReLU mask, filter and bias gradients.
  for (const ConvShape& s : ConvShapes()) {
    const int64_t oh = OutSize(s.h, s.kh, s.stride, s.padding);
    const int64_t ow = OutSize(s.w, s.kw, s.stride, s.padding);
    for (const Dims& pool : {Dims{2, 2}, Dims{3, 2}}) {
      if (oh < pool[0] || ow < pool[1]) continue;
      const int64_t ph = oh / pool[0], pw = ow / pool[1];
      for (const char* source : {"conv", "routes"}) {
        cases.push_back(
            {"FusedConvPoolFilterGrad_" + std::to_string(pool[0]) + "x" + std::to_string(pool[1]) +
                 "_" + source + "_" + s.name,
             kDense, [=](Builder& b) {
               Attrs a = Window({s.stride, s.stride}, s.padding);
               a["filter_shape"] = AttrValue::Ints({s.kh, s.kw, s.cin, s.cout});
               a["pool"] = AttrValue::Ints(pool);
               a["source"] = AttrValue::Str(source);
               const bool routes = std::string(source) == "routes";
               // Routes: a window cell index, or -1.
               NodeId y = routes ? b.F32("routes", {s.n, ph, pw, s.cout}, -1, pool[0] * pool[1] - 1,
                                         /*ints=*/true)
                                 : b.F32("y", {s.n, oh, ow, s.cout});
               b.Op(OpKind::kFusedConvPoolFilterGrad,
                    {b.F32("x", {s.n, s.h, s.w, s.cin}), y, b.F32("dpool", {s.n, ph, pw, s.cout})},
                    a);
             }});
      }
    }
  }
  // The routes the forward kernel keeps, read by the backward kernel (the seed CNN's first
  // layer, with integer inputs so that windows hold exact ties).
  cases.push_back(
      {"FusedConv2DMaxPool_Routes_To_FusedConvPoolFilterGrad", kDense, [](Builder& b) {
         NodeId x = b.F32("x", {3, 12, 12, 1}, -2, 2, /*ints=*/true);
         NodeId w = b.F32("w", {3, 3, 1, 20}, -1, 1, /*ints=*/true);
         Attrs a = Window({1, 1}, "valid");
         a["activation"] = AttrValue::Str("relu");
         a["pool"] = AttrValue::Ints({2, 2});
         a["keep"] = AttrValue::Str("routes");
         NodeId fwd =
             b.Op(OpKind::kFusedConv2DMaxPool, {x, w, b.F32("b", {20}, -1, 1, /*ints=*/true)}, a);
         NodeId routes = b.Op(OpKind::kView, {fwd},
                              {{"offset", AttrValue::Int(3 * 5 * 5 * 20)},
                               {"shape", AttrValue::Ints({3, 5, 5, 20})}},
                              /*output=*/false);
         Attrs g = Window({1, 1}, "valid");
         g["filter_shape"] = AttrValue::Ints({3, 3, 1, 20});
         g["pool"] = AttrValue::Ints({2, 2});
         g["source"] = AttrValue::Str("routes");
         b.Op(OpKind::kFusedConvPoolFilterGrad, {x, routes, b.F32("dpool", {3, 5, 5, 20})}, g);
       }});
  // The pool gradient from kept routes, including rows and columns outside every window.
  const struct {
    const char* name;
    Dims shape, pool;
  } routed[] = {{"Seed11_2x2_C64", {3, 11, 11, 64}, {2, 2}},
                {"Odd_3x2_C20", {2, 7, 9, 20}, {3, 2}},
                {"Exact_2x2_C5", {2, 4, 4, 5}, {2, 2}}};
  for (const auto& r : routed) {
    cases.push_back(
        {std::string("RoutedMaxPool2DGrad_") + r.name, kElementwise, [=](Builder& b) {
           const Dims p = {r.shape[0], r.shape[1] / r.pool[0], r.shape[2] / r.pool[1], r.shape[3]};
           b.Op(OpKind::kRoutedMaxPool2DGrad,
                {b.F32("routes", p, -1, r.pool[0] * r.pool[1] - 1, /*ints=*/true),
                 b.F32("dpool", p)},
                {{"pool", AttrValue::Ints(r.pool)}, {"input_shape", AttrValue::Ints(r.shape)}});
         }});
  }
  const std::vector<std::pair<const char*, const char*>> dense_epilogues = {
      {"none", "in0"},
      {"relu", "in0 relu"},
      {"tanh", "in0 tanh"},
      {"addsigmoid", "in0 in1 add sigmoid"},
      {"swishkeep", "in0 swish"}};
  for (const auto& [label, program] : dense_epilogues) {
    const std::string e = program;
    for (int tb = 0; tb < 2; ++tb) {
      cases.push_back({std::string("FusedDense_") + label + "_T0" + std::to_string(tb), kDense,
                       [=](Builder& b) {
                         NodeId x = b.F32("x", {9, 21});
                         NodeId w = b.F32("w", tb ? Dims{37, 21} : Dims{21, 37});
                         std::vector<NodeId> in = {x, w, b.F32("bias", {37})};
                         if (e.find("in1") != std::string::npos)
                           in.push_back(b.F32("extra", {9, 37}));
                         b.Op(OpKind::kFusedDense, in,
                              {{"transpose_a", AttrValue::Int(0)},
                               {"transpose_b", AttrValue::Int(tb)},
                               {"epilogue", AttrValue::Str(e)},
                               {"keep", AttrValue::Int(e == "in0 swish")}});
                       }});
    }
  }
  // The backward matmul masked by the forward activation (no bias; y is the extra).
  for (const char* mask : {"relu_grad", "tanh_grad", "sigmoid_grad"}) {
    for (int ta = 0; ta < 2; ++ta) {
      cases.push_back({std::string("FusedDense_Mask_") + mask + "_T" + std::to_string(ta) + "1",
                       kDense, [=](Builder& b) {
                         NodeId a = b.F32("a", ta ? Dims{13, 11} : Dims{11, 13});
                         NodeId c = b.F32("b", {19, 13});
                         b.Op(OpKind::kFusedDense, {a, c, b.F32("y", {11, 19})},
                              {{"transpose_a", AttrValue::Int(ta)},
                               {"transpose_b", AttrValue::Int(1)},
                               {"epilogue", AttrValue::Str(std::string("in1 in0 ") + mask)},
                               {"keep", AttrValue::Int(0)}});
                       }});
    }
  }
  for (const char* padding : {"valid", "same"}) {
    cases.push_back(
        {std::string("FusedMaxPool2DGrad_3x3_S2_") + padding, kElementwise, [=](Builder& b) {
           const int64_t oh = OutSize(9, 3, 2, padding);
           b.Op(OpKind::kFusedMaxPool2DGrad,
                {b.F32("x", {2, 9, 9, 20}), b.F32("dy", {2, oh, oh, 20})},
                Pool({3, 3}, {2, 2}, padding));
         }});
  }
  // Loss and gradient in one kernel, and the Views the fuser gives the two results.
  cases.push_back({"SoftmaxCrossEntropyWithGrad", kReduction, [=](Builder& b) {
                     NodeId sce = b.Op(OpKind::kSoftmaxCrossEntropyWithGrad,
                                       {b.F32("logits", {13, 10}, -4, 4),
                                        b.I32("labels", {13}, 0, 9), b.F32("dloss", {}, 0.5, 2)});
                     b.Op(OpKind::kView, {sce},
                          {{"offset", AttrValue::Int(0)}, {"shape", AttrValue::Ints({13, 10})}});
                     b.Op(OpKind::kView, {sce},
                          {{"offset", AttrValue::Int(130)}, {"shape", AttrValue::Ints({})}});
                   }});
  for (const char* program : {"in0 in1 mul in2 add relu", "in0 sigmoid in1 sigmoid_grad",
                              "in0 in1 tanh_grad in2 div in0 relu_grad", "in0 tanh in2 sub"}) {
    cases.push_back(
        {std::string("Elementwise_") + std::to_string(cases.size()), kElementwise, [=](Builder& b) {
           NodeId x = b.F32("x", {3, 7, 5});
           NodeId y = b.F32("y", {3, 7, 5});
           NodeId z = b.F32("z", {}, 1, 2);  // A scalar operand, broadcast.
           b.Op(OpKind::kElementwise, {x, y, z}, {{"program", AttrValue::Str(program)}});
         }});
  }
}

}  // namespace kiln::agreement
