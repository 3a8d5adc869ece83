// Ahead-of-time export against the JIT: the exported object is linked into a C driver with the
// system C compiler (`cc ... -lm`, no Kiln libraries), run on fixed images, and compared with
// Model::Predict on the JIT and with one JIT training step.
//
// Both paths run the same kernels, compiled from identical LLVM IR at O3 for the same CPU, and
// the AOT driver calls each kernel over the same task chunks the JIT's thread pool hands out, so
// results should be bitwise equal. Measured on the development machine (x86-64, AVX-512, batch
// 4), printed on every run: probabilities, loss, accuracy, weights after one Adam step and
// probabilities after it all identical (max |diff| 0) for mnist-cnn and mnist-dnn. Bounds, with
// room for a libm that differs between the process and the linked program: probabilities and
// weights within 1e-5 absolute, loss within 1e-5 relative, accuracy within one example.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "frontend/aot_export.h"
#include "frontend/builtin_models.h"
#include "frontend/training.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace kiln {
namespace {

constexpr int64_t kBatch = 4;
constexpr double kTol = 1e-5;

// Reads images and labels from argv[1]; writes to argv[2] the probabilities, the training step's
// loss and accuracy, the probabilities after it, and every parameter. Checks the API's error
// returns on the way; exits non-zero naming the first that fails.
constexpr char kDriver[] = R"(#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "$NAME.h"

static float images[$MACRO_INFER_IMAGES_SIZE];
static int32_t labels[$MACRO_TRAIN_STEP_LABELS_SIZE];
static float probs[$MACRO_INFER_PROBABILITIES_SIZE];

#define CHECK(cond) \
  if (!(cond)) { fprintf(stderr, "driver: check failed: %s\n", #cond); return 1; }

int main(int argc, char** argv) {
  CHECK(argc == 3);
  FILE* in = fopen(argv[1], "rb");
  FILE* out = fopen(argv[2], "wb");
  CHECK(in && out);
  CHECK(fread(images, sizeof images, 1, in) == 1 && fread(labels, sizeof labels, 1, in) == 1);
  CHECK($PREFIX_infer(NULL, probs) == -1);
  CHECK($PREFIX_train_step(images, NULL, NULL, NULL) == -1);
  CHECK($PREFIX_num_params() == $MACRO_NUM_PARAMS);
  CHECK($PREFIX_param_name(-1) == NULL && $PREFIX_param_name($MACRO_NUM_PARAMS) == NULL);
  CHECK($PREFIX_param_index("no/such") == -1 && $PREFIX_param_index(NULL) == -1);
  CHECK($PREFIX_param_size($MACRO_NUM_PARAMS) == -1);
  CHECK($PREFIX_get_param(-1, probs) == -1 && $PREFIX_set_param(0, NULL) == -1);
  for (int i = 0; i < $MACRO_NUM_PARAMS; ++i) {
    CHECK($PREFIX_param_index($PREFIX_param_name(i)) == i);
  }
  /* set_param round trip on parameter 0, restored before anything runs. */
  const int64_t n = $PREFIX_param_size(0);
  float* saved = malloc(sizeof(float) * n);
  float* v = malloc(sizeof(float) * n);
  CHECK($PREFIX_get_param(0, saved) == 0 && $PREFIX_get_param(0, v) == 0);
  v[n - 1] = 42.0f;
  CHECK($PREFIX_set_param(0, v) == 0 && $PREFIX_get_param(0, v) == 0 && v[n - 1] == 42.0f);
  CHECK($PREFIX_set_param(0, saved) == 0);

  CHECK($PREFIX_infer(images, probs) == 0);
  fwrite(probs, sizeof probs, 1, out);
  float metrics[2] = {-1, -1};
  CHECK($PREFIX_train_step(images, labels, &metrics[0], &metrics[1]) == 0);
  fwrite(metrics, sizeof metrics, 1, out);
  CHECK($PREFIX_infer(images, probs) == 0);
  fwrite(probs, sizeof probs, 1, out);
  for (int i = 0; i < $MACRO_NUM_PARAMS; ++i) {
    const int64_t size = $PREFIX_param_size(i);
    float* p = malloc(sizeof(float) * size);
    CHECK($PREFIX_get_param(i, p) == 0);
    fwrite(p, sizeof(float), size, out);
    free(p);
  }
  CHECK(fclose(out) == 0);
  return 0;
}
)";

bool HaveCc() { return std::system("command -v cc >/dev/null 2>&1") == 0; }

std::string MakeTempDir() {
  std::string dir = ::testing::TempDir() + "kiln_aot_XXXXXX";
  return mkdtemp(dir.data()) ? dir : "";
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Runs a shell command, returning its exit status and (via `output`) stdout and stderr.
int Shell(const std::string& command, std::string* output) {
  std::string out;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  *output = out;
  return pclose(p);
}

double MaxDiff(const float* a, const float* b, int64_t n) {
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - b[i]);
    worst = std::isnan(d) ? INFINITY : std::max(worst, d);
  }
  return worst;
}

// Exports `model_name` at kBatch, runs the driver, and compares everything with the JIT. With
// `trained`, the model first trains a little with Adam, so the export starts from its weights and
// its saved optimizer state (moments and step), and must continue exactly like the JIT.
void ExpectAotMatchesJit(const std::string& model_name, bool run_example, bool trained = false) {
  if (!HaveCc()) GTEST_SKIP() << "no C compiler `cc`";
  auto model = BuiltinModel(model_name, /*seed=*/3);
  ASSERT_TRUE(model.ok()) << model.status();
  ExportOptions options;
  options.batch = kBatch;
  if (trained) {
    testing_util::SplitMix data_rng(5);
    Dataset data{Tensor(TensorType{DType::kF32, {3 * kBatch, 28, 28, 1}}),
                 Tensor(TensorType{DType::kI32, {3 * kBatch}})};
    for (float& v : data.images.f32_span()) v = static_cast<float>(data_rng.Unit());
    for (int64_t i = 0; i < 3 * kBatch; ++i) {
      data.labels.i32()[i] = static_cast<int32_t>(data_rng.Next() % 10);
    }
    ASSERT_TRUE(model->Compile(Optimizer::Adam()).ok());
    Model::FitOptions fit;
    fit.batch_size = kBatch;
    fit.verbose = 0;
    ASSERT_TRUE(model->Fit(data, fit).ok());
    ASSERT_FALSE(model->optimizer_state().empty());
    options.optimizer = model->optimizer();
    options.optimizer_state = model->optimizer_state();
  }
  auto exported = ExportModel(*model, options);
  ASSERT_TRUE(exported.ok()) << exported.status();
  const std::string dir = MakeTempDir();
  ASSERT_FALSE(dir.empty());
  auto written = WriteExportedModel(*exported, dir);
  ASSERT_TRUE(written.ok()) << written.status();

  // Fixed inputs: pseudo-random pixels in [0, 1) and labels.
  testing_util::SplitMix rng(11);
  Tensor images(TensorType{DType::kF32, {kBatch, 28, 28, 1}});
  Tensor labels(TensorType{DType::kI32, {kBatch}});
  for (float& v : images.f32_span()) v = static_cast<float>(rng.Unit());
  for (int64_t i = 0; i < kBatch; ++i) labels.i32()[i] = static_cast<int32_t>(rng.Next() % 10);
  {
    std::ofstream f(dir + "/inputs.bin", std::ios::binary);
    f.write(static_cast<const char*>(images.raw()), images.bytes());
    f.write(static_cast<const char*>(labels.raw()), labels.bytes());
  }
  const std::string driver =
      absl::StrReplaceAll(kDriver, {{"$PREFIX", exported->prefix},
                                    {"$MACRO", absl::AsciiStrToUpper(exported->prefix)},
                                    {"$NAME", exported->name}});
  std::ofstream(dir + "/driver.c") << driver;
  std::string log;
  ASSERT_EQ(Shell(absl::StrCat("cd ", dir, " && cc -std=c99 -O2 -Wall -Werror driver.c ",
                               exported->name, ".o -lm -o driver && ./driver inputs.bin out.bin"),
                  &log),
            0)
      << log;
  const std::string out = ReadFile(dir + "/out.bin");

  // The JIT: Predict, one training step from the same state, Predict with the new weights.
  auto probs = model->Predict(images, kBatch, Backend::kJit);
  ASSERT_TRUE(probs.ok()) << probs.status();
  auto graph = BuildTrainingGraph(*model, kBatch, options.optimizer);
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto exe = CreateExecutable(*graph, Backend::kJit, /*threads=*/2);
  ASSERT_TRUE(exe.ok()) << exe.status();
  for (const Node& node : (*exe)->graph().nodes()) {
    if (node.op != OpKind::kParameter) continue;
    auto w = model->weights().find(node.name);
    auto slot = model->optimizer_state().find(node.name);
    const Tensor value = w != model->weights().end()               ? w->second
                         : slot != model->optimizer_state().end() ? slot->second
                                                                   : Tensor(node.type);
    ASSERT_TRUE((*exe)->SetTensor(node.name, value).ok()) << node.name;
  }
  ASSERT_TRUE((*exe)->SetTensor("image", images).ok());
  ASSERT_TRUE((*exe)->SetTensor("label", labels).ok());
  ASSERT_TRUE((*exe)->Run().ok());
  const float loss = (*exe)->GetTensor("loss")->f32()[0];
  const float accuracy = (*exe)->GetTensor("accuracy")->f32()[0];

  // The object's parameters come in the forward graph's order.
  auto fwd = model->Build(kBatch);
  ASSERT_TRUE(fwd.ok()) << fwd.status();
  const int64_t n_probs = probs->size();
  int64_t floats = 2 * n_probs + 2;
  for (const auto& [name, init] : fwd->parameters) floats += model->weights().at(name).size();
  ASSERT_EQ(static_cast<int64_t>(out.size()), floats * 4);
  const float* aot = reinterpret_cast<const float*>(out.data());
  const double probs_diff = MaxDiff(probs->f32(), aot, n_probs);
  const float aot_loss = aot[n_probs], aot_accuracy = aot[n_probs + 1];
  const float* aot_probs_after = aot + n_probs + 2;
  const float* aot_param = aot_probs_after + n_probs;
  double weights_diff = 0, weights_moved = 0;
  Model trained = *model;
  for (const auto& [name, init] : fwd->parameters) {
    auto jit = (*exe)->GetTensor(name);
    ASSERT_TRUE(jit.ok()) << jit.status();
    weights_diff = std::max(weights_diff, MaxDiff(jit->f32(), aot_param, jit->size()));
    weights_moved =
        std::max(weights_moved, MaxDiff(model->weights().at(name).f32(), aot_param, jit->size()));
    aot_param += jit->size();
    ASSERT_TRUE(trained.SetWeight(name, *jit).ok());
  }
  auto probs_after = trained.Predict(images, kBatch, Backend::kJit);
  ASSERT_TRUE(probs_after.ok()) << probs_after.status();
  const double after_diff = MaxDiff(probs_after->f32(), aot_probs_after, n_probs);
  std::printf(
      "[ %s ] AOT vs JIT: probabilities %.3g, loss %.9g vs %.9g, accuracy %g vs %g, weights after "
      "one step %.3g (moved %.3g), probabilities after %.3g\n",
      model_name.c_str(), probs_diff, aot_loss, loss, aot_accuracy, accuracy, weights_diff,
      weights_moved, after_diff);
  EXPECT_LE(probs_diff, kTol);
  EXPECT_LE(std::fabs(aot_loss - loss), kTol * std::max(1.0f, std::fabs(loss)));
  EXPECT_LE(std::fabs(aot_accuracy - accuracy), 1.0 / kBatch + 1e-6);
  EXPECT_LE(weights_diff, kTol);
  EXPECT_GT(weights_moved, 1e-5);  // The step did update the object's weights.
  EXPECT_LE(after_diff, kTol);

  if (run_example) {  // The shipped example builds with the documented command line and runs.
    ASSERT_EQ(Shell(absl::StrCat("cd ", dir, " && cc -O2 example.c ", exported->name,
                                 ".o -lm -o example && ./example"),
                    &log),
              0)
        << log;
    EXPECT_NE(log.find("step 5: loss"), std::string::npos) << log;
  }
  std::filesystem::remove_all(dir);
}

TEST(AotExport, MnistCnnMatchesJit) { ExpectAotMatchesJit("mnist-cnn", /*run_example=*/false); }

TEST(AotExport, TrainedModelContinuesWithItsOptimizerState) {
  ExpectAotMatchesJit("mnist-dnn", /*run_example=*/false, /*trained=*/true);
}

TEST(AotExport, MnistDnnMatchesJitAndExampleRuns) {
  ExpectAotMatchesJit("mnist-dnn", /*run_example=*/true);
}

TEST(AotExport, ClearErrors) {
  auto model = BuiltinModel("mnist-dnn");
  ASSERT_TRUE(model.ok());
  ExportOptions options;
  options.batch = 0;
  auto bad_batch = ExportModel(*model, options);
  ASSERT_FALSE(bad_batch.ok());
  EXPECT_EQ(bad_batch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_batch.status().message().find("batch size must be positive"), std::string::npos);
  options.batch = 1;
  options.target_cpu = "no-such-cpu";
  auto bad_cpu = ExportModel(*model, options);
  ASSERT_FALSE(bad_cpu.ok());
  EXPECT_NE(bad_cpu.status().message().find("unknown target CPU 'no-such-cpu'"), std::string::npos)
      << bad_cpu.status();
  const absl::Status unwritable = PrepareExportDir("/proc/kiln_aot_test");
  EXPECT_FALSE(unwritable.ok());
  EXPECT_NE(unwritable.message().find("/proc/kiln_aot_test"), std::string::npos) << unwritable;
  EXPECT_EQ(SanitizeCIdentifier("mnist-cnn"), "mnist_cnn");
  EXPECT_EQ(SanitizeCIdentifier("3x.net"), "_3x_net");
}

}  // namespace
}  // namespace kiln
