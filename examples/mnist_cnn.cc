// The seed CNN on MNIST: Conv2D(64) -> MaxPool -> Conv2D(64) -> MaxPool -> Dense(128) -> Dense(10),
// Adam, batch 64, five epochs, validated on the test set each epoch.
#include <cstdio>

#include "examples/example_util.h"
#include "frontend/builtin_models.h"
#include "frontend/datasets.h"

using namespace kiln;

int main(int argc, char** argv) {
  const examples::Args args = examples::ParseArgs(argc, argv);
  auto data = LoadDataset("mnist");
  examples::Check(data.status());
  Dataset train = args.limit > 0 ? data->train.Slice(0, args.limit) : data->train;
  auto model = BuiltinModel("mnist-cnn", /*seed=*/1);
  examples::Check(model.status());
  std::printf("%s", model->Summary().c_str());
  examples::Check(model->Compile(Optimizer::Adam()));
  Model::FitOptions fit;
  fit.epochs = args.epochs > 0 ? args.epochs : 5;
  fit.batch_size = 64;
  fit.seed = 1;
  fit.validation = &data->test;
  auto history = model->Fit(train, fit);
  examples::Check(history.status());
  std::printf("Test accuracy after %zu epochs: %.4f\n", history->epochs.size(),
              history->epochs.back().at("val_accuracy"));
  return 0;
}
