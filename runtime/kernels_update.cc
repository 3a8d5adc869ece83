// Reference update kernels: Assign, ApplySgd, ApplyAdam, ApplyRmsprop (Keras optimizer
// semantics).
//
// The interpreter runs these after every other node. The first NumMutatedInputs(node.op) inputs
// are Parameters written in place; each element's inputs are all read before any of its outputs
// are written, so a read-only input may alias a mutated one.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "runtime/kernels.h"

namespace kiln::kernels {
namespace {

// var = value (bitwise; var and value may be the same tensor).
void Assign(const std::vector<Tensor*>& in) {
  Tensor* var = in[0];
  if (var->size() > 0) std::memmove(var->raw(), in[1]->raw(), var->bytes());
}

// (param, velocity, grad), attrs lr, momentum, nesterov, weight_decay:
//   if weight_decay > 0: param -= param * weight_decay * lr        (decoupled, applied first)
//   if momentum == 0:    param -= lr * grad                        (velocity untouched)
//   else:                velocity = momentum * velocity - lr * grad
//                        param += nesterov ? momentum * velocity - lr * grad : velocity
// Per element in float, with the attributes rounded to float.
void ApplySgd(const Node& node, const std::vector<Tensor*>& in) {
  const float lr = static_cast<float>(node.GetFloat("lr"));
  const float momentum = static_cast<float>(node.GetFloat("momentum"));
  const bool nesterov = node.GetInt("nesterov") != 0;
  const double weight_decay_attr = node.GetFloat("weight_decay");
  const bool decay = weight_decay_attr > 0.0;
  const float weight_decay = static_cast<float>(weight_decay_attr);
  float* param = in[0]->f32();
  float* velocity = in[1]->f32();
  const float* grad = in[2]->f32();
  const int64_t n = in[0]->size();
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i];
    float p = param[i];
    if (decay) p -= p * weight_decay * lr;
    if (momentum == 0.0f) {
      p -= lr * g;
    } else {
      const float vel = momentum * velocity[i] - lr * g;
      velocity[i] = vel;
      p += nesterov ? momentum * vel - lr * g : vel;
    }
    param[i] = p;
  }
}

// (param, m, v, t, grad), attrs lr, beta1, beta2, epsilon; t is an f32[] holding the 1-based
// step of this update (t = 0 divides by zero: inf/NaN parameters).
//   alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t)                   (double)
//   m += (grad - m) * (1 - beta1); v += (grad^2 - v) * (1 - beta2)   (float)
//   param -= alpha * m / (sqrt(v) + epsilon)                         (float)
void ApplyAdam(const Node& node, const std::vector<Tensor*>& in) {
  const double lr = node.GetFloat("lr");
  const double beta1 = node.GetFloat("beta1");
  const double beta2 = node.GetFloat("beta2");
  const double t = static_cast<double>(in[3]->f32()[0]);
  const float alpha =
      static_cast<float>(lr * std::sqrt(1.0 - std::pow(beta2, t)) / (1.0 - std::pow(beta1, t)));
  const float one_minus_beta1 = static_cast<float>(1.0 - beta1);
  const float one_minus_beta2 = static_cast<float>(1.0 - beta2);
  const float epsilon = static_cast<float>(node.GetFloat("epsilon"));
  float* param = in[0]->f32();
  float* m = in[1]->f32();
  float* v = in[2]->f32();
  const float* grad = in[4]->f32();
  const int64_t n = in[0]->size();
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i];
    const float p = param[i];
    const float mi = m[i] + (g - m[i]) * one_minus_beta1;
    const float vi = v[i] + (g * g - v[i]) * one_minus_beta2;
    m[i] = mi;
    v[i] = vi;
    param[i] = p - alpha * mi / (std::sqrt(vi) + epsilon);
  }
}

// (param, ms, grad), attrs lr, rho, epsilon (Keras's RMSprop without momentum):
//   ms = rho * ms + (1 - rho) * grad^2;  param -= lr * grad / sqrt(ms + epsilon)   (float)
void ApplyRmsprop(const Node& node, const std::vector<Tensor*>& in) {
  const float lr = static_cast<float>(node.GetFloat("lr"));
  const float rho = static_cast<float>(node.GetFloat("rho"));
  const float one_minus_rho = static_cast<float>(1.0 - node.GetFloat("rho"));
  const float epsilon = static_cast<float>(node.GetFloat("epsilon"));
  float* param = in[0]->f32();
  float* ms = in[1]->f32();
  const float* grad = in[2]->f32();
  for (int64_t i = 0; i < in[0]->size(); ++i) {
    const float g = grad[i];
    const float s = rho * ms[i] + one_minus_rho * (g * g);
    ms[i] = s;
    param[i] -= lr * g / std::sqrt(s + epsilon);
  }
}

}  // namespace

// Dispatches on node.op; other ops are never passed here by the interpreter.
void Update(const Node& node, const std::vector<Tensor*>& in) {
  switch (node.op) {
    case OpKind::kAssign:
      return Assign(in);
    case OpKind::kApplySgd:
      return ApplySgd(node, in);
    case OpKind::kApplyAdam:
      return ApplyAdam(node, in);
    case OpKind::kApplyRmsprop:
      return ApplyRmsprop(node, in);
    case OpKind::kFusedMatMulApplyAdam: {  // (p, m, v, t, a, b): the gradient, then Adam.
      Node matmul = node;
      matmul.op = OpKind::kMatMul;
      Tensor grad(in[0]->type());
      MatMul(matmul, {in[4], in[5]}, &grad);
      return ApplyAdam(node, {in[0], in[1], in[2], in[3], &grad});
    }
    default:
      return;
  }
}

}  // namespace kiln::kernels
