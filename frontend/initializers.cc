#include "frontend/initializers.h"

#include <cmath>

#include "ir/status.h"

namespace kiln {
namespace {
uint64_t SplitMix64(uint64_t* x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Rng::Rng(uint64_t seed) {
  for (uint64_t& s : s_) s = SplitMix64(&seed);
}

uint64_t Rng::Next() {
  const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = Rotl(s_[3], 45);
  return result;
}

float Rng::UniformFloat() { return static_cast<float>(Next() >> 40) * (1.0f / 16777216.0f); }

uint64_t Rng::UniformInt(uint64_t n) {
  KILN_CHECK(n > 0);
  // Rejection sampling keeps the distribution exactly uniform.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do {
    x = Next();
  } while (x >= limit);
  return x % n;
}

void Rng::set_state(const uint64_t state[4]) {
  for (int i = 0; i < 4; ++i) s_[i] = state[i];
}

void GlorotUniform(Tensor* t, Rng* rng) {
  const Dims& d = t->dims();
  KILN_CHECK(d.size() == 2 || d.size() == 4);
  double fan_in, fan_out;
  if (d.size() == 2) {
    fan_in = static_cast<double>(d[0]);
    fan_out = static_cast<double>(d[1]);
  } else {
    double receptive = static_cast<double>(d[0] * d[1]);
    fan_in = receptive * static_cast<double>(d[2]);
    fan_out = receptive * static_cast<double>(d[3]);
  }
  const float limit = static_cast<float>(std::sqrt(6.0 / (fan_in + fan_out)));
  float* p = t->f32();
  for (int64_t i = 0; i < t->size(); ++i) p[i] = (2.0f * rng->UniformFloat() - 1.0f) * limit;
}

}  // namespace kiln
