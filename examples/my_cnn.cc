// A student's own CNN, written with the C++ API and saved as a model file, so every `kiln`
// command (train, bench, compare, export, ...) runs it like a built-in one:
//
//   build/bin/my_cnn my_cnn.kiln
//   build/bin/kiln bench --zoo --model my_cnn.kiln      # img/s, % of peak, roofline
//   build/bin/kiln train --model my_cnn.kiln --data fashion --epochs 5
//
// Its layers are unlike every zoo model's: a 7x7 "same" conv with sigmoid, overlapping 3x3
// stride-2 average pooling with "same" padding, a 3x3 conv with 36 channels and tanh, a 2x2 max
// pool, and a ReLU dense layer of 96 units.
#include <cstdio>

#include "examples/example_util.h"
#include "frontend/model.h"

using namespace kiln;

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "my_cnn.kiln";
  Conv2DOptions wide;
  wide.padding = "same";
  wide.activation = "sigmoid";
  Conv2DOptions narrow;
  narrow.activation = "tanh";
  PoolOptions overlap;
  overlap.strides = {2, 2};
  overlap.padding = "same";
  auto model = Model::Sequential("my-cnn", {28, 28, 1},
                                 {Conv2D(20, {7, 7}, wide), AveragePooling2D({3, 3}, overlap),
                                  Conv2D(36, {3, 3}, narrow), MaxPooling2D({2, 2}), Flatten(),
                                  Dense(96, "relu"), Dense(10, "softmax")},
                                 /*seed=*/1);
  examples::Check(model.status());
  std::printf("%s", model->Summary().c_str());
  examples::Check(model->Compile(Optimizer::Adam()));
  examples::Check(model->Save(path));
  std::printf("saved %s\n", path);
  return 0;
}
