// Model::Compile, Fit and Evaluate: the training loop around one compiled training-step graph.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "frontend/initializers.h"
#include "frontend/model.h"
#include "frontend/progress.h"
#include "ir/status.h"

namespace kiln {
namespace {

// Copies the examples `order[start, start + count)` into batch tensors.
void Gather(const Dataset& data, const std::vector<int64_t>& order, int64_t start, int64_t count,
            Tensor* images, Tensor* labels) {
  const int64_t per = data.images.size() / data.size();
  for (int64_t i = 0; i < count; ++i) {
    const int64_t src = order[start + i];
    std::memcpy(images->f32() + i * per, data.images.f32() + src * per, per * sizeof(float));
    labels->i32()[i] = data.labels.i32()[src];
  }
}

// One executable per batch size, so the ragged last batch runs at its own static shape.
struct BatchRunner {
  int64_t batch = 0;
  std::unique_ptr<Executable> exe;
  Tensor images, labels;
};

double Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

absl::Status RunBatch(BatchRunner& r, const Dataset& data, const std::vector<int64_t>& order,
                      int64_t start, double* loss, double* accuracy) {
  Gather(data, order, start, r.batch, &r.images, &r.labels);
  KILN_RETURN_IF_ERROR(r.exe->SetTensor("image", r.images));
  KILN_RETURN_IF_ERROR(r.exe->SetTensor("label", r.labels));
  KILN_RETURN_IF_ERROR(r.exe->Run());
  KILN_ASSIGN_OR_RETURN(Tensor l, r.exe->GetTensor("loss"));
  KILN_ASSIGN_OR_RETURN(Tensor a, r.exe->GetTensor("accuracy"));
  *loss = l.f32()[0];
  *accuracy = a.f32()[0];
  return absl::OkStatus();
}

}  // namespace

// Evaluation executables by batch size.
struct RunnerCache {
  std::map<int64_t, BatchRunner> runners;
};

namespace {

absl::Status CheckData(const Model& model, const Dataset& data) {
  if (data.size() == 0) return absl::InvalidArgumentError("the dataset is empty");
  Dims want = {data.size()};
  want.insert(want.end(), model.input_shape().begin(), model.input_shape().end());
  if (data.images.dims() != want) {
    return absl::InvalidArgumentError(absl::StrCat("model '", model.name(), "' expects images ",
                                                   DimsToString(want), ", got ",
                                                   DimsToString(data.images.dims())));
  }
  // The classes come from the data: the model's last layer needs one output per class.
  KILN_ASSIGN_OR_RETURN(ForwardGraph fwd, model.Build(1));
  const Dims& out = fwd.graph.node(fwd.output).type.dims;
  const int32_t* labels = data.labels.i32();
  const int32_t top = *std::max_element(labels, labels + data.size());
  if (model.training_config().loss == "binary_crossentropy") {
    if (top > 1 || *std::min_element(labels, labels + data.size()) < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "binary_crossentropy needs labels 0 and 1 (two classes); the data has labels up to ",
          top));
    }
    return absl::OkStatus();
  }
  if (out.size() == 2 && top >= out[1]) {
    return absl::InvalidArgumentError(
        absl::StrCat("model '", model.name(), "' has ", out[1], " outputs but the data has ",
                     top + 1, " classes (labels 0 to ", top, "); make the last layer Dense(",
                     top + 1, ", activation='softmax')"));
  }
  return absl::OkStatus();
}

// binary_crossentropy needs a last layer Dense(1, activation='sigmoid'); the sparse loss a
// softmax over the classes.
absl::Status CheckLossFitsModel(const Model& model, const std::string& loss) {
  KILN_ASSIGN_OR_RETURN(ForwardGraph fwd, model.Build(1));
  const Node& out = fwd.graph.node(fwd.output);
  if (loss == "binary_crossentropy" &&
      (out.op != OpKind::kSigmoid || out.type.dims != Dims{1, 1})) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model '", model.name(), "': binary_crossentropy needs a last layer Dense(1, ",
        "activation='sigmoid'), got output ", KerasShape(out.type.dims), " from ", OpName(out.op)));
  }
  if (loss == "sparse_categorical_crossentropy" && fwd.logits < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model '", model.name(),
                     "': sparse_categorical_crossentropy needs a last layer with "
                     "softmax (for two classes with one sigmoid output, use binary_crossentropy)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Model::Compile(const Optimizer& optimizer, const std::string& loss,
                            const std::vector<std::string>& metrics) {
  if (loss != "sparse_categorical_crossentropy" && loss != "binary_crossentropy") {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported loss '", loss,
                     "' (supported: sparse_categorical_crossentropy, binary_crossentropy)"));
  }
  for (const std::string& m : metrics) {  // Keras: "accuracy" means what the loss implies.
    if (m != "accuracy" && m != "binary_accuracy" && m != "sparse_categorical_accuracy") {
      return absl::InvalidArgumentError(
          absl::StrCat("unsupported metric '", m,
                       "' (supported: accuracy, binary_accuracy, sparse_categorical_accuracy)"));
    }
  }
  if (optimizer.learning_rate <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("learning rate must be positive, got ", optimizer.learning_rate));
  }
  KILN_RETURN_IF_ERROR(CheckLossFitsModel(*this, loss));
  optimizer_ = optimizer;
  config_.loss = loss;
  optimizer_state_.clear();
  progress_ = TrainingProgress{};
  compiled_ = true;
  return absl::OkStatus();
}

absl::Status Model::LoadState(Executable* exe) const {
  for (const Node& node : exe->graph().nodes()) {
    if (node.op != OpKind::kParameter) continue;
    auto w = weights_.find(node.name);
    if (w != weights_.end()) {
      KILN_RETURN_IF_ERROR(exe->SetTensor(node.name, w->second));
      continue;
    }
    auto s = optimizer_state_.find(node.name);
    KILN_RETURN_IF_ERROR(
        exe->SetTensor(node.name, s != optimizer_state_.end() ? s->second : Tensor(node.type)));
  }
  return absl::OkStatus();
}

absl::Status Model::SaveState(const Executable& exe) {
  for (const Node& node : exe.graph().nodes()) {
    if (node.op != OpKind::kParameter) continue;
    KILN_ASSIGN_OR_RETURN(Tensor value, exe.GetTensor(node.name));
    if (weights_.count(node.name)) {
      weights_[node.name] = std::move(value);
    } else {
      optimizer_state_[node.name] = std::move(value);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<History> Model::Fit(const Dataset& train, const FitOptions& options) {
  if (!compiled_) return absl::FailedPreconditionError("call Compile before Fit");
  KILN_RETURN_IF_ERROR(CheckData(*this, train));
  if (options.epochs < 0 || options.batch_size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("epochs must be >= 0 and batch size > 0, got ",
                                                   options.epochs, " and ", options.batch_size));
  }
  if (options.validation) KILN_RETURN_IF_ERROR(CheckData(*this, *options.validation));
  if (!options.resume) progress_ = TrainingProgress{};
  config_.batch_size = options.batch_size;
  config_.epochs = options.epochs;
  config_.seed = options.seed;
  config_.backend = BackendName(options.backend);
  const int64_t n = train.size();
  const int64_t batch = std::min(options.batch_size, n);
  const int64_t full = n / batch, rest = n % batch;
  BatchRunner runners[2];
  History history;
  const auto compile_start = std::chrono::steady_clock::now();
  for (int i = 0; i < (rest ? 2 : 1); ++i) {
    BatchRunner& r = runners[i];
    r.batch = i == 0 ? batch : rest;
    KILN_ASSIGN_OR_RETURN(Graph g, BuildTrainingGraph(*this, r.batch, optimizer_));
    KILN_ASSIGN_OR_RETURN(r.exe, CreateExecutable(std::move(g), options.backend, options.threads));
    Dims dims = {r.batch};
    dims.insert(dims.end(), input_shape_.begin(), input_shape_.end());
    r.images = Tensor(TensorType{DType::kF32, dims});
    r.labels = Tensor(TensorType{DType::kI32, {r.batch}});
  }
  KILN_RETURN_IF_ERROR(LoadState(runners[0].exe.get()));
  history.compile_seconds = Since(compile_start);
  RunnerCache eval_cache;

  Rng rng(options.seed);
  if (progress_.has_rng) rng.set_state(progress_.rng_state);
  history.epochs = progress_.history;
  std::vector<int64_t> order(n);
  const int64_t steps = full + (rest ? 1 : 0);
  for (int epoch = progress_.epoch; epoch < options.epochs; ++epoch) {
    std::iota(order.begin(), order.end(), 0);
    for (int64_t i = n - 1; i > 0; --i) {  // Fisher-Yates with the seeded generator.
      std::swap(order[i], order[rng.UniformInt(static_cast<uint64_t>(i) + 1)]);
    }
    if (options.verbose) std::printf("Epoch %d/%d\n", epoch + 1, options.epochs);
    ProgressBar bar(steps, stdout);
    double loss_sum = 0, correct_sum = 0;
    Logs logs;
    for (int64_t step = 0; step < steps; ++step) {
      const bool ragged = step == full;
      BatchRunner& r = runners[ragged ? 1 : 0];
      if (ragged) {  // Hand the state to the remainder-sized step and back.
        KILN_RETURN_IF_ERROR(SaveState(*runners[0].exe));
        KILN_RETURN_IF_ERROR(LoadState(r.exe.get()));
      }
      double loss, accuracy;
      KILN_RETURN_IF_ERROR(RunBatch(r, train, order, step * batch, &loss, &accuracy));
      if (ragged) {
        KILN_RETURN_IF_ERROR(SaveState(*r.exe));
        KILN_RETURN_IF_ERROR(LoadState(runners[0].exe.get()));
      }
      loss_sum += loss * r.batch;
      correct_sum += accuracy * r.batch;
      const double seen = static_cast<double>(std::min(n, (step + 1) * batch));
      logs["loss"] = loss_sum / seen;
      logs["accuracy"] = correct_sum / seen;
      if (options.verbose) bar.Update(step + 1, logs);
    }
    KILN_RETURN_IF_ERROR(SaveState(*runners[0].exe));
    if (options.validation) {
      double eval_compile = 0;
      KILN_ASSIGN_OR_RETURN(Evaluation val,
                            EvaluateCached(*options.validation, batch, options.backend,
                                           options.threads, &eval_cache, &eval_compile));
      history.compile_seconds += eval_compile;
      logs["val_loss"] = val.loss;
      logs["val_accuracy"] = val.accuracy;
    }
    if (options.verbose) bar.Finish(logs);
    history.epochs.push_back(logs);
    progress_.epoch = epoch + 1;
    progress_.step += steps;
    progress_.has_rng = true;
    std::memcpy(progress_.rng_state, rng.state(), sizeof(progress_.rng_state));
    progress_.history = history.epochs;
    if (!options.checkpoint_dir.empty()) {
      KILN_RETURN_IF_ERROR(WriteCheckpoint(options.checkpoint_dir));
    }
    bool stop = false;
    for (Callback* cb : options.callbacks) cb->OnEpochEnd(epoch, logs, &stop);
    if (stop) {
      history.stopped_early = epoch + 1 < options.epochs;
      break;
    }
  }
  return history;
}

absl::StatusOr<Model::Evaluation> Model::Evaluate(const Dataset& data, int64_t batch_size,
                                                  Backend backend, int threads) const {
  RunnerCache cache;
  double compile_seconds = 0;
  return EvaluateCached(data, batch_size, backend, threads, &cache, &compile_seconds);
}

absl::StatusOr<Model::Evaluation> Model::EvaluateCached(const Dataset& data, int64_t batch_size,
                                                        Backend backend, int threads,
                                                        RunnerCache* cache,
                                                        double* compile_seconds) const {
  KILN_RETURN_IF_ERROR(CheckData(*this, data));
  if (batch_size <= 0) return absl::InvalidArgumentError("batch size must be positive");
  const int64_t n = data.size();
  const int64_t batch = std::min(batch_size, n);
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  double loss_sum = 0, correct_sum = 0;
  for (int64_t start = 0; start < n; start += batch) {
    const int64_t count = std::min(batch, n - start);
    BatchRunner& r = cache->runners[count];
    if (!r.exe) {
      const auto compile_start = std::chrono::steady_clock::now();
      r.batch = count;
      KILN_ASSIGN_OR_RETURN(Graph g, BuildEvalGraph(*this, count));
      KILN_ASSIGN_OR_RETURN(r.exe, CreateExecutable(std::move(g), backend, threads));
      Dims dims = {count};
      dims.insert(dims.end(), input_shape_.begin(), input_shape_.end());
      r.images = Tensor(TensorType{DType::kF32, dims});
      r.labels = Tensor(TensorType{DType::kI32, {count}});
      *compile_seconds += Since(compile_start);
    }
    if (start == 0 || count != batch) KILN_RETURN_IF_ERROR(LoadState(r.exe.get()));
    double loss, accuracy;
    KILN_RETURN_IF_ERROR(RunBatch(r, data, order, start, &loss, &accuracy));
    loss_sum += loss * count;
    correct_sum += accuracy * count;
  }
  return Evaluation{loss_sum / n, correct_sum / n};
}

}  // namespace kiln
