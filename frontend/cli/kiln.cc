// The `kiln` command-line tool: `kiln <command> [flags]`. Flags are defined here so `--help` lists
// them; the commands live in commands_*.cc.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "frontend/cli/commands.h"
#include "frontend/cli/flags.h"

ABSL_FLAG(std::string, model, "mnist-cnn",
          "Built-in or zoo model name (see `kiln models`), a saved FILE.kiln, or a model "
          "description FILE.layers (Keras layer calls, one per line)");
ABSL_FLAG(std::string, format, "text", "dump: text | dot | layers (the model as a .layers file)");
ABSL_FLAG(std::string, graph, "forward", "dump: forward | train (the whole training step)");
ABSL_FLAG(std::string, stage, "input",
          "dump: pipeline stage to show: input, simplify, cse, dce, fuse, final, memory");
ABSL_FLAG(int64_t, batch, 0, "Batch size (default: 1 for dump, 64 for train and evaluate)");
ABSL_FLAG(std::string, data, "mnist",
          "Dataset: mnist | fashion | a folder with one subfolder of PNG/JPEG images per class "
          "(or DIR/train and DIR/validation holding such folders)");
ABSL_FLAG(double, validation_split, 0,
          "--data DIR: the fraction of the images (shuffled by --seed) held out to validate");
ABSL_FLAG(bool, skip_bad_files, false,
          "--data DIR: skip images that do not decode (and count them) instead of failing");
ABSL_FLAG(int, epochs, 5, "train: number of epochs");
ABSL_FLAG(std::string, optimizer, "adam", "train: sgd | adam | rmsprop");
ABSL_FLAG(std::string, loss, "sparse_categorical_crossentropy",
          "train: sparse_categorical_crossentropy (a softmax over the classes) | "
          "binary_crossentropy (two classes, a last layer Dense(1, activation='sigmoid'))");
ABSL_FLAG(double, lr, 0,
          "train: learning rate (default: Keras's, 0.01 for sgd, 0.001 for adam and rmsprop)");
ABSL_FLAG(double, momentum, 0, "train: SGD momentum");
ABSL_FLAG(bool, nesterov, false, "train: SGD with Nesterov momentum");
ABSL_FLAG(int64_t, limit, 0, "train: use only the first N training images (0: all)");
ABSL_FLAG(int64_t, test_limit, 0, "train/evaluate: use only the first N test images (0: all)");
ABSL_FLAG(double, stop_at_accuracy, 0,
          "train: stop once training accuracy reaches this fraction (e.g. 0.998)");
ABSL_FLAG(int, patience, 0, "train: early stopping on val_loss with this patience (0: off)");
ABSL_FLAG(std::string, backend, "jit", "jit | interpreter");
ABSL_FLAG(int, threads, 0, "JIT threads including the caller (0: every core)");
ABSL_FLAG(int, repeats, 5, "bench: samples per measurement (the median is reported)");
ABSL_FLAG(bool, profile, false, "bench: per-kernel time, GFLOP/s and share of the step");
ABSL_FLAG(bool, json, false, "Machine-readable output: one JSON object per line");
ABSL_FLAG(double, tolerance, 5e-2,
          "gradcheck: largest relative error accepted (float32 forward passes limit it)");
ABSL_FLAG(double, epsilon, 1e-3, "gradcheck: finite-difference step");
ABSL_FLAG(uint64_t, seed, 0, "Seed for weight initialization and shuffling");
ABSL_FLAG(std::string, image, "", "predict: 28x28 grayscale image (PNG) or mnist:INDEX");

// viz flags: `kiln viz ...`, `train --plot`, `dump --render` (issue 7).
ABSL_FLAG(std::string, kernel, "vertical",
          "viz convolve: vertical, horizontal, sharpen, blur, laplacian, or rows of values such "
          "as \"-1,0,1;-2,0,2;-1,0,1\"");
ABSL_FLAG(int64_t, pool, 2, "viz convolve: max-pooling window after the convolution (0: none)");
ABSL_FLAG(std::string, layer, "", "viz filters: the conv layer to show (default: the first)");
ABSL_FLAG(std::string, index, "0,7,26", "viz activations: test image indices, comma-separated");
ABSL_FLAG(std::string, channels, "",
          "viz filters/activations: channels, comma-separated (default: filters all, or the "
          "first 16 of a multi-channel layer; activations 0,1,2,3)");
ABSL_FLAG(std::string, out, "",
          "viz: the PNG to write; dump --render: the file (default: stdout); export: the folder");
ABSL_FLAG(std::string, plot, "", "train: also write loss and accuracy curves to this PNG");
ABSL_FLAG(std::string, render, "", "dump --format dot: render with Graphviz's dot: svg | png");
// bench: thread scaling and the PyTorch peer (issue 5).
ABSL_FLAG(bool, scaling, false, "bench: JIT training step at 1 thread vs --threads, and speedup");
ABSL_FLAG(bool, vs_torch, false,
          "bench: the same model, batch and threads in PyTorch (scripts/setup.sh --torch)");
ABSL_FLAG(bool, zoo, false,
          "bench: every model of the zoo (bench/zoo): JIT, interpreter, % of peak, roofline");
ABSL_FLAG(std::string, torch_script, "",
          "bench --vs-torch: path of bench/torch_peer.py (default: found next to kiln)");
// export: ahead-of-time compilation (issue 6); it also uses --out (the folder) and --batch.
ABSL_FLAG(std::string, target_cpu, "",
          "LLVM CPU name to compile for, e.g. x86-64-v3 (AVX2): export's object file, or any "
          "command's JIT (as KILN_TARGET_CPU does; default: the host's)");
// Saved models and checkpoints (issue 6).
ABSL_FLAG(std::string, save, "", "train: save the trained model to this .kiln file");
ABSL_FLAG(std::string, checkpoint_dir, "",
          "train: write a checkpoint to this folder after every epoch (the newest 3 are kept)");
ABSL_FLAG(std::string, resume, "",
          "train: continue from the newest complete checkpoint in this folder");

namespace kiln::cli {
bool FlagSpecified(const char* name) {
  const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  // This Abseil keeps IsSpecifiedOnCommandLine private: a value other than the default counts.
  return flag != nullptr && flag->CurrentValue() != flag->DefaultValue();
}
std::string FlagSave() { return absl::GetFlag(FLAGS_save); }
std::string FlagCheckpointDir() { return absl::GetFlag(FLAGS_checkpoint_dir); }
std::string FlagResume() { return absl::GetFlag(FLAGS_resume); }
std::string FlagModel() { return absl::GetFlag(FLAGS_model); }
double FlagValidationSplit() { return absl::GetFlag(FLAGS_validation_split); }
bool FlagSkipBadFiles() { return absl::GetFlag(FLAGS_skip_bad_files); }
std::string FlagLoss() { return absl::GetFlag(FLAGS_loss); }
std::string FlagFormat() { return absl::GetFlag(FLAGS_format); }
std::string FlagGraph() { return absl::GetFlag(FLAGS_graph); }
std::string FlagStage() { return absl::GetFlag(FLAGS_stage); }
int64_t FlagBatch() { return absl::GetFlag(FLAGS_batch); }
uint64_t FlagSeed() { return absl::GetFlag(FLAGS_seed); }
std::string FlagImage() { return absl::GetFlag(FLAGS_image); }
std::string FlagData() { return absl::GetFlag(FLAGS_data); }
int FlagEpochs() { return absl::GetFlag(FLAGS_epochs); }
std::string FlagOptimizer() { return absl::GetFlag(FLAGS_optimizer); }
double FlagLr() { return absl::GetFlag(FLAGS_lr); }
double FlagMomentum() { return absl::GetFlag(FLAGS_momentum); }
bool FlagNesterov() { return absl::GetFlag(FLAGS_nesterov); }
int64_t FlagLimit() { return absl::GetFlag(FLAGS_limit); }
int64_t FlagTestLimit() { return absl::GetFlag(FLAGS_test_limit); }
double FlagStopAtAccuracy() { return absl::GetFlag(FLAGS_stop_at_accuracy); }
int FlagPatience() { return absl::GetFlag(FLAGS_patience); }
bool FlagJson() { return absl::GetFlag(FLAGS_json); }
std::string FlagBackend() { return absl::GetFlag(FLAGS_backend); }
int FlagThreads() { return absl::GetFlag(FLAGS_threads); }
int FlagRepeats() { return absl::GetFlag(FLAGS_repeats); }
bool FlagProfile() { return absl::GetFlag(FLAGS_profile); }
double FlagTolerance() { return absl::GetFlag(FLAGS_tolerance); }
double FlagEpsilon() { return absl::GetFlag(FLAGS_epsilon); }
// viz flags.
std::string FlagKernel() { return absl::GetFlag(FLAGS_kernel); }
int64_t FlagPool() { return absl::GetFlag(FLAGS_pool); }
std::string FlagLayer() { return absl::GetFlag(FLAGS_layer); }
std::string FlagIndex() { return absl::GetFlag(FLAGS_index); }
std::string FlagChannels() { return absl::GetFlag(FLAGS_channels); }
std::string FlagOut() { return absl::GetFlag(FLAGS_out); }
std::string FlagPlot() { return absl::GetFlag(FLAGS_plot); }
std::string FlagRender() { return absl::GetFlag(FLAGS_render); }
// bench: thread scaling and the PyTorch peer (issue 5).
bool FlagScaling() { return absl::GetFlag(FLAGS_scaling); }
bool FlagVsTorch() { return absl::GetFlag(FLAGS_vs_torch); }
bool FlagZoo() { return absl::GetFlag(FLAGS_zoo); }
std::string FlagTorchScript() { return absl::GetFlag(FLAGS_torch_script); }
// export (issue 6).
std::string FlagTargetCpu() { return absl::GetFlag(FLAGS_target_cpu); }
}  // namespace kiln::cli

namespace {

constexpr char kUsage[] = R"(kiln: a deep-learning compiler for small convolutional nets

usage: kiln <command> [flags]

commands:
  summary   --model NAME                     Keras-style summary with FLOPs and memory
            (every --model takes a built-in or zoo NAME, a saved FILE.kiln, or FILE.layers:
            Keras layer calls, one per line, as pasted from a notebook)
  dump      --model NAME [--format text|dot|layers] [--batch B] [--graph forward|train]
            [--stage input|simplify|cse|dce|fuse|final|memory|llvm] [--render svg|png --out FILE]
                                             the IR after any pipeline stage, text or Graphviz
  predict   --model NAME [--seed S] [--image FILE.png|mnist:INDEX]
                                             class probabilities for an image (default: a
                                             synthetic digit)
  train     --model NAME --data mnist|fashion|DIR --epochs N --batch B --optimizer sgd|adam|rmsprop
            --lr X --seed S [--limit N] [--stop_at_accuracy F] [--patience P] [--json]
            [--plot curves.png] [--validation_split F] [--skip_bad_files]
            [--loss sparse_categorical_crossentropy|binary_crossentropy]
                                             train, then report test loss and accuracy; DIR
                                             holds one folder of PNG/JPEG images per class
  viz convolve    --image FILE.png|mnist:INDEX --kernel NAME|"-1,0,1;-2,0,2;-1,0,1"
                  [--pool 2] --out out.png   original, filtered and pooled side by side
  viz filters     --model NAME [--layer NAME] [--channels 0,1] --out f.png
                                             a conv layer's kernels
  viz activations --model NAME --data mnist|fashion [--index 0,7,26] [--channels 0,1,2,3]
                  --out a.png                each conv and pooling layer's feature maps
  evaluate  --model NAME --data mnist|fashion [--batch B] [--json]
                                             test loss and accuracy
  gradcheck --model NAME [--tolerance T]     symbolic vs numerical gradients per parameter
  bench     --model NAME --batch B --threads T [--repeats R] [--profile] [--scaling]
            [--vs-torch] [--json]            JIT vs interpreter (and PyTorch): compile time,
                                             images/s, per-kernel % of peak, thread scaling
  bench     --zoo [--model NAME] [--vs-torch] [--profile] [--json]
                                             every zoo model: img/s, % of peak, roofline
  compare   --model NAME [--batch B] [--tolerance T] [--json]
                                             one training step on the JIT and the
                                             interpreter, every kernel's result compared;
                                             names the first kernel that differs
  export    --model NAME --out DIR [--batch B] [--target-cpu CPU] [--optimizer sgd|adam|rmsprop --lr X]
                                             compile inference and a training step to DIR/NAME.o
                                             and NAME.h for plain C, with DIR/example.c
  models                                     list the built-in and zoo models
  version                                    versions and the host CPU the JIT targets

Run `kiln --help` for every flag.)";

struct Command {
  const char* name;
  int (*run)();
  // Commands with a subcommand word (`kiln viz convolve`) get it here ("" when absent).
  int (*run_sub)(const std::string&) = nullptr;
};

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  const std::vector<Command> commands = {
      {"summary", kiln::cli::Summary},   {"dump", kiln::cli::Dump},
      {"predict", kiln::cli::Predict},   {"version", kiln::cli::Version},
      {"models", kiln::cli::Models},     {"train", kiln::cli::Train},
      {"evaluate", kiln::cli::Evaluate}, {"gradcheck", kiln::cli::GradCheck},
      {"bench", kiln::cli::Bench},       {"viz", nullptr, kiln::cli::Viz},
      {"export", kiln::cli::Export},  // Ahead-of-time export (issue 6).
      {"compare", kiln::cli::Compare},
  };
  if (argc < 2 || argv[1][0] == '-') {
    if (argc >= 2) absl::ParseCommandLine(argc, argv);  // Handles --help and friends.
    std::fprintf(stderr, "%s\n", kUsage);
    return 2;
  }
  const std::string name = argv[1];
  for (const Command& command : commands) {
    if (name == command.name) {
      // Drop the command word so absl sees `kiln --flag ...`. Flag names may be spelled with
      // hyphens (`--vs-torch` for --vs_torch); values are left alone.
      std::vector<std::string> spelled(argv + 2, argv + argc);
      std::vector<char*> args = {argv[0]};
      for (std::string& arg : spelled) {
        if (arg.size() > 2 && arg.compare(0, 2, "--") == 0) {
          for (size_t i = 2; i < arg.size() && arg[i] != '='; ++i) {
            if (arg[i] == '-') arg[i] = '_';
          }
        }
        args.push_back(arg.data());
      }
      std::vector<char*> rest = absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
      const size_t words = command.run_sub ? 2 : 1;  // argv[0], then the subcommand if any.
      if (rest.size() > words) {
        std::fprintf(stderr, "kiln %s: unexpected argument '%s'\n", name.c_str(), rest[words]);
        return 2;
      }
      // Flags shared by several commands are checked once here.
      const char* bad = absl::GetFlag(FLAGS_batch) < 0     ? "--batch must be positive"
                        : absl::GetFlag(FLAGS_threads) < 0 ? "--threads must be >= 0"
                        : absl::GetFlag(FLAGS_repeats) < 1 ? "--repeats must be >= 1"
                                                           : nullptr;
      if (bad) {
        std::fprintf(stderr, "kiln %s: %s\n", name.c_str(), bad);
        return 2;
      }
      // --target-cpu: export compiles for it; every other command's JIT does too (for trying
      // another CPU's schedules, such as AVX2's, on this machine).
      const std::string target_cpu = absl::GetFlag(FLAGS_target_cpu);
      if (!target_cpu.empty() && name != "export") setenv("KILN_TARGET_CPU", target_cpu.c_str(), 1);
      if (command.run_sub) return command.run_sub(rest.size() > 1 ? rest[1] : "");
      return command.run();
    }
  }
  std::fprintf(stderr, "kiln: unknown command '%s'\n\n%s\n", name.c_str(), kUsage);
  return 2;
}
