// The model zoo: CNNs a student of the course writes after the seed, each using only what Kiln
// supports, for `kiln bench --zoo` and the agreement tests. Every model takes 28x28x1 images and
// ends in Dense(10, softmax); bench/torch_peer.py builds the same layers for PyTorch.
#ifndef KILN_BENCH_ZOO_ZOO_H_
#define KILN_BENCH_ZOO_ZOO_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "frontend/model.h"

namespace kiln {

struct ZooEntry {
  std::string name;         // "zoo-seed", "zoo-lenet", ...
  std::string description;  // One line: what the model exercises.
};

std::vector<ZooEntry> ZooModels();
bool IsZooModel(const std::string& name);
absl::StatusOr<Model> ZooModel(const std::string& name, uint64_t seed = 0);

}  // namespace kiln

#endif  // KILN_BENCH_ZOO_ZOO_H_
