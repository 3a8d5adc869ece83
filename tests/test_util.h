// Small helpers shared by the kernel tests.
#ifndef KILN_TESTS_TEST_UTIL_H_
#define KILN_TESTS_TEST_UTIL_H_

#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"
#include "ir/tensor.h"

namespace kiln::testing_util {

using Feeds = std::vector<std::pair<std::string, Tensor>>;

inline TensorType F32(Dims dims) { return {DType::kF32, std::move(dims)}; }

inline Attrs ConvAttrs(int64_t sh, int64_t sw, const char* padding) {
  return {{"strides", AttrValue::Ints({sh, sw})}, {"padding", AttrValue::Str(padding)}};
}

inline Attrs PoolAttrs(int64_t size, int64_t stride, const char* padding) {
  return {{"pool", AttrValue::Ints({size, size})},
          {"strides", AttrValue::Ints({stride, stride})},
          {"padding", AttrValue::Str(padding)}};
}

}  // namespace kiln::testing_util

#endif  // KILN_TESTS_TEST_UTIL_H_
