// Model description files (.layers): the Python call syntax, the Keras layer arguments, errors
// that name file, line and column, limits, and the layers form written back by LayersText.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/zoo/zoo.h"
#include "frontend/builtin_models.h"
#include "frontend/layers_file.h"
#include "frontend/model.h"
#include "frontend/pycall.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln {
namespace {

using testing::HasSubstr;

absl::StatusOr<Model> FromText(const std::string& text, const std::string& name = "exp",
                               uint64_t seed = 3) {
  auto spec = ParseLayersText(text, "test.layers");
  if (!spec.ok()) return spec.status();
  auto shared = std::make_shared<const LayersSpec>(*std::move(spec));
  return Model::Functional(
      shared->name.empty() ? name : shared->name, shared->input_shape,
      [shared](GraphBuilder& b, NodeId x) { return ApplyLayers(*shared, b, x); }, seed);
}

// The model of the issue's example, written with the C++ API.
Model CppExperiment(uint64_t seed = 3) {
  Conv2DOptions relu;
  relu.activation = "relu";
  auto model = Model::Sequential("exp", {28, 28, 1},
                                 {Conv2D(32, {3, 3}, relu), MaxPooling2D({2, 2}), Flatten(),
                                  Dense(128, "relu"), Dense(10, "softmax")},
                                 seed);
  EXPECT_TRUE(model.ok()) << model.status();
  return *std::move(model);
}

void ExpectSameModel(const Model& got, const Model& want) {
  EXPECT_EQ(got.Summary(), want.Summary());
  ASSERT_EQ(got.weights().size(), want.weights().size());
  for (const auto& [name, w] : want.weights()) {
    auto it = got.weights().find(name);
    ASSERT_NE(it, got.weights().end()) << name;
    EXPECT_TRUE(it->second.BitwiseEqual(w)) << name;  // Same shapes and the same initial values.
  }
}

constexpr char kIssueExample[] = R"(# my experiment: 32 filters instead of 64
Input(shape=(28, 28, 1))
tf.keras.layers.Conv2D(32, (3, 3), activation='relu')
MaxPooling2D(2, 2)
Flatten()
Dense(128, activation=tf.nn.relu)
Dense(10, activation='softmax')
)";

TEST(LayersFile, TheIssueExampleIsTheModelTheCppApiBuilds) {
  auto model = FromText(kIssueExample);
  ASSERT_TRUE(model.ok()) << model.status();
  ExpectSameModel(*model, CppExperiment());
}

TEST(LayersFile, NotebookSpellingsGiveTheSameModel) {
  const char* variants[] = {
      // The Sequential list form, keyword arguments, module prefixes, trailing commas, None.
      R"(import tensorflow as tf
from tensorflow import keras
model = keras.Sequential([  # the course's cell
    keras.layers.Conv2D(filters=32, kernel_size=3, activation="relu",
                        input_shape=(28, 28, 1)),
    keras.layers.MaxPool2D(pool_size=(2, 2), strides=None, padding='VALID'),
    layers.Flatten(),
    tf.keras.layers.Dense(units=128, activation=tf.keras.activations.relu,),
    Dense(10, activation='softmax', kernel_initializer='glorot_uniform', use_bias=True),
], name="exp")
)",
      // model.add lines, tf.keras.Input, a backslash continuation, an assignment.
      "model = tf.keras.Sequential()\n"
      "model.add(tf.keras.Input(shape=[28, 28, 1]))\n"
      "model.add(tf.keras.layers.Conv2D(32, (3, 3), activation = 'relu'))\n"
      "model.add(MaxPooling2D())\n"
      "x = \\\n  Flatten()\n"
      "Dense(128, 'relu')\n"
      "Dense(10, activation=tf.nn.softmax)\n",
  };
  for (const char* text : variants) {
    auto model = FromText(text);
    ASSERT_TRUE(model.ok()) << model.status() << "\n" << text;
    ExpectSameModel(*model, CppExperiment());
  }
}

TEST(LayersFile, EveryArgumentReachesTheLayer) {
  auto model = FromText(R"(
Input(shape=(28, 28, 1))
Conv2D(24, kernel_size=(5, 3), strides=(2, 1), padding='same', use_bias=False, name='c')
ReLU()
AveragePooling2D(pool_size=3, strides=2, padding='same')
Conv2D(8, 3, activation='gelu')
Activation('tanh')
Flatten()
Dense(16, activation=None, use_bias=False)
Dense(10, activation='softmax')
)");
  ASSERT_TRUE(model.ok()) << model.status();
  auto fwd = model->Build(1);
  ASSERT_TRUE(fwd.ok()) << fwd.status();
  std::vector<std::string> lines;
  for (const LayerRecord& l : fwd->layers) lines.push_back(l.config);
  EXPECT_THAT(lines, testing::ElementsAre(
                         "Conv2D(24, (5, 3), strides=(2, 1), padding='same', use_bias=False, "
                         "name='c')",
                         "Activation('relu', name='activation')",
                         "AveragePooling2D((3, 3), strides=(2, 2), padding='same', "
                         "name='average_pooling2d')",
                         "Conv2D(8, (3, 3), activation='gelu', name='conv2d')",
                         "Activation('tanh', name='activation_1')", "Flatten(name='flatten')",
                         "Dense(16, use_bias=False, name='dense')",
                         "Dense(10, activation='softmax', name='dense_1')"));
  EXPECT_EQ(model->weights().count("c/bias"), 0u);
  EXPECT_EQ(model->weights().count("dense/bias"), 0u);
  EXPECT_EQ(model->weights().at("c/kernel").type().dims, (Dims{5, 3, 1, 24}));
  // 28x28 'same' with strides (2, 1) -> 14x28; 3x3/2 'same' pool -> 7x14; 3x3 valid -> 5x12.
  EXPECT_EQ(fwd->graph.node(fwd->layers[3].output).type.dims, (Dims{1, 5, 12, 8}));
  EXPECT_EQ(model->CountParams(), 5 * 3 * 24 + (3 * 3 * 24 * 8 + 8) + 5 * 12 * 8 * 16 + 170);
}

// Hand-computed values on both backends: Rescaling(0.5, offset=1) then the global pools.
TEST(LayersFile, GlobalPoolingAndRescalingComputeKerasValues) {
  // One 2x2 image with 2 channels: channel 0 holds 0, 2, 4, 6 and channel 1 holds 8, -2, 0, 2.
  const Tensor image = Tensor::F32({1, 2, 2, 2}, {0, 8, 2, -2, 4, 0, 6, 2});
  struct Case {
    std::string layer;
    std::vector<float> want;
  };
  // Rescaled: channel 0 -> 1, 2, 3, 4; channel 1 -> 5, 0, 1, 2.
  for (const Case& c :
       {Case{"GlobalAveragePooling2D()", {2.5f, 2.0f}}, Case{"GlobalMaxPooling2D()", {4.0f, 5.0f}},
        Case{"Flatten()", {1, 5, 2, 0, 3, 1, 4, 2}}}) {
    auto model = FromText("Input(shape=(2, 2, 2))\nRescaling(1 / 2, offset=1)\n" + c.layer);
    ASSERT_TRUE(model.ok()) << model.status();
    for (Backend backend : {Backend::kJit, Backend::kInterpreter}) {
      auto out = model->Predict(image, 1, backend, 1);
      ASSERT_TRUE(out.ok()) << out.status();
      ASSERT_EQ(out->size(), static_cast<int64_t>(c.want.size())) << c.layer;
      for (size_t i = 0; i < c.want.size(); ++i) EXPECT_EQ(out->f32()[i], c.want[i]) << c.layer;
    }
  }
}

TEST(LayersFile, BatchNormalizationAndDropoutCountSaveAndReadBack) {
  const std::string path = std::string(KILN_SOURCE_DIR) + "/examples/models/batchnorm.layers";
  auto model = Model::LoadLayers(path, 4);
  ASSERT_TRUE(model.ok()) << model.status();
  // Four BatchNormalization layers of 32, 32, 64, 64 channels: 4 values per channel, the moving
  // mean and variance (2 per channel) not trainable, as Keras counts them.
  const std::string summary = model->Summary();
  EXPECT_THAT(summary, HasSubstr("Total params: 75,178\n"));
  EXPECT_THAT(summary, HasSubstr("Non-trainable params: 384\n"));
  EXPECT_THAT(summary, HasSubstr("batch_normalization_3 (BatchNormalization)"));
  EXPECT_EQ(model->weights().at("batch_normalization/gamma").f32()[5], 1.0f);
  EXPECT_EQ(model->weights().at("batch_normalization/moving_variance").f32()[0], 1.0f);
  auto fwd = model->Build(1);
  ASSERT_TRUE(fwd.ok());
  auto text = LayersText(model->name(), model->input_shape(), fwd->layers);
  ASSERT_TRUE(text.ok());
  EXPECT_THAT(*text, HasSubstr("BatchNormalization(name='batch_normalization_1')\n"));
  EXPECT_THAT(*text, HasSubstr("Dropout(0.5, name='dropout_2')\n"));
  auto back = FromText(*text, model->name(), 4);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSameModel(*back, *model);
  auto custom = FromText("Input(shape=(4,))\nBatchNormalization(momentum=0.9, epsilon=1e-5)\n");
  ASSERT_TRUE(custom.ok()) << custom.status();
  auto custom_fwd = custom->Build(1);
  ASSERT_TRUE(custom_fwd.ok());
  EXPECT_EQ(custom_fwd->layers[0].config,
            "BatchNormalization(momentum=0.9, epsilon=1e-05, name='batch_normalization')");

  // A saved model keeps the layers whole and its moving statistics as weights.
  Model trained = *std::move(model);
  Tensor mean(TensorType{DType::kF32, {32}});
  for (int i = 0; i < 32; ++i) mean.f32()[i] = 0.25f * i;
  ASSERT_TRUE(trained.SetWeight("batch_normalization/moving_mean", mean).ok());
  const std::string saved =
      (std::filesystem::temp_directory_path() / "kiln_layers_bn_test.kiln").string();
  ASSERT_TRUE(trained.Save(saved).ok());
  auto loaded = Model::Load(saved);
  std::remove(saved.c_str());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->weights().at("batch_normalization/moving_mean").BitwiseEqual(mean));
  EXPECT_EQ(loaded->Summary(), trained.Summary());
  Tensor image(TensorType{DType::kF32, {2, 28, 28, 1}});
  for (int64_t i = 0; i < image.size(); ++i) image.f32()[i] = static_cast<float>(i % 17) / 17;
  auto a = trained.Predict(image, 2, Backend::kInterpreter);
  auto b = loaded->Predict(image, 2, Backend::kInterpreter);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(a->BitwiseEqual(*b));
}

// The layers form of every built-in and zoo model reads back as the same model; a model whose
// layers join branches says which layer cannot be written.
TEST(LayersFile, DumpedModelsReadBackIdentically) {
  std::vector<std::string> names = BuiltinModelNames();
  for (const ZooEntry& e : ZooModels()) names.push_back(e.name);
  int written = 0;
  for (const std::string& name : names) {
    auto model = IsZooModel(name) ? ZooModel(name, 7) : BuiltinModel(name, 7);
    ASSERT_TRUE(model.ok()) << name;
    auto fwd = model->Build(1);
    ASSERT_TRUE(fwd.ok());
    auto text = LayersText(model->name(), model->input_shape(), fwd->layers);
    bool branches = false;
    for (const LayerRecord& l : fwd->layers) branches |= l.type == "Add";
    if (branches) {
      ASSERT_FALSE(text.ok()) << name;
      EXPECT_THAT(text.status().message(), HasSubstr("joins two branches")) << name;
      continue;
    }
    ASSERT_TRUE(text.ok()) << name << ": " << text.status();
    auto back = FromText(*text, model->name(), 7);
    ASSERT_TRUE(back.ok()) << name << ": " << back.status() << "\n" << *text;
    ExpectSameModel(*back, *model);
    ++written;
  }
  EXPECT_GE(written, 10);
}

TEST(LayersFile, SavedModelsKeepTheirLayerLines) {
  auto model = FromText(kIssueExample);
  ASSERT_TRUE(model.ok());
  const std::string path =
      (std::filesystem::temp_directory_path() / "kiln_layers_saved_test.kiln").string();
  ASSERT_TRUE(model->Save(path).ok());
  auto loaded = Model::Load(path);
  std::remove(path.c_str());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto a = model->Build(1), b = loaded->Build(1);
  ASSERT_TRUE(a.ok() && b.ok());
  auto text_a = LayersText(model->name(), model->input_shape(), a->layers);
  auto text_b = LayersText(loaded->name(), loaded->input_shape(), b->layers);
  ASSERT_TRUE(text_a.ok() && text_b.ok());
  EXPECT_EQ(*text_a, *text_b);
  // A file from before layer lines were recorded: the dump says so instead of guessing.
  std::vector<LayerRecord> old = b->layers;
  for (LayerRecord& l : old) l.config.clear();
  auto text_old = LayersText(loaded->name(), loaded->input_shape(), old);
  ASSERT_FALSE(text_old.ok());
  EXPECT_THAT(text_old.status().message(), HasSubstr("saved before Kiln recorded layer lines"));
}

struct BadCase {
  std::string text;
  std::string error;
};

TEST(LayersFile, ErrorsNameTheLineAndColumnAndSayWhatWasExpected) {
  const std::string in = "Input(shape=(28, 28, 1))\n";
  const std::vector<BadCase> cases = {
      {in + "Conv2d(32, 3)\n", "test.layers:2:1: unknown layer 'Conv2d' (known: Input, Conv2D,"},
      {in + "Conv2D(32, 3, activaton='relu')\n",
       "test.layers:2:15: Conv2D has no argument 'activaton' (it takes filters, kernel_size,"},
      {in + "Conv2D(32, 3, activation='rellu')\n",
       "test.layers:2: layer 'conv2d' (Conv2D) on input (None, 28, 28, 1): unknown activation "
       "'rellu' (expected relu,"},
      {in + "Conv2D(32, 3, strides=1.5)\n",
       "test.layers:2:23: Conv2D argument 'strides': expected an integer or a pair of integers "
       "such as (3, 3), got the number 1.5"},
      {in + "Conv2D(32, (3, 3)\nFlatten()\n",
       "test.layers:3:1: expected ',' or ')', got the "
       "name 'Flatten'"},
      {in + "Conv2D(32, '3')\n",
       "test.layers:2:12: Conv2D argument 'kernel_size': expected an "
       "integer or a pair of integers such as (3, 3), got the string "
       "'3'"},
      {in + "Conv2D(0, 3)\n", "test.layers:2:8: Conv2D argument 'filters': must be between 1 and"},
      {in + "Conv2D(32)\n", "test.layers:2:1: Conv2D needs 'kernel_size'"},
      {in + "Conv2D(32, 3, 1, 'valid', None, 1, 1, None, True, None, None, 'n', None, None, "
            "True, 5)\n",
       "test.layers:2:86: Conv2D takes at most 15 positional arguments"},
      {in + "Dense(10, units=3)\n", "test.layers:2:11: Dense got 'units' twice"},
      {in + "Dense(10, name='a', name='b')\n",
       "test.layers:2:21: keyword argument 'name' "
       "repeated"},
      {in + "Dense(10, activation='relu', 4)\n",
       "test.layers:2:30: positional argument follows "
       "keyword argument"},
      {in + "Conv2D(32, 3, dilation_rate=2)\n",
       "test.layers:2:29: Conv2D argument 'dilation_rate': only '1' is supported, got the "
       "integer 2"},
      {in + "Conv2D(32, 3, data_format='channels_first')\n",
       "Conv2D argument 'data_format': only 'channels_last' is supported"},
      {in + "Dense(10, trainable=False)\n", "only trainable=True is supported"},
      {in + "Conv2D(32, 3, padding='full')\n",
       "test.layers:2:23: Conv2D argument 'padding': expected 'valid' or 'same', got the string "
       "'full'"},
      {in + "Conv2D(32, 3)\nmodel.compile(optimizer='adam')\n",
       "test.layers:3:1: model.compile(...) is not a layer"},
      {in + "Conv2D(32, 3) $\n", "test.layers:2:15: unexpected character '$'"},
      {in + "Dense(10, name='x\n", "test.layers:2:16: unterminated string"},
      {in + "Dense(99999999999999999999)\n",
       "test.layers:2:7: number '99999999999999999999' is out of range"},
      {in + "Dense(1.2.3)\n", "test.layers:2:7: malformed number '1.2.3'"},
      {in + "Dense(10) Dense(10)\n",
       "test.layers:2:11: expected the end of the statement, got "
       "the name 'Dense'"},
      {in + "Dense(10\n", "test.layers:3:1: expected ',' or ')', got the end of the file"},
      {in + "42\n", "test.layers:2:1: expected a layer call such as Dense(10), got the integer 42"},
      {in + "Dense(-)\n", "test.layers:2:8: expected a number after the sign, got ')'"},
      {in + "Dense(10, activation=3)\n",
       "Dense argument 'activation': expected an activation name such as 'relu' or tf.nn.relu"},
      {in + "Activation()\n", "test.layers:2:1: Activation needs an activation name"},
      {in + "Rescaling(1 / 0)\n", "test.layers:2:13: division by zero"},
      {in + "BatchNormalization(center=False)\n",
       "BatchNormalization argument 'center': only center=True is supported"},
      {in + "BatchNormalization(axis=1)\n",
       "BatchNormalization argument 'axis': only '-1' is supported"},
      {in + "Dropout(1.0)\n", "test.layers:2:9: Dropout argument 'rate': must be in [0, 1)"},
      {in + "Dropout(0.5, noise_shape=(1, 2))\n", "only noise_shape=None is supported"},
      {in + "Rescaling('a' * 2)\n",
       "test.layers:2:15: '*' needs numbers, got the string 'a' "
       "and the integer 2"},
      {in + "Rescaling()\n", "test.layers:2:1: Rescaling needs 'scale'"},
      {in + "Conv2D(4, 3)\nGlobalAveragePooling2D(keepdims=True)\n",
       "GlobalAveragePooling2D argument 'keepdims': only keepdims=False is supported"},
      {in + "Flatten()\nGlobalMaxPooling2D()\n",
       "test.layers:3: layer 'global_max_pooling2d' (GlobalMaxPooling2D) on input (None, 784): "
       "expects a 4-D"},
      {in + "Conv2D(8, 30)\n",
       "test.layers:2: layer 'conv2d' (Conv2D) on input (None, 28, 28, "
       "1): node 'conv2d' (Conv2D): kernel 30x30 does not fit"},
      {in + "Conv2D(8, 3)\nDense(10)\n",
       "test.layers:3: layer 'dense' (Dense) on input (None, "
       "26, 26, 8): expects a 2-D (batch, features) input; add "
       "a Flatten layer first"},
      {in + "Conv2D(8, 3)\nInput(shape=(28, 28, 1))\n",
       "test.layers:3:13: the input shape must come before the first layer"},
      {"Input(shape=(28, 28, 0))\nDense(3)\n",
       "test.layers:1:22: Input argument 'shape': dimensions are integers from 1 to 65536"},
      {"Input(shape=28)\nDense(3)\n", "expected a shape such as (28, 28, 1), got the integer 28"},
      {"Input(shape=(28, 28, 1))\nConv2D(8, 3, input_shape=(32, 32, 3))\n",
       "test.layers:2:26: input shape [32,32,3] differs from [28,28,1] given before"},
      {"Conv2D(8, 3)\n", "no input shape: start with Input(shape=(28, 28, 1))"},
      {in, "test.layers: no layers"},
      {"", "test.layers: no layers"},
      {std::string(40, '(') + "1" + std::string(40, ')') + "\n",
       "test.layers:1:34: nesting deeper than 32 levels"},
      {in + "Dense(10)\n\x01\n", "test.layers:3:1: unexpected byte 0x01"},
      {"Input(shape=(65536, 65536, 4096))\nConv2D(1048576, 4096)\nFlatten()\nDense(1048576)\n",
       "test.layers:4: layer 'dense' (Dense) on input (None, 3958370710061056): node "
       "'dense/kernel' (Parameter): element count of [3958370710061056,1048576] overflows"},
      {"Input(shape=(65536, 65536, 1))\nConv2D(1048576, 4096)\n",
       "more than 2147483648 parameters (at 'conv2d/kernel')"},
  };
  for (const BadCase& c : cases) {
    auto model = FromText(c.text);
    ASSERT_FALSE(model.ok()) << c.text;
    EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(model.status().message(), HasSubstr(c.error)) << c.text;
  }
}

TEST(LayersFile, SizeAndLayerCountAreLimited) {
  std::string big(kMaxPyTextBytes + 1, ' ');
  auto too_big = ParseLayersText(big, "big.layers");
  ASSERT_FALSE(too_big.ok());
  EXPECT_THAT(too_big.status().message(), HasSubstr("big.layers: 1048577 bytes; the limit is"));

  std::string many = "Input(shape=(4,))\n";
  for (int i = 0; i <= kMaxLayersInFile; ++i) many += "ReLU()\n";
  auto too_many = ParseLayersText(many, "many.layers");
  ASSERT_FALSE(too_many.ok());
  EXPECT_THAT(
      too_many.status().message(),
      HasSubstr(absl::StrCat("many.layers:", kMaxLayersInFile + 2, ":1: more than 10000 layers")));
}

TEST(PyCall, ValuesParseAsPythonReadsThem) {
  auto st = ParsePyStatements(
      "f(-3, 2.5e-1, +4, .5, 1_000, 'a\\'b', \"c\", True, False, None, (1,), (2), [], (), "
      "x.y, k=g())\n",
      "t");
  ASSERT_TRUE(st.ok()) << st.status();
  ASSERT_EQ(st->size(), 1u);
  const PyValue& f = (*st)[0].value;
  ASSERT_EQ(f.kind, PyValue::Kind::kCall);
  ASSERT_EQ(f.items.size(), 15u);
  EXPECT_EQ(f.items[0].int_value, -3);
  EXPECT_DOUBLE_EQ(f.items[1].float_value, 0.25);
  EXPECT_EQ(f.items[2].int_value, 4);
  EXPECT_DOUBLE_EQ(f.items[3].float_value, 0.5);
  EXPECT_EQ(f.items[4].int_value, 1000);
  EXPECT_EQ(f.items[5].text, "a'b");
  EXPECT_EQ(f.items[6].text, "c");
  EXPECT_TRUE(f.items[7].bool_value);
  EXPECT_EQ(f.items[8].kind, PyValue::Kind::kBool);
  EXPECT_EQ(f.items[9].kind, PyValue::Kind::kNone);
  EXPECT_EQ(f.items[10].kind, PyValue::Kind::kTuple);  // (1,) is a tuple...
  EXPECT_EQ(f.items[11].kind, PyValue::Kind::kInt);    // ...(2) is 2.
  EXPECT_EQ(f.items[12].kind, PyValue::Kind::kList);
  EXPECT_EQ(f.items[13].kind, PyValue::Kind::kTuple);
  EXPECT_EQ(f.items[14].text, "x.y");
  ASSERT_EQ(f.kwargs.size(), 1u);
  EXPECT_EQ(f.kwargs[0].value.kind, PyValue::Kind::kCall);
  EXPECT_EQ(PyQuote("it's \\"), "'it\\'s \\\\'");
  auto arithmetic = ParsePyStatements("f(1./255, 2 * 3, -1 / 4, 3 * 2.5 / 3)", "t");
  ASSERT_TRUE(arithmetic.ok()) << arithmetic.status();
  const PyValue& g = (*arithmetic)[0].value;
  EXPECT_FLOAT_EQ(g.items[0].float_value, 1.0 / 255);
  EXPECT_EQ(g.items[1].kind, PyValue::Kind::kInt);
  EXPECT_EQ(g.items[1].int_value, 6);
  EXPECT_DOUBLE_EQ(g.items[2].float_value, -0.25);  // Python: true division, sign binds first.
  EXPECT_DOUBLE_EQ(g.items[3].float_value, 2.5);
}

}  // namespace
}  // namespace kiln
