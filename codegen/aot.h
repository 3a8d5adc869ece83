// Ahead-of-time compilation: graphs become one relocatable object file plus a C header, so a
// plain C program can run them with no Kiln, LLVM or C++ runtime (`cc main.c model.o -lm`).
//
// Each entry point is a graph lowered by the JIT's emitters (codegen/lowering.h) and a driver
// function that runs its kernels in schedule order, single-threaded, each over all of its tasks
// in the JIT's chunks, so results equal the JIT's. Every buffer is static storage in the object:
// Parameters shared by name across entry points (initialized from `state`, so a training step
// updates the weights inference reads), one arena per entry point as planned by PlanMemory,
// scratch buffers, and copies of the inputs. No LLVM types appear here.
#ifndef KILN_CODEGEN_AOT_H_
#define KILN_CODEGEN_AOT_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/graph.h"
#include "ir/tensor.h"

namespace kiln {

// An argument of an entry point: an Input node (read from the caller) or a graph output (written
// to the caller, skipped when the caller passes NULL).
struct AotArg {
  std::string node;    // Node name in the graph ("image", "loss").
  std::string c_name;  // Parameter name in the C signature ("images").
  std::string doc;     // What it holds, for the header ("NHWC, pixels in [0, 1]").
};

// `int <prefix>_<name>(inputs..., outputs...)`: runs `graph` once.
struct AotEntry {
  std::string name;  // "infer", "train_step".
  std::string doc;   // One or more comment lines for the header (without "// ").
  Graph graph;       // As built; verified and optimized (OptimizeGraph) here.
  std::vector<AotArg> inputs;
  std::vector<AotArg> outputs;
};

struct AotSpec {
  std::string prefix;      // C identifier prefixing every symbol: "kiln_mnist_cnn".
  std::string header_doc;  // Comment lines opening the header (without "// ").
  std::string file_stem;   // "mnist_cnn": the files <stem>.o and <stem>.h the header names.
  // Extra macros for the header: {"BATCH", 8} becomes `#define KILN_MNIST_CNN_BATCH 8`.
  std::vector<std::pair<std::string, int64_t>> constants;
  std::vector<AotEntry> entries;
  // Initial values of Parameters, by name; these are the parameters the accessors expose, in
  // this order. Other Parameters (optimizer slots) start at zero.
  std::vector<std::pair<std::string, Tensor>> state;
  // Initial values of other Parameters (optimizer slots) by name; absent ones start at zero.
  std::map<std::string, Tensor> slots;
  std::string target_cpu;  // An LLVM CPU name ("x86-64-v3"); empty: the host's, like the JIT.
};

struct AotResult {
  std::string object;  // An ELF relocatable object (position-independent).
  std::string header;  // The C header declaring the entry points and accessors.
  std::string cpu;     // The CPU the code was compiled for.
  int vector_lanes = 8;
  int64_t kernels = 0;
  int64_t data_bytes = 0;       // Initialized state (weights) in .data.
  int64_t workspace_bytes = 0;  // Zero-initialized storage in .bss (slots, arenas, inputs).
};

// Compiles every entry point into one object. Errors name the entry, argument or CPU at fault.
absl::StatusOr<AotResult> CompileAot(const AotSpec& spec);

// `text` as a C identifier: characters other than [A-Za-z0-9_] become '_', and a leading digit
// gets a '_' in front ("mnist-cnn" -> "mnist_cnn").
std::string SanitizeCIdentifier(const std::string& text);

}  // namespace kiln

#endif  // KILN_CODEGEN_AOT_H_
