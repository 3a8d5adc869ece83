// Model description files (".layers"): Keras layer calls, one per line, as a student pastes them
// from a notebook, so a new architecture needs no C++ and no rebuild:
//
//     # my experiment: 32 filters instead of 64
//     Input(shape=(28, 28, 1))
//     tf.keras.layers.Conv2D(32, (3, 3), activation='relu')
//     MaxPooling2D(2, 2)
//     Flatten()
//     Dense(128, activation=tf.nn.relu)
//     Dense(10, activation='softmax')
//
// Also accepted: the `Sequential([...])` list form (optionally `model = ...` and `name=`),
// `model.add(...)` lines, `input_shape=` on the first layer instead of `Input`, `import` lines.
// Errors name the file, line and column. `LayersText` writes any Sequential model in this form.
#ifndef KILN_FRONTEND_LAYERS_FILE_H_
#define KILN_FRONTEND_LAYERS_FILE_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "frontend/graph_builder.h"

namespace kiln {

// More layers than this is an error.
inline constexpr int kMaxLayersInFile = 10000;

struct LayerCall {
  std::string type;  // Keras's class name.
  int line = 0;
  std::function<absl::StatusOr<NodeId>(GraphBuilder&, NodeId)> apply;
};

struct LayersSpec {
  std::string filename;
  std::string name;  // From Sequential(name=...); empty otherwise.
  Dims input_shape;
  std::vector<LayerCall> layers;
};

absl::StatusOr<LayersSpec> ParseLayersText(absl::string_view text, absl::string_view filename);

// Emits the layers on `x`; a layer's error is prefixed with its file and line.
absl::StatusOr<NodeId> ApplyLayers(const LayersSpec& spec, GraphBuilder& builder, NodeId x);

// The layer names a file may use ("Conv2D", "Dense", ...), for messages.
std::vector<std::string> KnownLayerNames();

// A model in the layers form: a comment, Input(shape=...) and one line per layer (the layer
// records' `config`). An error names the first layer that has no such line (an Add joins two
// branches; models saved before layer lines were recorded have none).
absl::StatusOr<std::string> LayersText(absl::string_view model_name, const Dims& input_shape,
                                       const std::vector<LayerRecord>& layers);

}  // namespace kiln

#endif  // KILN_FRONTEND_LAYERS_FILE_H_
