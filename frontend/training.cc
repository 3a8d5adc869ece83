#include "frontend/training.h"

#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "autodiff/differentiate.h"
#include "codegen/jit.h"
#include "frontend/model.h"
#include "ir/passes/dce.h"
#include "ir/status.h"
#include "runtime/interpreter.h"

namespace kiln {

Optimizer Optimizer::Sgd(double learning_rate, double momentum, bool nesterov,
                         double weight_decay) {
  Optimizer o;
  o.kind = Kind::kSgd;
  o.learning_rate = learning_rate;
  o.momentum = momentum;
  o.nesterov = nesterov;
  o.weight_decay = weight_decay;
  return o;
}

Optimizer Optimizer::Adam(double learning_rate, double beta1, double beta2, double epsilon) {
  Optimizer o;
  o.kind = Kind::kAdam;
  o.learning_rate = learning_rate;
  o.beta1 = beta1;
  o.beta2 = beta2;
  o.epsilon = epsilon;
  return o;
}

Optimizer Optimizer::Rmsprop(double learning_rate, double rho, double epsilon) {
  Optimizer o;
  o.kind = Kind::kRmsprop;
  o.learning_rate = learning_rate;
  o.rho = rho;
  o.epsilon = epsilon;
  return o;
}

std::string Optimizer::Describe() const {
  if (kind == Kind::kAdam) return absl::StrFormat("adam(lr=%g)", learning_rate);
  if (kind == Kind::kRmsprop) return absl::StrFormat("rmsprop(lr=%g, rho=%g)", learning_rate, rho);
  return absl::StrFormat("sgd(lr=%g, momentum=%g%s)", learning_rate, momentum,
                         nesterov ? ", nesterov" : "");
}

const char* BackendName(Backend backend) {
  switch (backend) {
    case Backend::kJit:
      return "jit";
    case Backend::kInterpreter:
      return "interpreter";
  }
  return "?";
}

absl::StatusOr<Backend> ParseBackend(const std::string& name) {
  if (name == "jit") return Backend::kJit;
  if (name == "interpreter" || name == "interp") return Backend::kInterpreter;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown backend '", name, "' (jit or interpreter)"));
}

absl::StatusOr<std::unique_ptr<Executable>> CreateExecutable(Graph graph, Backend backend,
                                                             int threads) {
  switch (backend) {
    case Backend::kJit: {
      JitOptions options;
      options.threads = threads > 0
                            ? threads
                            : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
      KILN_ASSIGN_OR_RETURN(std::unique_ptr<JitExecutable> jit,
                            CreateJit(std::move(graph), options));
      return std::unique_ptr<Executable>(std::move(jit));
    }
    case Backend::kInterpreter:
      return CreateInterpreter(std::move(graph));
  }
  return absl::InvalidArgumentError("unknown backend");
}

namespace {

struct LossGraph {
  Graph graph;
  NodeId loss = -1;
};

// Forward graph plus labels, loss and accuracy.
// Keras's binary cross-entropy on a sigmoid output, from its logits z (stable for any z):
// mean(softplus(z) - z * y), y the 0/1 labels; binary accuracy: (z >= 0) == y.
absl::StatusOr<LossGraph> BuildBinaryLoss(ForwardGraph fwd, int64_t batch) {
  Graph& g = fwd.graph;
  const NodeId logit_node = g.node(fwd.output).inputs[0];
  KILN_ASSIGN_OR_RETURN(NodeId labels,
                        g.AddSource(OpKind::kInput, "label", {DType::kI32, {batch}}));
  KILN_ASSIGN_OR_RETURN(
      NodeId ones, g.AddSource(OpKind::kConstant, "loss/ones", {DType::kI32, {batch}},
                               {{"value", AttrValue::Floats(std::vector<float>(batch, 1.0f))}}));
  KILN_ASSIGN_OR_RETURN(NodeId y, g.AddOp(OpKind::kEqual, "loss/y", {labels, ones}));
  KILN_ASSIGN_OR_RETURN(NodeId z, g.AddOp(OpKind::kReshape, "loss/z", {logit_node},
                                          {{"shape", AttrValue::Ints({batch})}}));
  KILN_ASSIGN_OR_RETURN(NodeId sp, g.AddOp(OpKind::kSoftplus, "loss/softplus", {z}));
  KILN_ASSIGN_OR_RETURN(NodeId zy, g.AddOp(OpKind::kMul, "loss/zy", {z, y}));
  KILN_ASSIGN_OR_RETURN(NodeId per, g.AddOp(OpKind::kSub, "loss/per_example", {sp, zy}));
  const Attrs mean = {{"axes", AttrValue::Ints({0})}, {"keepdims", AttrValue::Int(0)}};
  KILN_ASSIGN_OR_RETURN(NodeId loss, g.AddOp(OpKind::kReduceMean, "loss", {per}, mean));
  // z >= 0 exactly where relu(z) == z.
  KILN_ASSIGN_OR_RETURN(NodeId rz, g.AddOp(OpKind::kRelu, "predicted/relu", {z}));
  KILN_ASSIGN_OR_RETURN(NodeId predicted, g.AddOp(OpKind::kEqual, "predicted", {rz, z}));
  KILN_ASSIGN_OR_RETURN(NodeId correct, g.AddOp(OpKind::kEqual, "correct", {predicted, y}));
  KILN_ASSIGN_OR_RETURN(NodeId accuracy, g.AddOp(OpKind::kReduceMean, "accuracy", {correct}, mean));
  g.set_outputs({loss, accuracy});
  return LossGraph{std::move(g), loss};
}

absl::StatusOr<LossGraph> BuildLoss(const Model& model, int64_t batch, GraphForm form) {
  KILN_ASSIGN_OR_RETURN(ForwardGraph fwd, model.Build(batch, form));
  if (model.training_config().loss == "binary_crossentropy") {
    if (fwd.graph.node(fwd.output).op != OpKind::kSigmoid) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model '", model.name(), "': binary_crossentropy needs a last layer with sigmoid"));
    }
    return BuildBinaryLoss(std::move(fwd), batch);
  }
  if (fwd.logits < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model '", model.name(),
                     "': sparse categorical cross-entropy needs a last layer with softmax"));
  }
  Graph& g = fwd.graph;
  KILN_ASSIGN_OR_RETURN(NodeId labels,
                        g.AddSource(OpKind::kInput, "label", {DType::kI32, {batch}}));
  KILN_ASSIGN_OR_RETURN(NodeId loss,
                        g.AddOp(OpKind::kSoftmaxCrossEntropy, "loss", {fwd.logits, labels}));
  KILN_ASSIGN_OR_RETURN(NodeId predicted, g.AddOp(OpKind::kArgMax, "predicted", {fwd.logits},
                                                  {{"axis", AttrValue::Int(-1)}}));
  KILN_ASSIGN_OR_RETURN(NodeId correct, g.AddOp(OpKind::kEqual, "correct", {predicted, labels}));
  KILN_ASSIGN_OR_RETURN(NodeId accuracy,
                        g.AddOp(OpKind::kReduceMean, "accuracy", {correct},
                                {{"axes", AttrValue::Ints({0})}, {"keepdims", AttrValue::Int(0)}}));
  g.set_outputs({loss, accuracy});
  return LossGraph{std::move(g), loss};
}

absl::StatusOr<NodeId> Slot(Graph& g, const std::string& name, const TensorType& type) {
  return g.AddSource(OpKind::kParameter, name, type, {{"trainable", AttrValue::Int(0)}});
}

}  // namespace

absl::StatusOr<Graph> BuildEvalGraph(const Model& model, int64_t batch) {
  KILN_ASSIGN_OR_RETURN(LossGraph lg, BuildLoss(model, batch, GraphForm::kInference));
  return EliminateDeadCode(lg.graph);
}

absl::StatusOr<Graph> BuildTrainingGraph(const Model& model, int64_t batch, const Optimizer& opt) {
  KILN_ASSIGN_OR_RETURN(LossGraph lg, BuildLoss(model, batch, GraphForm::kTraining));
  Graph& g = lg.graph;
  std::vector<NodeId> params;
  for (const Node& node : g.nodes()) {
    if (node.op == OpKind::kParameter && node.GetInt("trainable") != 0) params.push_back(node.id);
  }
  KILN_ASSIGN_OR_RETURN(std::vector<NodeId> grads, Differentiate(g, lg.loss, params));
  NodeId t = -1;
  if (opt.kind == Optimizer::Kind::kAdam) {
    KILN_ASSIGN_OR_RETURN(NodeId step, Slot(g, "optimizer/step", {DType::kF32, {}}));
    KILN_ASSIGN_OR_RETURN(NodeId one,
                          g.AddSource(OpKind::kConstant, "optimizer/one", {DType::kF32, {}},
                                      {{"value", AttrValue::Floats({1.0f})}}));
    KILN_ASSIGN_OR_RETURN(t, g.AddOp(OpKind::kAdd, "optimizer/t", {step, one}));
    KILN_RETURN_IF_ERROR(g.AddOp(OpKind::kAssign, "update/optimizer/step", {step, t}).status());
  }
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string name = g.node(params[i]).name;
    const TensorType type = g.node(params[i]).type;
    if (opt.kind == Optimizer::Kind::kAdam) {
      KILN_ASSIGN_OR_RETURN(NodeId m, Slot(g, name + "/m", type));
      KILN_ASSIGN_OR_RETURN(NodeId v, Slot(g, name + "/v", type));
      KILN_RETURN_IF_ERROR(g.AddOp(OpKind::kApplyAdam, "update/" + name,
                                   {params[i], m, v, t, grads[i]},
                                   {{"lr", AttrValue::Float(opt.learning_rate)},
                                    {"beta1", AttrValue::Float(opt.beta1)},
                                    {"beta2", AttrValue::Float(opt.beta2)},
                                    {"epsilon", AttrValue::Float(opt.epsilon)}})
                               .status());
    } else if (opt.kind == Optimizer::Kind::kRmsprop) {
      KILN_ASSIGN_OR_RETURN(NodeId ms, Slot(g, name + "/rms", type));
      KILN_RETURN_IF_ERROR(g.AddOp(OpKind::kApplyRmsprop, "update/" + name,
                                   {params[i], ms, grads[i]},
                                   {{"lr", AttrValue::Float(opt.learning_rate)},
                                    {"rho", AttrValue::Float(opt.rho)},
                                    {"epsilon", AttrValue::Float(opt.epsilon)}})
                               .status());
    } else {
      KILN_ASSIGN_OR_RETURN(NodeId velocity, Slot(g, name + "/velocity", type));
      KILN_RETURN_IF_ERROR(g.AddOp(OpKind::kApplySgd, "update/" + name,
                                   {params[i], velocity, grads[i]},
                                   {{"lr", AttrValue::Float(opt.learning_rate)},
                                    {"momentum", AttrValue::Float(opt.momentum)},
                                    {"nesterov", AttrValue::Int(opt.nesterov ? 1 : 0)},
                                    {"weight_decay", AttrValue::Float(opt.weight_decay)}})
                               .status());
    }
  }
  KILN_ASSIGN_OR_RETURN(Graph pruned, EliminateDeadCode(g));
  KILN_RETURN_IF_ERROR(Verify(pruned));
  return pruned;
}

namespace {

class ThresholdCallback : public Callback {
 public:
  ThresholdCallback(std::string metric, double threshold, std::string message)
      : metric_(std::move(metric)), threshold_(threshold), message_(std::move(message)) {}
  void OnEpochEnd(int, const Logs& logs, bool* stop) override {
    auto it = logs.find(metric_);
    if (it != logs.end() && it->second >= threshold_) {
      if (!message_.empty()) std::printf("%s\n", message_.c_str());
      *stop = true;
    }
  }

 private:
  std::string metric_;
  double threshold_;
  std::string message_;
};

class EarlyStoppingCallback : public Callback {
 public:
  EarlyStoppingCallback(std::string monitor, int patience, double min_delta)
      : monitor_(std::move(monitor)),
        patience_(patience),
        min_delta_(min_delta),
        lower_is_better_(monitor_.find("loss") != std::string::npos) {}
  void OnEpochEnd(int, const Logs& logs, bool* stop) override {
    auto it = logs.find(monitor_);
    if (it == logs.end()) return;
    const double value = lower_is_better_ ? -it->second : it->second;
    if (!seen_ || value > best_ + min_delta_) {
      best_ = value;
      seen_ = true;
      waited_ = 0;
    } else if (++waited_ >= patience_) {
      *stop = true;
    }
  }

 private:
  std::string monitor_;
  int patience_;
  double min_delta_;
  bool lower_is_better_;
  bool seen_ = false;
  double best_ = 0;
  int waited_ = 0;
};

class Lambda : public Callback {
 public:
  explicit Lambda(std::function<void(int, const Logs&, bool*)> fn) : fn_(std::move(fn)) {}
  void OnEpochEnd(int epoch, const Logs& logs, bool* stop) override { fn_(epoch, logs, stop); }

 private:
  std::function<void(int, const Logs&, bool*)> fn_;
};

}  // namespace

std::unique_ptr<Callback> StopAtThreshold(std::string metric, double threshold,
                                          std::string message) {
  return std::make_unique<ThresholdCallback>(std::move(metric), threshold, std::move(message));
}
std::unique_ptr<Callback> EarlyStopping(std::string monitor, int patience, double min_delta) {
  return std::make_unique<EarlyStoppingCallback>(std::move(monitor), patience, min_delta);
}
std::unique_ptr<Callback> LambdaCallback(std::function<void(int, const Logs&, bool*)> fn) {
  return std::make_unique<Lambda>(std::move(fn));
}

std::vector<double> History::Metric(const std::string& name) const {
  std::vector<double> values;
  for (const Logs& logs : epochs) {
    auto it = logs.find(name);
    if (it != logs.end()) values.push_back(it->second);
  }
  return values;
}

}  // namespace kiln
