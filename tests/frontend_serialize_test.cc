// Saved models, graphs at every pipeline stage, checkpoints and resume, and loading untrusted
// bytes: truncation at every byte, bit flips, corrupt fields, and failed writes.
#include <unistd.h>

#include <filesystem>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "frontend/builtin_models.h"
#include "frontend/initializers.h"
#include "frontend/model.h"
#include "frontend/serialize/file_io.h"
#include "frontend/serialize/model_file.h"
#include "gtest/gtest.h"
#include "ir/passes/passes.h"
#include "ir/text_format.h"

namespace kiln {
namespace {

std::string TempDir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "kiln_serialize_" + name + "_" +
                          std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

Conv2DOptions ReluConv() {
  Conv2DOptions options;
  options.activation = "relu";
  return options;
}

Model TinyModel(uint64_t seed = 3, bool dropout = false) {
  std::vector<Layer> layers = {Conv2D(2, {3, 3}, ReluConv()), MaxPooling2D({2, 2}), Flatten(),
                               Dense(3, "softmax")};
  if (dropout) layers.insert(layers.begin() + 2, Dropout(0.5));
  auto model = Model::Sequential("tiny", {5, 5, 1}, std::move(layers), seed);
  EXPECT_TRUE(model.ok()) << model.status();
  return *std::move(model);
}

Dataset RandomData(int64_t n, const Dims& shape, uint64_t seed) {
  Rng rng(seed);
  Dims dims = {n};
  dims.insert(dims.end(), shape.begin(), shape.end());
  Dataset d{Tensor(TensorType{DType::kF32, dims}), Tensor(TensorType{DType::kI32, {n}})};
  for (float& v : d.images.f32_span()) v = rng.UniformFloat();
  for (int64_t i = 0; i < n; ++i) d.labels.i32()[i] = static_cast<int32_t>(rng.UniformInt(3));
  return d;
}

void ExpectSameWeights(const Model& a, const Model& b) {
  ASSERT_EQ(a.weights().size(), b.weights().size());
  for (const auto& [name, value] : a.weights()) {
    ASSERT_TRUE(b.weights().count(name)) << name;
    EXPECT_TRUE(value.BitwiseEqual(b.weights().at(name))) << name;
  }
}

std::string Bytes(const Model& model, const std::string& name) {
  const std::string path = TempDir(name) + "/m.kiln";
  EXPECT_TRUE(model.Save(path).ok());
  auto bytes = ReadFileLimited(path, kMaxModelFileBytes);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : "";
}

// The envelope around a payload, as EncodeModelFile writes it.
std::string Envelope(const std::string& payload) {
  std::string out = "KILNMODL";
  auto put = [&](uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  };
  put(1, 4);
  put(payload.size(), 8);
  put(Crc32c(payload), 4);
  return out + payload;
}

TEST(Crc32c, KnownValue) { EXPECT_EQ(Crc32c("123456789"), 0xE3069283u); }

TEST(GraphFile, RoundTripsExactlyAtEveryStage) {
  auto model = BuiltinModel("mnist-cnn", 1);
  ASSERT_TRUE(model.ok());
  auto train = BuildTrainingGraph(*model, 2, Optimizer::Adam());
  ASSERT_TRUE(train.ok()) << train.status();
  std::vector<std::pair<std::string, Graph>> stages;
  auto fwd = model->Build(1);
  ASSERT_TRUE(fwd.ok());
  stages.emplace_back("forward", fwd->graph);
  auto optimized =
      OptimizeGraph(*train, [&](const std::string& name, const Graph& g) { stages.emplace_back(name, g); });
  ASSERT_TRUE(optimized.ok()) << optimized.status();
  ASSERT_GE(stages.size(), 6u);
  for (const auto& [stage, graph] : stages) {
    auto bytes = EncodeGraphFile(graph);
    ASSERT_TRUE(bytes.ok()) << stage;
    auto back = DecodeGraphFile(*bytes);
    ASSERT_TRUE(back.ok()) << stage << ": " << back.status();
    // proto -> text equals the original's text, and text -> proto gives the same bytes.
    EXPECT_EQ(PrintGraph(*back), PrintGraph(graph)) << stage;
    auto parsed = ParseGraph(PrintGraph(graph));
    ASSERT_TRUE(parsed.ok()) << stage;
    auto again = EncodeGraphFile(*parsed);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *bytes) << stage;
  }
}

TEST(ModelFile, SaveLoadKeepsGraphWeightsSummaryAndPredictions) {
  auto model = BuiltinModel("mnist-cnn", 5);
  ASSERT_TRUE(model.ok());
  const std::string path = TempDir("save") + "/m.kiln";
  ASSERT_TRUE(model->Save(path).ok());
  auto loaded = Model::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectSameWeights(*model, *loaded);
  EXPECT_EQ(loaded->Summary(), model->Summary());
  EXPECT_EQ(loaded->CountParams(), 243786);
  auto a = model->Build(7), b = loaded->Build(7);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(PrintGraph(a->graph), PrintGraph(b->graph));  // Rebuilt at another batch size.
  const Dataset data = RandomData(5, {28, 28, 1}, 2);
  auto pa = model->Predict(data.images, 4, Backend::kInterpreter);
  auto pb = loaded->Predict(data.images, 4, Backend::kInterpreter);
  ASSERT_TRUE(pa.ok() && pb.ok());
  EXPECT_TRUE(pa->BitwiseEqual(*pb));
  EXPECT_TRUE(model->CheckSameArchitecture(*loaded).ok());
  auto other = BuiltinModel("mnist-dnn");
  ASSERT_TRUE(other.ok());
  EXPECT_NE(model->CheckSameArchitecture(*other).message().find("architecture differs"),
            std::string::npos);
}

// Interrupted after epoch 1 and resumed from the checkpoint: bit-identical to 3 epochs straight,
// also with dropout (whose step counter the checkpoint carries, so the masks continue).
TEST(Checkpoints, ResumeIsBitIdenticalToAnUninterruptedRun) {
  // RMSprop's mean-square slots and its kind travel in the checkpoint too.
  for (auto [backend, dropout, rmsprop] :
       {std::tuple{Backend::kJit, false, false}, std::tuple{Backend::kInterpreter, false, false},
        std::tuple{Backend::kJit, true, false}, std::tuple{Backend::kInterpreter, true, false},
        std::tuple{Backend::kJit, false, true}}) {
    SCOPED_TRACE(absl::StrCat(dropout ? "with dropout" : "without dropout",
                              rmsprop ? ", rmsprop" : ", adam"));
    const Optimizer optimizer = rmsprop ? Optimizer::Rmsprop(0.01) : Optimizer::Adam(0.01);
    const Dataset data = RandomData(21, {5, 5, 1}, 4);
    Model::FitOptions options;
    options.epochs = 3;
    options.batch_size = 8;  // A ragged last batch of 5.
    options.seed = 11;
    options.verbose = 0;
    options.backend = backend;
    options.threads = 2;
    Model straight = TinyModel(3, dropout);
    ASSERT_TRUE(straight.Compile(optimizer).ok());
    auto full = straight.Fit(data, options);
    ASSERT_TRUE(full.ok()) << full.status();

    const std::string dir = TempDir("resume");
    Model first = TinyModel(3, dropout);
    ASSERT_TRUE(first.Compile(optimizer).ok());
    options.epochs = 1;
    options.checkpoint_dir = dir;
    ASSERT_TRUE(first.Fit(data, options).ok());
    auto resumed = Model::LoadNewestCheckpoint(dir);
    ASSERT_TRUE(resumed.ok()) << resumed.status();
    EXPECT_EQ(resumed->progress().epoch, 1);
    options.epochs = 3;
    options.resume = true;
    auto rest = resumed->Fit(data, options);
    ASSERT_TRUE(rest.ok()) << rest.status();
    ExpectSameWeights(straight, *resumed);
    ASSERT_EQ(rest->epochs.size(), 3u);
    for (int e = 0; e < 3; ++e) EXPECT_EQ(rest->epochs[e], full->epochs[e]) << "epoch " << e;
    // The newest checkpoint is epoch 3; with the Adam slots it matches too.
    auto last = Model::LoadNewestCheckpoint(dir);
    ASSERT_TRUE(last.ok());
    EXPECT_EQ(last->progress().epoch, 3);
    ExpectSameWeights(straight, *last);
    EXPECT_EQ(last->optimizer().kind, optimizer.kind);
    if (rmsprop) EXPECT_TRUE(last->optimizer_state().count("conv2d/kernel/rms"));
    if (dropout) {  // 3 batches per epoch (8, 8, 5): the masks' step counter saw 9 steps.
      ASSERT_TRUE(last->optimizer_state().count("dropout/step"));
      EXPECT_EQ(last->optimizer_state().at("dropout/step").f32()[0], 9.0f);
    }
  }
}

// Dropout is the identity outside training: predictions equal those of the model without it.
TEST(Dropout, PredictionsIgnoreDropoutLayers) {
  const Dataset data = RandomData(6, {5, 5, 1}, 9);
  Model with = TinyModel(5, true), without = TinyModel(5, false);
  for (Backend backend : {Backend::kJit, Backend::kInterpreter}) {
    auto a = with.Predict(data.images, 4, backend), b = without.Predict(data.images, 4, backend);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_TRUE(a->BitwiseEqual(*b));
  }
}

TEST(Checkpoints, CorruptNewestIsSkippedAndOlderOnesAreKept) {
  const std::string dir = TempDir("skip");
  const Dataset data = RandomData(8, {5, 5, 1}, 4);
  Model model = TinyModel();
  ASSERT_TRUE(model.Compile(Optimizer::Sgd(0.1, 0.9)).ok());
  Model::FitOptions options;
  options.epochs = 5;
  options.batch_size = 4;
  options.verbose = 0;
  options.checkpoint_dir = dir;
  ASSERT_TRUE(model.Fit(data, options).ok());
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"ckpt-00003.kiln", "ckpt-00004.kiln",
                                             "ckpt-00005.kiln"}));
  // Truncate the newest: resume falls back to epoch 4 and says why.
  std::filesystem::resize_file(dir + "/ckpt-00005.kiln", 100);
  std::vector<std::string> skipped;
  auto resumed = Model::LoadNewestCheckpoint(dir, &skipped);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->progress().epoch, 4);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("ckpt-00005.kiln"), std::string::npos) << skipped[0];
  EXPECT_FALSE(Model::LoadNewestCheckpoint(TempDir("empty")).ok());
}

TEST(Checkpoints, FailedWriteReportsAndLeavesThePreviousFileIntact) {
  const std::string dir = TempDir("fail");
  const std::string path = dir + "/m.kiln";
  Model old_model = TinyModel(1);
  ASSERT_TRUE(old_model.Save(path).ok());
  SetWriteFailureAfterBytesForTesting(100);
  const absl::Status s = TinyModel(2).Save(path);
  SetWriteFailureAfterBytesForTesting(-1);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("m.kiln"), std::string::npos) << s;
  auto still = Model::Load(path);
  ASSERT_TRUE(still.ok()) << still.status();
  ExpectSameWeights(old_model, *still);
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files += e.exists();
  EXPECT_EQ(files, 1);  // No temporary file left behind.
}

TEST(UntrustedModelFile, TruncationAtEveryByteIsAnError) {
  const std::string bytes = Bytes(TinyModel(), "trunc");
  ASSERT_GT(bytes.size(), 200u);
  ASSERT_TRUE(Model::Decode(bytes).ok());
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(Model::Decode(absl::string_view(bytes).substr(0, n)).ok()) << n;
  }
  // The payload alone, re-wrapped with a valid checksum: every prefix gives an error or a valid
  // model (a cut between fields can leave optional trailing fields out), never a crash.
  const std::string payload = bytes.substr(24);
  int valid = 0;
  for (size_t n = 0; n < payload.size(); ++n) {
    auto model = Model::Decode(Envelope(payload.substr(0, n)));
    if (!model.ok()) continue;
    ++valid;
    EXPECT_TRUE(model->Build(2).ok()) << n;
  }
  EXPECT_LT(valid, 10);
}

TEST(UntrustedModelFile, BitFlipsGiveAnErrorOrAValidModel) {
  const std::string bytes = Bytes(TinyModel(), "flip");
  const std::string payload = bytes.substr(24);
  Rng rng(99);
  int caught_by_checksum = 0, valid = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string file = bytes;
    file[rng.UniformInt(file.size())] ^= static_cast<char>(1u << rng.UniformInt(8));
    caught_by_checksum += !Model::Decode(file).ok();
    // Past the checksum: the decoder's own checks.
    std::string p = payload;
    p[rng.UniformInt(p.size())] ^= static_cast<char>(1u << rng.UniformInt(8));
    auto model = Model::Decode(Envelope(p));
    if (model.ok()) {
      ++valid;
      auto fwd = model->Build(2);  // A valid model builds.
      EXPECT_TRUE(fwd.ok()) << fwd.status();
    }
  }
  EXPECT_EQ(caught_by_checksum, 3000);
  EXPECT_LT(valid, 3000);
}

TEST(UntrustedModelFile, CorruptFieldsNameWhatIsWrong) {
  const std::string bytes = Bytes(TinyModel(), "fields");
  auto file = DecodeModelFile(bytes);
  ASSERT_TRUE(file.ok()) << file.status();
  auto expect_error = [&](ModelFile f, const std::string& needle) {
    auto encoded = EncodeModelFile(f);
    ASSERT_TRUE(encoded.ok());
    auto decoded = Model::Decode(*encoded);
    ASSERT_FALSE(decoded.ok()) << needle;
    EXPECT_NE(decoded.status().message().find(needle), std::string::npos)
        << decoded.status().message();
  };
  {
    ModelFile f = *file;
    f.weights.begin()->second = Tensor(TensorType{DType::kF32, {7}});
    expect_error(f, "weights[0]");
  }
  {
    ModelFile f = *file;
    f.weights.erase(f.weights.begin());
    expect_error(f, "no value for Parameter");
  }
  {
    ModelFile f = *file;
    f.optimizer_state["conv2d/kernel/velocity"] = Tensor(TensorType{DType::kF32, {1}});
    f.compiled = true;
    f.optimizer = {"adam", 0.001, 0, false, 0, 0.9, 0.999, 1e-7};
    expect_error(f, "not a slot of the adam optimizer");
  }
  {
    ModelFile f = *file;
    f.input_shape = {6, 5, 1};
    expect_error(f, "input_shape");
  }
  {
    ModelFile f = *file;
    f.forward.mutable_node(f.forward.num_nodes() - 1).inputs = {f.forward.num_nodes() - 1};
    expect_error(f, "cycle");
  }
  {
    ModelFile f = *file;
    f.forward.mutable_node(1).attrs["bogus"] = AttrValue::Int(1);
    expect_error(f, "bogus");
  }
}

TEST(UntrustedModelFile, OversizedFilesAreRefusedBeforeReading) {
  const std::string path = TempDir("big") + "/m.kiln";
  ASSERT_TRUE(TinyModel().Save(path).ok());
  auto read = ReadFileLimited(path, 64);
  ASSERT_FALSE(read.ok());
  EXPECT_NE(read.status().message().find("limit"), std::string::npos);
  EXPECT_FALSE(Model::Load(TempDir("none") + "/missing.kiln").ok());
}

}  // namespace
}  // namespace kiln
