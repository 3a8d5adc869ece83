// Commands that train or check a model: train, evaluate, gradcheck.
#include <chrono>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "autodiff/gradcheck.h"
#include "frontend/cli/commands.h"
#include "frontend/cli/flags.h"
#include "frontend/image_folder.h"
#include "frontend/initializers.h"
#include "frontend/json.h"
#include "frontend/training.h"
#include "frontend/viz/plots.h"

namespace kiln::cli {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int64_t BatchOr(int64_t fallback) { return FlagBatch() > 0 ? FlagBatch() : fallback; }

Dataset Limit(const Dataset& d, int64_t limit) {
  return limit > 0 && limit < d.size() ? d.Slice(0, limit) : d;
}

// --data: "mnist", "fashion", or a folder of class folders (the user's own images) read at the
// model's input shape; its validation images (--validation_split or DIR/validation) are the
// test set. `quiet` leaves out the summary line (--json).
absl::StatusOr<TrainTest> LoadData(const std::string& data, const Model& model, bool quiet) {
  if (data == "mnist" || data == "fashion") return LoadDataset(data);
  ImageFolderOptions options;
  options.image_shape = model.input_shape();
  options.validation_split = FlagValidationSplit();
  options.seed = FlagSeed();
  options.skip_bad_files = FlagSkipBadFiles();
  auto folder = LoadImageFolder(data, options);
  if (!folder.ok()) {
    if (folder.status().code() == absl::StatusCode::kNotFound) {
      return absl::InvalidArgumentError(
          absl::StrCat("--data ", data, ": not mnist, fashion or a folder of class folders (",
                       folder.status().message(), ")"));
    }
    return folder.status();
  }
  if (!quiet) {
    std::printf("Found %lld images of %zu classes (%s) in %s: %lld to train, %lld to validate",
                static_cast<long long>(folder->train.size() + folder->validation.size()),
                folder->class_names.size(), absl::StrJoin(folder->class_names, ", ").c_str(),
                data.c_str(), static_cast<long long>(folder->train.size()),
                static_cast<long long>(folder->validation.size()));
    if (folder->skipped > 0)
      std::printf("; %lld bad files skipped", static_cast<long long>(folder->skipped));
    std::printf("\n");
  }
  return TrainTest{std::move(folder->train), std::move(folder->validation)};
}

}  // namespace

absl::StatusOr<Optimizer> OptimizerFromFlags() {
  const std::string name = FlagOptimizer();
  if (FlagLr() < 0) return absl::InvalidArgumentError("--lr must be positive");
  if (name == "adam") return Optimizer::Adam(FlagLr() > 0 ? FlagLr() : 0.001);
  if (name == "sgd") {
    return Optimizer::Sgd(FlagLr() > 0 ? FlagLr() : 0.01, FlagMomentum(), FlagNesterov());
  }
  if (name == "rmsprop") return Optimizer::Rmsprop(FlagLr() > 0 ? FlagLr() : 0.001);
  return absl::InvalidArgumentError(
      absl::StrCat("unknown --optimizer '", name, "' (sgd, adam or rmsprop)"));
}

// The model `kiln train` starts from: --model, or with --resume the newest complete checkpoint
// (which must have --model's architecture when --model is given).
absl::StatusOr<Model> TrainingStart(bool json) {
  if (FlagResume().empty()) return LoadModel(FlagModel(), FlagSeed());
  std::vector<std::string> skipped;
  auto checkpoint = Model::LoadNewestCheckpoint(FlagResume(), &skipped);
  for (const std::string& why : skipped) {
    std::fprintf(stderr, "kiln train: skipping checkpoint: %s\n", why.c_str());
  }
  if (!checkpoint.ok()) return checkpoint.status();
  if (FlagSpecified("model")) {
    auto model = LoadModel(FlagModel(), FlagSeed());
    if (!model.ok()) return model.status();
    if (auto s = model->CheckSameArchitecture(*checkpoint); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--resume ", FlagResume(), ": checkpoint from a different architecture than --model ",
                       FlagModel(), ": ", s.message()));
    }
  }
  // The run continues exactly as configured; flags that would change it are refused.
  const TrainingConfig& c = checkpoint->training_config();
  for (const auto& [flag, differs] :
       std::vector<std::pair<const char*, bool>>{{"data", FlagData() != c.dataset},
                                                 {"batch", FlagBatch() != c.batch_size},
                                                 {"seed", FlagSeed() != c.seed},
                                                 {"limit", FlagLimit() != c.limit}}) {
    if (FlagSpecified(flag) && differs) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", flag, " differs from the checkpoint's training configuration; leave it out "
          "with --resume"));
    }
  }
  if (!json) {
    std::printf("Resuming %s from %s after epoch %d\n", checkpoint->name().c_str(),
                FlagResume().c_str(), checkpoint->progress().epoch);
  }
  return checkpoint;
}

int Train() {
  const auto start = Clock::now();
  const bool json = FlagJson();
  const bool resume = !FlagResume().empty();
  auto model = TrainingStart(json);
  if (!model.ok()) return Fail("train", model.status());
  const TrainingConfig resumed = model->training_config();
  auto optimizer = resume ? absl::StatusOr<Optimizer>(model->optimizer()) : OptimizerFromFlags();
  if (!optimizer.ok()) return Fail("train", optimizer.status());
  if (FlagEpochs() < 1) return Fail("train", absl::InvalidArgumentError("--epochs must be >= 1"));
  if (FlagLimit() < 0 || FlagTestLimit() < 0) {
    return Fail("train", absl::InvalidArgumentError("--limit and --test_limit must be >= 0"));
  }
  const std::string data_name = resume ? resumed.dataset : FlagData();
  const int64_t limit = resume ? resumed.limit : FlagLimit();
  auto data = LoadData(data_name, *model, json);
  if (!data.ok()) return Fail("train", data.status());
  const Dataset train = Limit(data->train, limit);
  const Dataset test = Limit(data->test, FlagTestLimit());
  if (!resume) {
    if (auto s = model->Compile(*optimizer, FlagLoss()); !s.ok()) return Fail("train", s);
  }
  TrainingConfig config;  // Fit fills in the batch size, epochs, seed and backend.
  config.dataset = data_name;
  config.limit = limit;
  config.loss = model->training_config().loss;  // Compile's (or the checkpoint's).
  model->set_training_config(config);
  auto backend = ParseBackend(FlagBackend());
  if (!backend.ok()) return Fail("train", backend.status());

  Model::FitOptions fit;
  fit.epochs = FlagEpochs();
  fit.batch_size = resume ? resumed.batch_size : BatchOr(64);
  fit.seed = resume ? resumed.seed : FlagSeed();
  fit.resume = resume;
  fit.checkpoint_dir = !FlagCheckpointDir().empty() ? FlagCheckpointDir() : FlagResume();
  fit.verbose = json ? 0 : 1;
  fit.backend = *backend;
  fit.threads = FlagThreads();
  // A folder of images without a validation part trains without validation (and test) metrics.
  fit.validation = test.size() > 0 ? &test : nullptr;
  std::vector<std::unique_ptr<Callback>> callbacks;
  if (FlagStopAtAccuracy() > 0) {
    callbacks.push_back(StopAtThreshold("accuracy", FlagStopAtAccuracy(),
                                        json ? ""
                                             : absl::StrCat("Reached ", FlagStopAtAccuracy() * 100,
                                                            "% accuracy so cancelling training!")));
  }
  if (FlagPatience() > 0) callbacks.push_back(EarlyStopping("val_loss", FlagPatience()));
  auto epoch_start = Clock::now();
  double first_99 = -1;  // Wall seconds when test accuracy first reached 99%.
  callbacks.push_back(LambdaCallback([&](int epoch, const Logs& logs, bool*) {
    auto val = logs.find("val_accuracy");
    if (first_99 < 0 && val != logs.end() && val->second >= 0.99) first_99 = Since(start);
    if (json) {
      JsonLine line;
      line.Add("epoch", epoch + 1);
      for (const auto& [key, value] : logs) line.Add(key, value);
      line.Add("epoch_seconds", Since(epoch_start)).Add("wall_seconds", Since(start));
      std::printf("%s\n", line.str().c_str());
      std::fflush(stdout);
    }
    epoch_start = Clock::now();
  }));
  for (auto& cb : callbacks) fit.callbacks.push_back(cb.get());
  if (!json) {
    std::printf("Training %s on %s: %lld images, batch %lld, %s, %s backend\n",
                model->name().c_str(), data_name.c_str(), static_cast<long long>(train.size()),
                static_cast<long long>(fit.batch_size), optimizer->Describe().c_str(),
                BackendName(fit.backend));
  }
  auto history = model->Fit(train, fit);
  if (!history.ok()) return Fail("train", history.status());
  if (history->epochs.empty()) {
    return Fail("train", absl::InvalidArgumentError("no epochs were trained"));
  }
  if (!FlagSave().empty()) {
    if (auto s = model->Save(FlagSave()); !s.ok()) return Fail("train", s);
    if (!json) std::printf("Saved the model to %s\n", FlagSave().c_str());
  }
  // Validation ran on the test set after the last epoch: that is the test result.
  const Logs& last = history->epochs.back();
  const double wall = Since(start);
  auto metric = [&](const char* key) { return last.count(key) ? last.at(key) : NAN; };
  if (json) {
    std::printf("%s\n", JsonLine()
                            .Add("model", model->name())
                            .Add("data", data_name)
                            .Add("test_loss", metric("val_loss"))
                            .Add("test_accuracy", metric("val_accuracy"))
                            .Add("train_accuracy", last.at("accuracy"))
                            .Add("epochs_run", static_cast<int64_t>(history->epochs.size()))
                            .Add("stopped_early", history->stopped_early)
                            .Add("backend", BackendName(fit.backend))
                            .Add("compile_seconds", history->compile_seconds)
                            .Add("seconds_to_99", first_99 >= 0 ? first_99 : NAN)
                            .Add("wall_seconds", wall)
                            .str()
                            .c_str());
  } else {
    if (test.size() > 0) {
      std::printf("Test loss: %.4f - test accuracy: %.4f (%lld images) - %zu epochs in %.1f s\n",
                  last.at("val_loss"), last.at("val_accuracy"), static_cast<long long>(test.size()),
                  history->epochs.size(), wall);
    } else {
      std::printf(
          "No validation images (--validation_split F or DIR/validation): training loss "
          "%.4f - accuracy %.4f - %zu epochs in %.1f s\n",
          last.at("loss"), last.at("accuracy"), history->epochs.size(), wall);
    }
    std::printf("Compile time: %.2f s (%s)", history->compile_seconds, BackendName(fit.backend));
    if (first_99 >= 0) {
      std::printf("; test accuracy first reached 99%% at %.1f s", first_99);
    }
    std::printf("\n");
  }
  // viz: --plot writes the loss and accuracy curves (frontend/viz/plots.h).
  if (!FlagPlot().empty()) {
    const std::string title = absl::StrCat("Training curves: ", model->name(), " on ", data_name);
    if (auto s = viz::WriteTrainingCurves(*history, FlagPlot(), title); !s.ok()) {
      return Fail("train", s);
    }
    if (!json) std::printf("Wrote training curves to %s\n", FlagPlot().c_str());
  }
  return 0;
}

int Evaluate() {
  const auto start = Clock::now();
  auto model = LoadModel(FlagModel(), FlagSeed());
  if (!model.ok()) return Fail("evaluate", model.status());
  auto data = LoadData(FlagData(), *model, FlagJson());
  if (!data.ok()) return Fail("evaluate", data.status());
  // A folder without validation images is evaluated whole.
  const Dataset test = Limit(data->test.size() > 0 ? data->test : data->train, FlagTestLimit());
  auto backend = ParseBackend(FlagBackend());
  if (!backend.ok()) return Fail("evaluate", backend.status());
  auto result = model->Evaluate(test, BatchOr(64), *backend, FlagThreads());
  if (!result.ok()) return Fail("evaluate", result.status());
  if (FlagJson()) {
    std::printf("%s\n", JsonLine()
                            .Add("model", model->name())
                            .Add("data", FlagData())
                            .Add("test_loss", result->loss)
                            .Add("test_accuracy", result->accuracy)
                            .Add("images", test.size())
                            .Add("wall_seconds", Since(start))
                            .str()
                            .c_str());
  } else {
    std::printf("%s on %s test (%lld images): loss %.4f - accuracy %.4f\n", model->name().c_str(),
                FlagData().c_str(), static_cast<long long>(test.size()), result->loss,
                result->accuracy);
  }
  return 0;
}

int GradCheck() {
  auto model = LoadModel(FlagModel(), FlagSeed());
  if (!model.ok()) return Fail("gradcheck", model.status());
  const int64_t batch = BatchOr(2);
  auto graph = BuildEvalGraph(*model, batch);
  if (!graph.ok()) return Fail("gradcheck", graph.status());
  // A small random batch: pixels in [0, 1], labels 0-9.
  std::map<std::string, Tensor> feeds = model->weights();
  Rng rng(FlagSeed() + 1);
  Dims dims = {batch};
  dims.insert(dims.end(), model->input_shape().begin(), model->input_shape().end());
  Tensor images(TensorType{DType::kF32, dims});
  for (float& v : images.f32_span()) v = rng.UniformFloat();
  Tensor labels(TensorType{DType::kI32, {batch}});
  for (int64_t i = 0; i < batch; ++i) labels.i32()[i] = static_cast<int32_t>(rng.UniformInt(10));
  feeds["image"] = images;
  feeds["label"] = labels;
  std::vector<NodeId> params;
  for (const Node& node : graph->nodes()) {
    if (node.op == OpKind::kParameter) params.push_back(node.id);
  }
  GradCheckOptions options;
  options.max_elements = 32;
  options.epsilon = FlagEpsilon();
  auto results = CheckGradients(*graph, graph->Find("loss"), params, feeds, options);
  if (!results.ok()) return Fail("gradcheck", results.status());
  double worst = 0;
  std::printf("%-20s %8s %7s %14s %12s\n", "parameter", "checked", "kinks", "max |grad|",
              "max rel err");
  for (const GradCheckResult& r : *results) {
    std::printf("%-20s %8lld %7lld %14.6g %12.3g\n", r.parameter.c_str(),
                static_cast<long long>(r.checked), static_cast<long long>(r.skipped_kinks),
                r.max_abs_numeric, r.max_relative_error);
    worst = std::max(worst, r.max_relative_error);
  }
  const bool ok = worst <= FlagTolerance();
  std::printf("%s: largest relative error %.3g (tolerance %.3g, central differences, batch %lld)\n",
              ok ? "PASS" : "FAIL", worst, FlagTolerance(), static_cast<long long>(batch));
  return ok ? 0 : 1;
}

}  // namespace kiln::cli
