// The functional builder: Keras-style layers emitted as IR nodes into a graph of a fixed batch
// size. Sequential models use it too; graphs that are not a chain call it directly.
#ifndef KILN_FRONTEND_GRAPH_BUILDER_H_
#define KILN_FRONTEND_GRAPH_BUILDER_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/graph.h"

namespace kiln {

using Window = std::array<int64_t, 2>;

struct Conv2DOptions {
  Window strides = {1, 1};
  std::string padding = "valid";  // "valid" or "same".
  std::string activation;         // "", "linear", "relu", "sigmoid", "tanh", "softmax".
  bool use_bias = true;
  std::string name;  // Empty: Keras-style automatic name ("conv2d", "conv2d_1", ...).
};

struct PoolOptions {
  Window strides = {0, 0};  // {0, 0}: equal to the pool size, as in Keras.
  std::string padding = "valid";
  std::string name;
};

// How a Parameter starts, so a model can initialize weights Keras's way.
enum class Init { kGlorotUniform, kZeros, kOnes };

// One layer as the summary shows it.
struct LayerRecord {
  std::string name;
  std::string type;  // Keras's class name: "Conv2D", "MaxPooling2D", ...
  NodeId output = -1;
  int64_t params = 0;
  int64_t flops_per_example = 0;  // 2 per multiply-accumulate, 1 per other arithmetic op.
  // The Keras call that makes this layer, for model description files ("Dense(10,
  // activation='softmax', name='dense_1')"); empty for layers that join branches (Add).
  std::string config;
};

class GraphBuilder {
 public:
  GraphBuilder(std::string graph_name, int64_t batch);

  // An f32 input of shape [batch, ...shape].
  absl::StatusOr<NodeId> Input(const std::string& name, const Dims& shape);
  // An i32 input of shape [batch, ...shape] (labels).
  absl::StatusOr<NodeId> LabelInput(const std::string& name, const Dims& shape);

  absl::StatusOr<NodeId> Conv2D(NodeId x, int64_t filters, Window kernel,
                                const Conv2DOptions& options = {});
  absl::StatusOr<NodeId> MaxPooling2D(NodeId x, Window pool, const PoolOptions& options = {});
  absl::StatusOr<NodeId> AveragePooling2D(NodeId x, Window pool, const PoolOptions& options = {});
  // Keras's GlobalAveragePooling2D / GlobalMaxPooling2D: (batch, h, w, c) -> (batch, c), a mean
  // or max reduction over the height and width axes (the reduction emitters loop over any map
  // size, where a window op unrolls its window).
  absl::StatusOr<NodeId> GlobalAveragePooling2D(NodeId x, const std::string& name = "");
  absl::StatusOr<NodeId> GlobalMaxPooling2D(NodeId x, const std::string& name = "");
  // x * scale + offset (Keras's Rescaling, e.g. 1/255 for 0-255 pixels).
  absl::StatusOr<NodeId> Rescaling(NodeId x, float scale, float offset = 0,
                                   const std::string& name = "");
  // Keras's Dropout: in training, each element is zeroed with probability `rate` and the rest
  // scaled by 1 / (1 - rate), from a counter-based generator keyed by `seed`, the training step
  // and the element (the same on every backend and thread count); the identity otherwise. A
  // negative seed derives one from the layer's name, so a model's dropout layers differ.
  absl::StatusOr<NodeId> Dropout(NodeId x, double rate, int64_t seed = -1,
                                 const std::string& name = "");
  // Keras's BatchNormalization over the channel (last) axis: gamma and beta trainable, the
  // moving mean and variance non-trainable state that the training step updates with
  // `momentum`. Emitted whole (BatchNorm); Model::Build expands it for training or inference.
  absl::StatusOr<NodeId> BatchNormalization(NodeId x, double momentum = 0.99, double epsilon = 1e-3,
                                            const std::string& name = "");
  absl::StatusOr<NodeId> Flatten(NodeId x, const std::string& name = "");
  absl::StatusOr<NodeId> Dense(NodeId x, int64_t units, const std::string& activation = "",
                               const std::string& name = "", bool use_bias = true);
  absl::StatusOr<NodeId> Activation(NodeId x, const std::string& activation,
                                    const std::string& name = "");
  // Elementwise sum of two same-shaped tensors (residual connections).
  absl::StatusOr<NodeId> Add(NodeId a, NodeId b, const std::string& name = "");

  // Re-emits a saved forward graph (built at another batch size, input Input "image") on `x`:
  // Parameters keep their names, a Reshape's leading dimension follows the batch, and the saved
  // layers and logits are recorded as if built here. Returns the graph's output.
  absl::StatusOr<NodeId> Replay(const Graph& saved, NodeId x, const std::vector<LayerRecord>& layers,
                                const std::string& logits);

  int64_t batch() const { return batch_; }
  const Graph& graph() const { return graph_; }
  Graph TakeGraph() { return std::move(graph_); }
  const std::vector<LayerRecord>& layers() const { return layers_; }
  // Parameters in creation order with how each starts.
  const std::vector<std::pair<std::string, Init>>& parameters() const { return parameters_; }
  // The pre-softmax node of the last layer whose activation was softmax, or -1.
  NodeId logits() const { return logits_; }

 private:
  std::string LayerName(const std::string& requested, const std::string& keras_base);
  // A Parameter; an error (a size that overflows, a taken name) is prefixed with `context`.
  // `trainable` false: state the training step updates itself (moving statistics), not the
  // optimizer.
  absl::StatusOr<NodeId> AddParameter(const std::string& context, const std::string& name,
                                      Dims dims, Init init, bool trainable = true);
  absl::StatusOr<NodeId> ApplyActivation(NodeId x, const std::string& activation,
                                         const std::string& layer, bool final_name);
  absl::StatusOr<NodeId> Pool(OpKind op, const char* type, const char* base, NodeId x, Window pool,
                              const PoolOptions& options);
  absl::StatusOr<NodeId> GlobalPool(OpKind op, const char* type, const char* base, NodeId x,
                                    const std::string& name);
  // "layer 'conv2d' (Conv2D) on input (None, 3, 3, 1): " for errors.
  std::string Context(const std::string& layer, const char* type, NodeId x) const;

  Graph graph_;
  int64_t batch_;
  std::vector<LayerRecord> layers_;
  std::vector<std::pair<std::string, Init>> parameters_;
  NodeId logits_ = -1;
};

// "(None, 26, 26, 64)": a node's shape with the batch dimension shown as None.
std::string KerasShape(const Dims& dims);

}  // namespace kiln

#endif  // KILN_FRONTEND_GRAPH_BUILDER_H_
