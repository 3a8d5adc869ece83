// A student's own CNN, written with the C++ API and saved as a model file, so every `kiln`
// command (train, bench, compare, export, ...) runs it like a built-in one:
//
//   build/bin/my_cnn my_cnn.kiln
//   build/bin/kiln bench --zoo --model my_cnn.kiln      # img/s, % of peak, roofline
//   build/bin/kiln train --model my_cnn.kiln --data fashion --epochs 5
//
// Its layers are unlike every zoo model's (the model is rewritten on each day Kiln's speed is
// measured; this one is from 2026-12-06): a 5x5 "same" conv with 28 channels and GELU, a 2x2
// max pool, a 3x3 conv with 44 channels and swish, overlapping 3x3 stride-2 average pooling
// with "same" padding, and an ELU dense layer of 72 units.
#include <cstdio>

#include "examples/example_util.h"
#include "frontend/model.h"

using namespace kiln;

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "my_cnn.kiln";
  Conv2DOptions first;
  first.padding = "same";
  first.activation = "gelu";
  Conv2DOptions second;
  second.activation = "swish";
  PoolOptions overlap;
  overlap.strides = {2, 2};
  overlap.padding = "same";
  auto model = Model::Sequential(
      "my-cnn", {28, 28, 1},
      {Conv2D(28, {5, 5}, first), MaxPooling2D({2, 2}), Conv2D(44, {3, 3}, second),
       AveragePooling2D({3, 3}, overlap), Flatten(), Dense(72, "elu"), Dense(10, "softmax")},
      /*seed=*/1);
  examples::Check(model.status());
  std::printf("%s", model->Summary().c_str());
  examples::Check(model->Compile(Optimizer::Adam()));
  examples::Check(model->Save(path));
  std::printf("saved %s\n", path);
  return 0;
}
