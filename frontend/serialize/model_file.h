// Model files, checkpoints and graph files: plain C++ structs in, bytes out, and back. The
// protobuf schema (kiln.proto) and its generated types stay inside frontend/serialize/.
//
// Every file is an envelope around one protobuf message:
//   magic (8 bytes: "KILNMODL" or "KILNGRPH") | envelope version (u32 LE, 1) |
//   payload length (u64 LE) | CRC-32C of the payload (u32 LE) | payload
// so a truncated, extended or bit-flipped file is refused before parsing. Decoding then treats
// the payload as untrusted: every size is overflow-checked, tensors carry their own CRC and must
// hold exactly their type's bytes, the graph must verify, and weights must match its Parameters.
#ifndef KILN_FRONTEND_SERIALIZE_MODEL_FILE_H_
#define KILN_FRONTEND_SERIALIZE_MODEL_FILE_H_

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ir/graph.h"
#include "ir/tensor.h"

namespace kiln {

// Files larger than this are refused before they are read.
inline constexpr int64_t kMaxModelFileBytes = int64_t{1} << 30;
// The payload format this build writes and reads.
inline constexpr uint32_t kModelFormatVersion = 1;

struct SavedLayer {
  std::string name, type, output;  // `output` names a node of the forward graph.
  int64_t params = 0;
  int64_t flops_per_example = 0;
  std::string config;  // The layer's Keras call; empty in files from before it was recorded.
};

struct SavedOptimizer {
  std::string kind;  // "sgd", "adam" or "rmsprop".
  double learning_rate = 0, momentum = 0;
  bool nesterov = false;
  double weight_decay = 0, beta1 = 0, beta2 = 0, epsilon = 0, rho = 0;
};

struct SavedTrainingConfig {
  std::string dataset, backend;
  int64_t batch_size = 0;
  int epochs = 0;  // Requested in total.
  uint64_t seed = 0;
  int64_t limit = 0;
  std::string loss;  // Empty in files from before it was recorded: sparse categorical.
};

// Where training stands: what a checkpoint needs to continue bit-identically.
struct SavedProgress {
  int epoch = 0;     // Epochs completed.
  int64_t step = 0;  // Training steps completed.
  bool has_rng = false;
  std::array<uint64_t, 4> rng_state = {};  // The shuffling generator after `epoch` epochs.
  std::vector<std::map<std::string, double>> history;
  double compile_seconds = 0;
};

struct ModelFile {
  std::string name;
  Dims input_shape;  // Without the batch dimension.
  Graph forward;     // At batch 1; outputs()[0] is the model's output.
  std::string logits;
  std::vector<SavedLayer> layers;
  std::map<std::string, Tensor> weights;
  std::map<std::string, Tensor> optimizer_state;
  bool compiled = false;
  SavedOptimizer optimizer;
  SavedTrainingConfig config;
  SavedProgress progress;
  std::string kiln_version;
};

absl::StatusOr<std::string> EncodeModelFile(const ModelFile& file);
absl::StatusOr<ModelFile> DecodeModelFile(absl::string_view bytes);
// The payload alone, without the envelope's checksum: what the fuzzer drives.
absl::StatusOr<ModelFile> DecodeModelPayload(absl::string_view payload);

// A graph at any pipeline stage.
absl::StatusOr<std::string> EncodeGraphFile(const Graph& graph);
absl::StatusOr<Graph> DecodeGraphFile(absl::string_view bytes);

// Atomic save (see file_io.h). Loading is ReadFileLimited(path, kMaxModelFileBytes), then
// DecodeModelFile (Model::Load).
absl::Status SaveModelFile(const std::string& path, const ModelFile& file);

}  // namespace kiln

#endif  // KILN_FRONTEND_SERIALIZE_MODEL_FILE_H_
