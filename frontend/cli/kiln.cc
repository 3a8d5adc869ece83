// The `kiln` command-line tool: `kiln <command> [flags]`. Flags are defined here so `--help` lists
// them; the commands live in commands_*.cc.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "frontend/cli/commands.h"
#include "frontend/cli/flags.h"

ABSL_FLAG(std::string, model, "mnist-cnn", "Built-in model name (see `kiln models`)");
ABSL_FLAG(std::string, format, "text", "dump: text | dot");
ABSL_FLAG(int64_t, batch, 1, "Batch size the graph is built for");
ABSL_FLAG(uint64_t, seed, 0, "Seed for weight initialization and shuffling");
ABSL_FLAG(std::string, image, "", "predict: 28x28 grayscale image (PNG) or mnist:INDEX");

namespace kiln::cli {
std::string FlagModel() { return absl::GetFlag(FLAGS_model); }
std::string FlagFormat() { return absl::GetFlag(FLAGS_format); }
int64_t FlagBatch() { return absl::GetFlag(FLAGS_batch); }
uint64_t FlagSeed() { return absl::GetFlag(FLAGS_seed); }
std::string FlagImage() { return absl::GetFlag(FLAGS_image); }
}  // namespace kiln::cli

namespace {

constexpr char kUsage[] = R"(kiln: a deep-learning compiler for small convolutional nets

usage: kiln <command> [flags]

commands:
  summary   --model NAME                     Keras-style summary with FLOPs and memory
  dump      --model NAME [--format text|dot] [--batch B]
                                             the model's IR as text or Graphviz
  predict   --model NAME [--seed S]          class probabilities for a synthetic digit
  models                                     list the built-in models
  version                                    versions and the host CPU the JIT targets

Run `kiln --help` for every flag.)";

struct Command {
  const char* name;
  int (*run)();
};

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  const std::vector<Command> commands = {
      {"summary", kiln::cli::Summary}, {"dump", kiln::cli::Dump},
      {"predict", kiln::cli::Predict}, {"version", kiln::cli::Version},
      {"models", kiln::cli::Models},
  };
  if (argc < 2 || argv[1][0] == '-') {
    if (argc >= 2) absl::ParseCommandLine(argc, argv);  // Handles --help and friends.
    std::fprintf(stderr, "%s\n", kUsage);
    return 2;
  }
  const std::string name = argv[1];
  for (const Command& command : commands) {
    if (name == command.name) {
      // Drop the command word so absl sees `kiln --flag ...`.
      std::vector<char*> args = {argv[0]};
      for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
      std::vector<char*> rest =
          absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
      if (rest.size() > 1) {
        std::fprintf(stderr, "kiln %s: unexpected argument '%s'\n", name.c_str(), rest[1]);
        return 2;
      }
      return command.run();
    }
  }
  std::fprintf(stderr, "kiln: unknown command '%s'\n\n%s\n", name.c_str(), kUsage);
  return 2;
}
