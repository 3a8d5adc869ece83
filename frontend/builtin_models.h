// Models usable by name from the CLI and examples.
#ifndef KILN_FRONTEND_BUILTIN_MODELS_H_
#define KILN_FRONTEND_BUILTIN_MODELS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "frontend/model.h"

namespace kiln {

// "mnist-cnn" (the seed CNN), "mnist-dnn", "mnist-exercise", "fashion-cnn", "fashion-dnn".
absl::StatusOr<Model> BuiltinModel(const std::string& name, uint64_t seed = 0);
std::vector<std::string> BuiltinModelNames();

}  // namespace kiln

#endif  // KILN_FRONTEND_BUILTIN_MODELS_H_
