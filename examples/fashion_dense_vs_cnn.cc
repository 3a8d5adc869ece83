// The course's Fashion-MNIST comparison: a dense network against a convolutional one, same data,
// same optimizer, then both test accuracies side by side.
#include <cstdio>

#include "examples/example_util.h"
#include "frontend/builtin_models.h"
#include "frontend/datasets.h"

using namespace kiln;

int main(int argc, char** argv) {
  const examples::Args args = examples::ParseArgs(argc, argv);
  auto data = LoadDataset("fashion");
  examples::Check(data.status());
  Dataset train = args.limit > 0 ? data->train.Slice(0, args.limit) : data->train;
  double accuracy[2];
  const char* names[2] = {"fashion-dnn", "fashion-cnn"};
  for (int i = 0; i < 2; ++i) {
    auto model = BuiltinModel(names[i], /*seed=*/1);
    examples::Check(model.status());
    std::printf("%s", model->Summary().c_str());
    examples::Check(model->Compile(Optimizer::Adam()));
    Model::FitOptions fit;
    fit.epochs = args.epochs > 0 ? args.epochs : 5;
    fit.batch_size = 64;
    fit.seed = 1;
    examples::Check(model->Fit(train, fit).status());
    auto eval = model->Evaluate(data->test, 256);
    examples::Check(eval.status());
    accuracy[i] = eval->accuracy;
  }
  std::printf("Fashion-MNIST test accuracy: dense %.4f, convolutional %.4f\n", accuracy[0],
              accuracy[1]);
  return 0;
}
