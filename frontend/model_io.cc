// Model::Save / Load and checkpoints: the Model side of frontend/serialize/.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "frontend/layers_file.h"
#include "frontend/model.h"
#include "frontend/pycall.h"
#include "frontend/serialize/file_io.h"
#include "frontend/serialize/model_file.h"
#include "ir/status.h"
#include "ir/text_format.h"

namespace kiln {
namespace {

constexpr char kVersion[] = "kiln 0.1.0";
constexpr int kCheckpointsKept = 3;

SavedOptimizer ToSaved(const Optimizer& o) {
  return {o.kind == Optimizer::Kind::kSgd    ? "sgd"
          : o.kind == Optimizer::Kind::kAdam ? "adam"
                                             : "rmsprop",
          o.learning_rate,
          o.momentum,
          o.nesterov,
          o.weight_decay,
          o.beta1,
          o.beta2,
          o.epsilon,
          o.rho};
}

absl::StatusOr<Optimizer> FromSaved(const SavedOptimizer& s) {
  Optimizer o;
  if (s.kind == "sgd") {
    o = Optimizer::Sgd(s.learning_rate, s.momentum, s.nesterov, s.weight_decay);
  } else if (s.kind == "adam") {
    o = Optimizer::Adam(s.learning_rate, s.beta1, s.beta2, s.epsilon);
  } else if (s.kind == "rmsprop") {
    o = Optimizer::Rmsprop(s.learning_rate, s.rho, s.epsilon);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("optimizer.kind: unknown '", s.kind, "' (sgd, adam or rmsprop)"));
  }
  if (!(o.learning_rate > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("optimizer.learning_rate: must be positive, got ", s.learning_rate));
  }
  return o;
}

// The epoch of "ckpt-00012.kiln", or -1 for any other name.
int CheckpointEpoch(const std::string& filename) {
  int epoch = -1;
  char tail = 0;
  if (filename.size() != 15 || std::sscanf(filename.c_str(), "ckpt-%5d.kiln%c", &epoch, &tail) != 1) {
    return -1;
  }
  return epoch;
}

// Checkpoints in `dir`, newest first.
std::vector<std::pair<int, std::string>> ListCheckpoints(const std::string& dir) {
  std::vector<std::pair<int, std::string>> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const int epoch = CheckpointEpoch(entry.path().filename().string());
    if (epoch >= 0) found.emplace_back(epoch, entry.path().string());
  }
  std::sort(found.rbegin(), found.rend());
  return found;
}

}  // namespace

absl::StatusOr<Model> Model::FromSavedGraph(std::string name, Dims input_shape, Graph forward,
                                            std::string logits, std::vector<LayerRecord> layers) {
  auto saved = std::make_shared<const Graph>(std::move(forward));
  ModelFn fn = [saved, layers = std::move(layers), logits = std::move(logits)](
                   GraphBuilder& b, NodeId x) { return b.Replay(*saved, x, layers, logits); };
  Model model(std::move(name), std::move(input_shape), std::move(fn));
  // Replays once to validate.
  KILN_ASSIGN_OR_RETURN(ForwardGraph fwd, model.Build(1, GraphForm::kSaved));
  for (const auto& [param, init] : fwd.parameters) {
    model.weights_.emplace(param, Tensor(fwd.graph.node(fwd.graph.Find(param)).type));
  }
  return model;
}

absl::Status Model::Save(const std::string& path) const {
  KILN_ASSIGN_OR_RETURN(ForwardGraph fwd, Build(1, GraphForm::kSaved));
  ModelFile f;
  f.name = name_;
  f.input_shape = input_shape_;
  f.logits = fwd.logits >= 0 ? fwd.graph.node(fwd.logits).name : "";
  for (const LayerRecord& l : fwd.layers) {
    f.layers.push_back(
        {l.name, l.type, fwd.graph.node(l.output).name, l.params, l.flops_per_example, l.config});
  }
  f.forward = std::move(fwd.graph);
  f.weights = weights_;
  f.optimizer_state = optimizer_state_;
  f.compiled = compiled_;
  f.optimizer = ToSaved(optimizer_);
  f.config = {config_.dataset, config_.backend, config_.batch_size, config_.epochs,
              config_.seed,    config_.limit,   config_.loss};
  f.progress.epoch = progress_.epoch;
  f.progress.step = progress_.step;
  f.progress.has_rng = progress_.has_rng;
  std::copy(std::begin(progress_.rng_state), std::end(progress_.rng_state),
            f.progress.rng_state.begin());
  f.progress.history = progress_.history;
  f.kiln_version = kVersion;
  return SaveModelFile(path, f);
}

absl::StatusOr<Model> Model::Load(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(std::string bytes, ReadFileLimited(path, kMaxModelFileBytes));
  auto model = Decode(bytes);
  if (!model.ok()) {
    return absl::Status(model.status().code(), absl::StrCat(path, ": ", model.status().message()));
  }
  return model;
}

absl::StatusOr<Model> Model::LoadLayers(const std::string& path, uint64_t seed) {
  KILN_ASSIGN_OR_RETURN(std::string text, ReadFileLimited(path, kMaxPyTextBytes));
  KILN_ASSIGN_OR_RETURN(LayersSpec parsed, ParseLayersText(text, path));
  auto spec = std::make_shared<const LayersSpec>(std::move(parsed));
  std::string name = spec->name.empty() ? std::filesystem::path(path).stem().string() : spec->name;
  return Functional(
      std::move(name), spec->input_shape,
      [spec](GraphBuilder& b, NodeId x) { return ApplyLayers(*spec, b, x); }, seed);
}

absl::StatusOr<Model> Model::Decode(absl::string_view bytes) {
  KILN_ASSIGN_OR_RETURN(ModelFile f, DecodeModelFile(bytes));
  std::vector<LayerRecord> layers;
  for (const SavedLayer& l : f.layers) {
    layers.push_back(
        {l.name, l.type, f.forward.Find(l.output), l.params, l.flops_per_example, l.config});
  }
  auto model = FromSavedGraph(f.name, f.input_shape, std::move(f.forward), f.logits,
                              std::move(layers));
  if (!model.ok()) return model.status();
  for (auto& [name, value] : f.weights) {
    if (absl::Status s = model->SetWeight(name, value); !s.ok()) return s;
  }
  if (f.compiled) {
    auto optimizer = FromSaved(f.optimizer);
    if (!optimizer.ok()) return optimizer.status();
    const std::string loss =
        f.config.loss.empty() ? "sparse_categorical_crossentropy" : f.config.loss;
    if (absl::Status s = model->Compile(*optimizer, loss); !s.ok()) return s;
    // Slots must be exactly the training graph's non-weight Parameters.
    auto train = BuildTrainingGraph(*model, 1, *optimizer);
    if (!train.ok()) return train.status();
    for (auto& [name, value] : f.optimizer_state) {
      const NodeId id = train->Find(name);
      if (id < 0 || train->node(id).op != OpKind::kParameter || model->weights_.count(name)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "optimizer_state: '", name, "' is not a slot of the ", f.optimizer.kind, " optimizer"));
      }
      if (train->node(id).type != value.type()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "optimizer_state: '", name, "' is ", TypeToString(value.type()), ", expected ",
            TypeToString(train->node(id).type)));
      }
      model->optimizer_state_[name] = std::move(value);
    }
  } else if (!f.optimizer_state.empty()) {
    return absl::InvalidArgumentError("optimizer_state present but no optimizer compiled");
  }
  model->config_ = {f.config.dataset, f.config.backend, f.config.batch_size, f.config.epochs,
                    f.config.seed,    f.config.limit,   f.config.loss};
  model->progress_.epoch = f.progress.epoch;
  model->progress_.step = f.progress.step;
  model->progress_.has_rng = f.progress.has_rng;
  std::copy(f.progress.rng_state.begin(), f.progress.rng_state.end(), model->progress_.rng_state);
  model->progress_.history = std::move(f.progress.history);
  return model;
}

absl::Status Model::CheckSameArchitecture(const Model& other) const {
  KILN_ASSIGN_OR_RETURN(ForwardGraph mine, Build(1));
  KILN_ASSIGN_OR_RETURN(ForwardGraph theirs, other.Build(1));
  if (input_shape_ != other.input_shape_ || PrintGraph(mine.graph) != PrintGraph(theirs.graph)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "architecture differs: model '", name_, "' (", CountParams(), " parameters) vs '",
        other.name_, "' (", other.CountParams(), " parameters)"));
  }
  return absl::OkStatus();
}

absl::Status Model::WriteCheckpoint(const std::string& dir) const {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot create checkpoint folder '", dir, "': ",
                                            ec.message()));
  }
  const std::string path = absl::StrFormat("%s/ckpt-%05d.kiln", dir, progress_.epoch);
  KILN_RETURN_IF_ERROR(Save(path));
  // Only once the new checkpoint is durable are the oldest removed.
  const auto all = ListCheckpoints(dir);
  for (size_t i = kCheckpointsKept; i < all.size(); ++i) {
    std::filesystem::remove(all[i].second, ec);
  }
  return absl::OkStatus();
}

absl::StatusOr<Model> Model::LoadNewestCheckpoint(const std::string& dir,
                                                  std::vector<std::string>* skipped) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat("checkpoint folder '", dir, "' does not exist"));
  }
  for (const auto& [epoch, path] : ListCheckpoints(dir)) {
    auto model = Load(path);
    if (model.ok()) return model;
    if (skipped) skipped->push_back(std::string(model.status().message()));
  }
  return absl::NotFoundError(absl::StrCat("no complete checkpoint in '", dir, "'"));
}

}  // namespace kiln
