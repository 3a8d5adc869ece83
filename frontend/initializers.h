// Keras's default initializers with a seedable generator, so a run is reproducible.
#ifndef KILN_FRONTEND_INITIALIZERS_H_
#define KILN_FRONTEND_INITIALIZERS_H_

#include <cstdint>

#include "ir/tensor.h"

namespace kiln {

// A small, portable generator (SplitMix64 seeding xoshiro256**) whose stream does not depend on the
// standard library, so the same seed gives the same weights everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t Next();
  // Uniform in [0, 1) with 24 random bits.
  float UniformFloat();
  // Uniform integer in [0, n).
  uint64_t UniformInt(uint64_t n);
  // State for checkpoints.
  const uint64_t* state() const { return s_; }
  void set_state(const uint64_t state[4]);

 private:
  uint64_t s_[4];
};

// Glorot (Xavier) uniform: U(-limit, limit) with limit = sqrt(6 / (fan_in + fan_out)). For a rank-4
// HWIO filter the receptive field multiplies both fans; for a rank-2 [in, out] kernel the fans are
// the dimensions.
void GlorotUniform(Tensor* t, Rng* rng);

}  // namespace kiln

#endif  // KILN_FRONTEND_INITIALIZERS_H_
