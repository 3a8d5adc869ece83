#include "frontend/aot_export.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "frontend/serialize/file_io.h"
#include "ir/status.h"

namespace kiln {
namespace {

// The statically linked object must fit the small code model: under 2 GiB of static storage.
constexpr int64_t kMaxStaticBytes = int64_t{1} << 31;

// example.c, with $PREFIX (kiln_mnist_cnn), $MACRO (KILN_MNIST_CNN), $NAME (mnist_cnn) and
// $MODEL (mnist-cnn) substituted.
constexpr char kExample[] =
    R"(// Runs the model "$MODEL" exported by `kiln export`, with no Kiln libraries:
//   cc -O2 example.c $NAME.o -lm -o example && ./example
// It trains a few steps on synthetic digits (odd images a bar, even ones a box), then prints
// the predictions and reads a parameter back by name.
#include <stdint.h>
#include <stdio.h>

#include "$NAME.h"

#define B $MACRO_BATCH
#define H $MACRO_IMAGE_HEIGHT
#define W $MACRO_IMAGE_WIDTH
#define C $MACRO_IMAGE_CHANNELS
#define CLASSES $MACRO_CLASSES

static float images[$MACRO_INFER_IMAGES_SIZE];
static int32_t labels[$MACRO_TRAIN_STEP_LABELS_SIZE];
static float probabilities[$MACRO_INFER_PROBABILITIES_SIZE];
static float values[64];

int main(void) {
  for (int b = 0; b < B; ++b) {
    labels[b] = b % 2;
    for (int y = 0; y < H; ++y) {
      for (int x = 0; x < W; ++x) {
        const int bar = x >= W / 2 - 1 && x <= W / 2 && y >= 4 && y < H - 4;
        const int box = ((y == 5 || y == H - 6) && x >= 7 && x < W - 7) ||
                        ((x == 7 || x == W - 8) && y >= 5 && y < H - 5);
        for (int c = 0; c < C; ++c) images[((b * H + y) * W + x) * C + c] = (b % 2 ? bar : box);
      }
    }
  }
  for (int step = 1; step <= 5; ++step) {
    float loss = 0, accuracy = 0;
    if ($PREFIX_train_step(images, labels, &loss, &accuracy) != 0) return 1;
    printf("step %d: loss %.4f, accuracy %.2f\n", step, loss, accuracy);
  }
  if ($PREFIX_infer(images, probabilities) != 0) return 1;
  for (int b = 0; b < B && b < 4; ++b) {
    const float* p = probabilities + b * CLASSES;
    int best = 0;
    for (int k = 1; k < CLASSES; ++k) best = p[k] > p[best] ? k : best;
    printf("image %d (label %d): class %d, probability %.4f\n", b, labels[b], best, p[best]);
  }
  const int last = $PREFIX_num_params() - 1;
  const char* name = $PREFIX_param_name(last);
  const int index = $PREFIX_param_index(name);
  const int64_t size = $PREFIX_param_size(index);
  if (size <= 64 && $PREFIX_get_param(index, values) == 0) {
    printf("parameter %d, %s: %lld floats, first %.6f\n", index, name, (long long)size, values[0]);
  }
  return 0;
}
)";

}  // namespace

absl::StatusOr<ExportedModel> ExportModel(const Model& model, const ExportOptions& options) {
  if (options.batch <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch size must be positive, got ", options.batch));
  }
  KILN_ASSIGN_OR_RETURN(ForwardGraph fwd, model.Build(options.batch));
  const Dims& in = model.input_shape();
  const Dims& out = fwd.graph.node(fwd.output).type.dims;
  if (fwd.logits < 0 || in.size() != 3 || out.size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model '", model.name(),
        "' cannot be exported: export needs images [height, width, channels] in and a last layer "
        "ending in softmax (the training step's loss)"));
  }
  KILN_ASSIGN_OR_RETURN(Graph train, BuildTrainingGraph(model, options.batch, options.optimizer));
  ExportedModel e;
  e.name = SanitizeCIdentifier(model.name());
  e.prefix = "kiln_" + e.name;
  AotSpec spec;
  spec.prefix = e.prefix;
  spec.file_stem = e.name;
  spec.target_cpu = options.target_cpu;
  const int64_t b = options.batch;
  spec.constants = {{"BATCH", b},
                    {"IMAGE_HEIGHT", in[0]},
                    {"IMAGE_WIDTH", in[1]},
                    {"IMAGE_CHANNELS", in[2]},
                    {"CLASSES", out[1]}};
  spec.header_doc = absl::StrFormat(
      "Model \"%s\" (%d parameters), exported by Kiln for batch size %d: every function\n"
      "processes exactly %d images. The parameters start as the model's weights when exported.\n"
      "Layouts: images NHWC [batch, height, width, channels] floats; labels int32 class ids;\n"
      "conv kernels [height, width, in, out], dense kernels [in, out], biases [out].",
      model.name(), model.CountParams(), b, b);
  const std::string output = fwd.graph.node(fwd.output).name;
  AotEntry infer{"infer",
                 absl::StrCat("Inference: the class probabilities (softmax) of ", b, " images."),
                 std::move(fwd.graph),
                 {{"image", "images", "NHWC, pixels scaled to [0, 1] (value / 255)."}},
                 {{output, "probabilities", "One row of class probabilities per image."}}};
  AotEntry step{
      "train_step",
      absl::StrCat("One training step on ", b,
                   " labelled images: forward pass, sparse categorical cross-entropy,\n"
                   "backward pass, and an ",
                   options.optimizer.Describe(),
                   " update of every parameter in place. The optimizer\n"
                   "state (Adam's moments and step, SGD's velocity) starts ",
                   options.optimizer_state.empty() ? "at zero with the program."
                                                   : "as the saved model's."),
      std::move(train),
      {{"image", "images", "NHWC, pixels scaled to [0, 1] (value / 255)."},
       {"label", "labels", absl::StrCat("Class ids in [0, ", out[1], ").")}},
      {{"loss", "loss", "Mean cross-entropy of the batch, before the update."},
       {"accuracy", "accuracy", "Fraction of the batch predicted right, before the update."}}};
  spec.entries.push_back(std::move(infer));
  spec.entries.push_back(std::move(step));
  for (const auto& [name, init] : fwd.parameters) {
    auto it = model.weights().find(name);
    if (it == model.weights().end()) {
      return absl::InternalError(absl::StrCat("model '", model.name(), "' has no weight ", name));
    }
    spec.state.emplace_back(name, it->second);
  }
  spec.slots = options.optimizer_state;
  KILN_ASSIGN_OR_RETURN(e.aot, CompileAot(spec));
  if (e.aot.data_bytes + e.aot.workspace_bytes >= kMaxStaticBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batch size ", b, " needs ", e.aot.data_bytes + e.aot.workspace_bytes,
        " bytes of static storage; an object file holds under 2 GiB: use a smaller batch"));
  }
  e.example = absl::StrReplaceAll(kExample, {{"$PREFIX", e.prefix},
                                             {"$MACRO", absl::AsciiStrToUpper(e.prefix)},
                                             {"$NAME", e.name},
                                             {"$MODEL", model.name()}});
  return e;
}

absl::Status PrepareExportDir(const std::string& dir) {
  if (dir.empty()) return absl::InvalidArgumentError("no output folder given");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create the output folder ", dir, ": ",
                     ec ? ec.message() : std::string("a file of that name exists")));
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot write into the output folder ", dir, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> WriteExportedModel(const ExportedModel& exported,
                                                            const std::string& dir) {
  KILN_RETURN_IF_ERROR(PrepareExportDir(dir));
  const std::filesystem::path base(dir);
  const std::vector<std::pair<std::string, const std::string*>> files = {
      {exported.name + ".o", &exported.aot.object},
      {exported.name + ".h", &exported.aot.header},
      {"example.c", &exported.example}};
  std::vector<std::string> written;
  for (const auto& [file, bytes] : files) {
    const std::string path = (base / file).string();
    KILN_RETURN_IF_ERROR(WriteFileAtomically(path, *bytes));
    written.push_back(path);
  }
  return written;
}

}  // namespace kiln
