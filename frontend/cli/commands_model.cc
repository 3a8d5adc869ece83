// Commands that inspect a model: summary, dump, predict, models, version.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "bench/zoo/zoo.h"
#include "codegen/host_target.h"
#include "codegen/jit.h"
#include "frontend/builtin_models.h"
#include "frontend/cli/commands.h"
#include "frontend/cli/flags.h"
#include "frontend/cli/image_arg.h"
#include "frontend/layers_file.h"
#include "frontend/training.h"
#include "frontend/viz/graphviz.h"
#include "ir/dot.h"
#include "ir/passes/memory_plan.h"
#include "ir/passes/passes.h"
#include "ir/text_format.h"

namespace kiln::cli {

int Fail(const std::string& command, const absl::Status& status) {
  std::fprintf(stderr, "kiln %s: %s\n", command.c_str(), std::string(status.message()).c_str());
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

absl::StatusOr<Model> LoadModel(const std::string& name, uint64_t seed) {
  // A model description file by its suffix; a path (anything with a slash or the .kiln suffix)
  // is a saved model; otherwise a built-in.
  if (absl::EndsWith(name, ".layers")) return Model::LoadLayers(name, seed);
  const bool is_file = name.find('/') != std::string::npos ||
                       (name.size() > 5 && name.compare(name.size() - 5, 5, ".kiln") == 0);
  if (is_file) return Model::Load(name);
  if (IsZooModel(name)) return ZooModel(name, seed);
  return BuiltinModel(name, seed);
}

int Summary() {
  auto model = LoadModel(FlagModel(), FlagSeed());
  if (!model.ok()) return Fail("summary", model.status());
  std::fputs(model->Summary().c_str(), stdout);
  return 0;
}

int Dump() {
  auto model = LoadModel(FlagModel(), FlagSeed());
  if (!model.ok()) return Fail("dump", model.status());
  const int64_t batch = FlagBatch() > 0 ? FlagBatch() : 1;
  const std::string format = FlagFormat();
  if (format == "layers") {  // The model as a model description file.
    auto fwd = model->Build(1);
    if (!fwd.ok()) return Fail("dump", fwd.status());
    auto text = LayersText(model->name(), model->input_shape(), fwd->layers);
    if (!text.ok()) return Fail("dump", text.status());
    std::fputs(text->c_str(), stdout);
    return 0;
  }
  if (format != "text" && format != "dot") {
    return Fail("dump", absl::InvalidArgumentError(
                            absl::StrCat("unknown --format '", format, "' (text, dot or layers)")));
  }
  if (!FlagRender().empty() && format != "dot") {  // viz: --render draws the DOT graph.
    return Fail("dump", absl::InvalidArgumentError("--render needs --format dot"));
  }
  // --graph forward|train picks the graph; --stage NAME shows it after that pipeline stage.
  absl::StatusOr<Graph> graph = absl::InvalidArgumentError(
      absl::StrCat("unknown --graph '", FlagGraph(), "' (forward or train)"));
  if (FlagGraph() == "forward") {
    auto fwd = model->Build(batch);
    if (!fwd.ok()) return Fail("dump", fwd.status());
    graph = std::move(fwd->graph);
  } else if (FlagGraph() == "train") {
    graph = BuildTrainingGraph(*model, batch, Optimizer::Adam());
  }
  if (!graph.ok()) return Fail("dump", graph.status());
  const std::string stage = FlagStage();
  const auto& stages = PipelineStages();
  if (std::find(stages.begin(), stages.end(), stage) == stages.end() && stage != "memory" &&
      stage != "llvm") {
    return Fail("dump", absl::InvalidArgumentError(absl::StrCat("unknown --stage '", stage, "' (",
                                                                absl::StrJoin(stages, ", "),
                                                                ", memory, llvm)")));
  }
  if (stage == "llvm") {  // The JIT's optimized LLVM IR, every kernel of the graph.
    JitOptions options;
    options.keep_ir = true;
    auto jit = CreateJit(*graph, options);
    if (!jit.ok()) return Fail("dump", jit.status());
    std::fputs((*jit)->info().llvm_ir.c_str(), stdout);
    return 0;
  }
  Graph shown = *graph;
  if (stage != "input") {
    auto optimized = OptimizeGraph(*graph, [&](const std::string& name, const Graph& g) {
      if (name == stage) shown = g;
    });
    if (!optimized.ok()) return Fail("dump", optimized.status());
    if (stage == "memory") {
      shown = *optimized;
      auto plan = PlanMemory(shown);
      if (!plan.ok()) return Fail("dump", plan.status());
      std::fputs(plan->ToString(shown).c_str(), stdout);
    }
  }
  if (!FlagRender().empty()) {  // viz: Graphviz renders the DOT text to --out or stdout.
    if (auto s = viz::RenderDot(GraphToDot(shown), FlagRender(), FlagOut()); !s.ok()) {
      return Fail("dump", s);
    }
    return 0;
  }
  std::fputs(format == "text" ? PrintGraph(shown).c_str() : GraphToDot(shown).c_str(), stdout);
  return 0;
}

// A synthetic "1": a vertical stroke, so the command runs without any dataset.
Tensor SyntheticDigit(const Dims& shape) {
  Tensor image(TensorType{DType::kF32, {1, shape[0], shape[1], shape[2]}});
  for (int64_t y = 4; y < shape[0] - 4; ++y) {
    for (int64_t x = shape[1] / 2 - 1; x <= shape[1] / 2; ++x) {
      image.f32()[(y * shape[1] + x) * shape[2]] = 1.0f;
    }
  }
  return image;
}

int Predict() {
  auto model = LoadModel(FlagModel(), FlagSeed());
  if (!model.ok()) return Fail("predict", model.status());
  Tensor image = SyntheticDigit(model->input_shape());
  std::string what = "a synthetic digit";
  if (!FlagImage().empty()) {  // A PNG file or mnist:INDEX (frontend/cli/image_arg.h).
    const Dims& shape = model->input_shape();
    auto loaded = LoadImageArg(FlagImage(), shape.size() > 1 ? shape[1] : 0, shape[0]);
    if (!loaded.ok()) return Fail("predict", loaded.status());
    image = GrayImageToTensor(loaded->image);
    what = loaded->description;
    if (loaded->label >= 0) absl::StrAppend(&what, " (label ", loaded->label, ")");
  }
  auto backend = ParseBackend(FlagBackend());
  if (!backend.ok()) return Fail("predict", backend.status());
  auto probs = model->Predict(image, 1, *backend, FlagThreads());
  if (!probs.ok()) return Fail("predict", probs.status());
  const bool trained = model->progress().epoch > 0;
  std::printf("class probabilities for %s (model %s, %s, %s weights):\n", what.c_str(),
              model->name().c_str(), BackendName(*backend),
              trained ? absl::StrCat("trained for ", model->progress().epoch, " epochs").c_str()
                      : "untrained");
  int best = 0;
  for (int64_t c = 0; c < probs->size(); ++c) {
    if (probs->f32()[c] > probs->f32()[best]) best = static_cast<int>(c);
    std::printf("  %lld: %.4f\n", static_cast<long long>(c), probs->f32()[c]);
  }
  std::printf("predicted class: %d\n", best);
  return 0;
}

int Models() {
  for (const std::string& name : BuiltinModelNames()) {
    auto model = BuiltinModel(name);
    if (!model.ok()) return Fail("models", model.status());
    std::printf("%-16s %10lld params\n", name.c_str(),
                static_cast<long long>(model->CountParams()));
  }
  for (const ZooEntry& entry : ZooModels()) {
    auto model = ZooModel(entry.name);
    if (!model.ok()) return Fail("models", model.status());
    std::printf("%-16s %10lld params  %s\n", entry.name.c_str(),
                static_cast<long long>(model->CountParams()), entry.description.c_str());
  }
  return 0;
}

int Version() {
  codegen::HostTarget host = codegen::DetectHostTarget();
  std::printf("kiln 0.1.0\nLLVM %s\nhost %s, cpu %s, avx512f %s\n", host.llvm_version.c_str(),
              host.triple.c_str(), host.cpu.c_str(), host.avx512f ? "yes" : "no");
  return 0;
}

}  // namespace kiln::cli
