// Optimizers, callbacks and the graphs a training step and an evaluation run.
#ifndef KILN_FRONTEND_TRAINING_H_
#define KILN_FRONTEND_TRAINING_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/graph.h"
#include "runtime/executable.h"

namespace kiln {

class Model;

// Keras's optimizers with Keras's defaults.
struct Optimizer {
  enum class Kind { kSgd, kAdam, kRmsprop };
  Kind kind = Kind::kAdam;
  double learning_rate = 0.001;
  double momentum = 0.0;                              // SGD.
  bool nesterov = false;                              // SGD.
  double weight_decay = 0.0;                          // SGD, decoupled as in Keras.
  double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-7;  // Adam (epsilon also RMSprop's).
  double rho = 0.9;                                   // RMSprop.

  static Optimizer Sgd(double learning_rate = 0.01, double momentum = 0.0, bool nesterov = false,
                       double weight_decay = 0.0);
  static Optimizer Adam(double learning_rate = 0.001, double beta1 = 0.9, double beta2 = 0.999,
                        double epsilon = 1e-7);
  // Keras's RMSprop (no momentum, not centered): ms = rho ms + (1 - rho) g^2,
  // p -= lr g / sqrt(ms + epsilon). The course's RMSprop(learning_rate=0.001).
  static Optimizer Rmsprop(double learning_rate = 0.001, double rho = 0.9, double epsilon = 1e-7);
  std::string Describe() const;
};

// Which engine runs the graphs: the LLVM JIT (default) or the reference interpreter.
enum class Backend { kJit, kInterpreter };
// `threads` (JIT only): worker threads including the caller; 0 uses every core.
absl::StatusOr<std::unique_ptr<Executable>> CreateExecutable(Graph graph, Backend backend,
                                                             int threads = 0);
const char* BackendName(Backend backend);
absl::StatusOr<Backend> ParseBackend(const std::string& name);

// The training step for `batch` examples as one graph: forward pass, sparse categorical
// cross-entropy ("loss") and accuracy ("accuracy") as outputs, the backward pass, and optimizer
// updates of every parameter and its slots ("<param>/m", "<param>/v", "<param>/velocity",
// "optimizer/step"). Needs a model whose last layer ends in softmax (the loss uses its logits).
absl::StatusOr<Graph> BuildTrainingGraph(const Model& model, int64_t batch,
                                         const Optimizer& optimizer);
// Forward pass with "loss" and "accuracy" outputs, no updates.
absl::StatusOr<Graph> BuildEvalGraph(const Model& model, int64_t batch);

// Per-epoch metrics: "loss", "accuracy", and "val_loss", "val_accuracy" with validation data.
using Logs = std::map<std::string, double>;

class Callback {
 public:
  virtual ~Callback() = default;
  // Called after each epoch (0-based); set *stop to end training.
  virtual void OnEpochEnd(int epoch, const Logs& logs, bool* stop) = 0;
};

// Stops once `metric` reaches `threshold` (the course's 99.8% training accuracy callback),
// printing `message` when it does.
std::unique_ptr<Callback> StopAtThreshold(std::string metric, double threshold,
                                          std::string message);
// Stops when `monitor` has not improved by more than `min_delta` for `patience` epochs. Lower is
// better for metrics containing "loss", higher otherwise.
std::unique_ptr<Callback> EarlyStopping(std::string monitor, int patience, double min_delta = 0);
// Calls `fn` after each epoch.
std::unique_ptr<Callback> LambdaCallback(std::function<void(int, const Logs&, bool*)> fn);

// Where training stands, so a checkpoint can continue bit-identically.
struct TrainingProgress {
  int epoch = 0;     // Epochs completed.
  int64_t step = 0;  // Training steps completed.
  bool has_rng = false;
  uint64_t rng_state[4] = {0, 0, 0, 0};  // The shuffling generator after `epoch` epochs.
  std::vector<Logs> history;             // One entry per completed epoch.
};

// How a model was trained, recorded in saved files ("kiln train" fills dataset and limit).
struct TrainingConfig {
  std::string dataset, backend;
  int64_t batch_size = 0;
  int epochs = 0;
  uint64_t seed = 0;
  int64_t limit = 0;
  // Model::Compile's loss: "sparse_categorical_crossentropy" (also when empty, as in files
  // from before it was recorded) or "binary_crossentropy".
  std::string loss;
};

struct History {
  std::vector<Logs> epochs;
  bool stopped_early = false;
  double compile_seconds = 0;  // Building and compiling the step and evaluation graphs.
  // The values of one metric across epochs.
  std::vector<double> Metric(const std::string& name) const;
};

}  // namespace kiln

#endif  // KILN_FRONTEND_TRAINING_H_
