// Keras-like models: Sequential chains of layers or functional graphs, their weights, a summary and
// prediction.
#ifndef KILN_FRONTEND_MODEL_H_
#define KILN_FRONTEND_MODEL_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "frontend/datasets.h"
#include "frontend/graph_builder.h"
#include "frontend/training.h"
#include "ir/tensor.h"

namespace kiln {

// A layer of a Sequential model: applies itself to the previous layer's output.
struct Layer {
  std::string type;
  std::function<absl::StatusOr<NodeId>(GraphBuilder&, NodeId)> apply;
};

Layer Conv2D(int64_t filters, Window kernel, Conv2DOptions options = {});
Layer MaxPooling2D(Window pool, PoolOptions options = {});
Layer AveragePooling2D(Window pool, PoolOptions options = {});
Layer GlobalAveragePooling2D(std::string name = "");
Layer GlobalMaxPooling2D(std::string name = "");
Layer Rescaling(float scale, float offset = 0, std::string name = "");
Layer Dropout(double rate, int64_t seed = -1, std::string name = "");
Layer BatchNormalization(double momentum = 0.99, double epsilon = 1e-3, std::string name = "");
Layer Flatten(std::string name = "");
Layer Dense(int64_t units, std::string activation = "", std::string name = "",
            bool use_bias = true);

// Emits a functional model into a builder, given its input node; returns the output node.
using ModelFn = std::function<absl::StatusOr<NodeId>(GraphBuilder&, NodeId input)>;

// A model's forward graph for one batch size.
struct ForwardGraph {
  Graph graph;
  NodeId input = -1;   // Input "image": [batch, ...input_shape], f32.
  NodeId output = -1;  // The last layer (probabilities when it ends in softmax).
  NodeId logits = -1;  // Pre-softmax node when the last layer ends in softmax, else -1.
  std::vector<LayerRecord> layers;
  std::vector<std::pair<std::string, Init>> parameters;
};

struct RunnerCache;

// The form Model::Build gives layers that behave differently in training (frontend/layer_forms.h).
enum class GraphForm {
  kInference,  // Dropout as the identity, BatchNormalization with its moving statistics.
  kTraining,   // Dropout masks; batch statistics with moving-average updates.
  kSaved,      // Each such layer as its one op, unexpanded: what saved files hold.
};

class Model {
 public:
  // Builds the model once at batch 1 to validate every layer, then initializes the weights Keras's
  // way (Glorot-uniform kernels, zero biases) from `seed`.
  static absl::StatusOr<Model> Sequential(std::string name, Dims input_shape,
                                          std::vector<Layer> layers, uint64_t seed = 0);
  static absl::StatusOr<Model> Functional(std::string name, Dims input_shape, ModelFn fn,
                                          uint64_t seed = 0);

  const std::string& name() const { return name_; }
  const Dims& input_shape() const { return input_shape_; }

  // The forward graph for `batch` examples, with Input "image" and the model's Parameters.
  absl::StatusOr<ForwardGraph> Build(int64_t batch, GraphForm form = GraphForm::kInference) const;

  // Keras's summary table, plus FLOPs and activation memory per example.
  std::string Summary() const;

  // Runs the forward pass (on the JIT by default) over `images` [N, ...input_shape] in batches of
  // `batch_size` (the last batch may be smaller); returns [N, outputs].
  absl::StatusOr<Tensor> Predict(const Tensor& images, int64_t batch_size = 32,
                                 Backend backend = Backend::kJit, int threads = 0) const;

  // Keras's compile: the optimizer, the loss (only "sparse_categorical_crossentropy") and the
  // metrics (only "accuracy"). Resets the optimizer's state.
  absl::Status Compile(const Optimizer& optimizer,
                       const std::string& loss = "sparse_categorical_crossentropy",
                       const std::vector<std::string>& metrics = {"accuracy"});

  struct FitOptions {
    int epochs = 1;
    int64_t batch_size = 32;
    const Dataset* validation = nullptr;
    std::vector<Callback*> callbacks;
    uint64_t seed = 0;  // Shuffling order; each epoch draws a new permutation.
    Backend backend = Backend::kJit;
    int threads = 0;  // JIT worker threads including the caller; 0: every core.
    int verbose = 1;  // 0: silent, 1: Keras's progress bar.
    // Writes DIR/ckpt-<epoch>.kiln after every epoch (atomically; the newest 3 are kept).
    std::string checkpoint_dir;
    // Continue from progress(): epochs [progress().epoch, epochs) with the saved shuffling
    // state; the history returned includes the earlier epochs.
    bool resume = false;
  };
  // Trains on `train` (shuffled each epoch; a ragged last batch is trained on, not dropped).
  absl::StatusOr<History> Fit(const Dataset& train, const FitOptions& options);

  struct Evaluation {
    double loss = 0;
    double accuracy = 0;
  };
  absl::StatusOr<Evaluation> Evaluate(const Dataset& data, int64_t batch_size = 32,
                                      Backend backend = Backend::kJit, int threads = 0) const;

  // Saves the forward graph (at batch 1), weights, the compiled optimizer with its state, the
  // training configuration and progress, atomically (temp file, fsync, rename, fsync folder).
  absl::Status Save(const std::string& path) const;
  // Loads a file written by Save; anything else is an error naming the field or node.
  static absl::StatusOr<Model> Load(const std::string& path);
  // A model description file (".layers": Keras layer calls, see frontend/layers_file.h), its
  // weights initialized from `seed`; the model is named by Sequential(name=...) or the file.
  static absl::StatusOr<Model> LoadLayers(const std::string& path, uint64_t seed = 0);
  // Load from the bytes of a model file (what Load reads).
  static absl::StatusOr<Model> Decode(absl::string_view bytes);
  // The newest checkpoint in `dir` that loads cleanly; corrupt ones are skipped (and listed in
  // *skipped when given).
  static absl::StatusOr<Model> LoadNewestCheckpoint(const std::string& dir,
                                                    std::vector<std::string>* skipped = nullptr);
  // Checks that `other` (for example a checkpoint) has this model's architecture: the same
  // forward graph and parameter types.
  absl::Status CheckSameArchitecture(const Model& other) const;

  const TrainingProgress& progress() const { return progress_; }
  const TrainingConfig& training_config() const { return config_; }
  void set_training_config(TrainingConfig config) { config_ = std::move(config); }
  const Optimizer& optimizer() const { return optimizer_; }
  // The optimizer's slots by Parameter name ("conv2d/kernel/m", "optimizer/step").
  const std::map<std::string, Tensor>& optimizer_state() const { return optimizer_state_; }
  bool compiled() const { return compiled_; }

  // Weights by parameter name ("conv2d/kernel").
  const std::map<std::string, Tensor>& weights() const { return weights_; }
  // Replaces a weight; its type must match.
  absl::Status SetWeight(const std::string& name, const Tensor& value);
  int64_t CountParams() const;

 private:
  Model(std::string name, Dims input_shape, ModelFn fn)
      : name_(std::move(name)), input_shape_(std::move(input_shape)), fn_(std::move(fn)) {}

  std::string name_;
  Dims input_shape_;
  ModelFn fn_;
  // Evaluate, reusing the executables in `cache` (compiled once per batch size).
  absl::StatusOr<Evaluation> EvaluateCached(const Dataset& data, int64_t batch_size,
                                            Backend backend, int threads, RunnerCache* cache,
                                            double* compile_seconds) const;
  // Copies weights and optimizer slots into / out of an executable's Parameters.
  absl::Status LoadState(Executable* exe) const;
  absl::Status SaveState(const Executable& exe);

  // A model whose forward graph comes from a saved file (see model_io.cc).
  static absl::StatusOr<Model> FromSavedGraph(std::string name, Dims input_shape, Graph forward,
                                              std::string logits,
                                              std::vector<LayerRecord> layers);
  absl::Status WriteCheckpoint(const std::string& dir) const;

  std::map<std::string, Tensor> weights_;
  std::map<std::string, Tensor> optimizer_state_;
  TrainingProgress progress_;
  TrainingConfig config_;
  Optimizer optimizer_;
  bool compiled_ = false;
};

}  // namespace kiln

#endif  // KILN_FRONTEND_MODEL_H_
