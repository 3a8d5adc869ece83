// `kiln` subcommands. Each returns a process exit code and reports errors on stderr.
#ifndef KILN_FRONTEND_CLI_COMMANDS_H_
#define KILN_FRONTEND_CLI_COMMANDS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "frontend/model.h"

namespace kiln::cli {

// Resolves --model: a built-in or zoo name, or a saved model file (a path or NAME.kiln).
absl::StatusOr<Model> LoadModel(const std::string& name, uint64_t seed);

// --optimizer, --lr, --momentum and --nesterov as an Optimizer (Keras's default rates).
absl::StatusOr<Optimizer> OptimizerFromFlags();

// Prints "kiln <command>: <message>" to stderr and returns exit code 1 (2 for usage errors).
int Fail(const std::string& command, const absl::Status& status);

int Summary();
int Dump();
int Predict();
int Version();
int Models();
int Train();
int Evaluate();
int GradCheck();
int Bench();
// `kiln bench --zoo`: every zoo model (bench/zoo), or only --model when given.
int BenchZoo();
// `kiln compare`: the JIT against the interpreter kernel by kernel (frontend/compare.h).
int Compare();
// `kiln export`: ahead-of-time compilation to an object file and a C header (issue 6).
int Export();
// `kiln viz convolve|filters|activations`: `what` is the subcommand word.
int Viz(const std::string& what);

}  // namespace kiln::cli

#endif  // KILN_FRONTEND_CLI_COMMANDS_H_
