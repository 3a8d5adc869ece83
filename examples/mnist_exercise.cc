// The course exercise: one Conv2D + MaxPooling2D on MNIST, stopping as soon as training accuracy
// reaches 99.8% (at most 20 epochs).
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
  auto model = BuiltinModel("mnist-exercise", /*seed=*/1);
  examples::Check(model.status());
  std::printf("%s", model->Summary().c_str());
  examples::Check(model->Compile(Optimizer::Adam()));
  auto stop = StopAtThreshold("accuracy", 0.998, "Reached 99.8% accuracy so cancelling training!");
  Model::FitOptions fit;
  fit.epochs = args.epochs > 0 ? args.epochs : 20;
  fit.batch_size = 64;
  fit.seed = 1;
  fit.callbacks = {stop.get()};
  auto history = model->Fit(train, fit);
  examples::Check(history.status());
  std::printf("Epochs run: %zu; final training accuracy %.4f\n", history->epochs.size(),
              history->epochs.back().at("accuracy"));
  return 0;
}
