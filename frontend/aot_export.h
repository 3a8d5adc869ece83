// Ahead-of-time export of a model (`kiln export`): its inference pass and its training step
// compiled into one object file and a C header (codegen/aot.h), plus an example C program that
// links the object with nothing but libc and libm.
#ifndef KILN_FRONTEND_AOT_EXPORT_H_
#define KILN_FRONTEND_AOT_EXPORT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/aot.h"
#include "frontend/model.h"
#include "frontend/training.h"

namespace kiln {

struct ExportOptions {
  int64_t batch = 1;       // Every entry point processes exactly this many images.
  Optimizer optimizer;     // The training step's (Adam with Keras's defaults).
  std::string target_cpu;  // An LLVM CPU name; empty: the host's.
  // Initial optimizer slots (a saved model's, when it keeps its optimizer); absent ones are zero.
  std::map<std::string, Tensor> optimizer_state;
};

struct ExportedModel {
  std::string name;     // The model's name as a C identifier: files <name>.o and <name>.h.
  std::string prefix;   // Symbol prefix: "kiln_<name>".
  AotResult aot;        // The object and the header.
  std::string example;  // example.c: runs a few training steps and inference.
};

// Compiles `model` with its current weights as the initial parameters:
//   int kiln_<name>_infer(const float* images, float* probabilities);
//   int kiln_<name>_train_step(const float* images, const int32_t* labels, float* loss,
//                              float* accuracy);
// plus parameter accessors. Needs a last layer ending in softmax (the training step's loss).
absl::StatusOr<ExportedModel> ExportModel(const Model& model, const ExportOptions& options);

// Creates `dir` when missing and checks that files can be created in it.
absl::Status PrepareExportDir(const std::string& dir);

// Writes <dir>/<name>.o, <dir>/<name>.h and <dir>/example.c, each atomically, creating `dir`
// when missing; returns the paths written.
absl::StatusOr<std::vector<std::string>> WriteExportedModel(const ExportedModel& exported,
                                                            const std::string& dir);

}  // namespace kiln

#endif  // KILN_FRONTEND_AOT_EXPORT_H_
