// Counter-based random bits for dropout masks: a pure function of (seed, step, element index),
// so the interpreter, the JIT (on vectors of indices) and any thread count draw the same mask,
// and a run resumed at step s draws the masks an uninterrupted run draws. The mixer is the
// 32-bit finalizer of MurmurHash3 (fmix32), a bijection whose every output bit depends on every
// input bit; it is written once, generic over the integer type, so the JIT instantiates it on
// LLVM values (codegen/emit_dropout.cc) and the interpreter on uint32_t.
#ifndef KILN_IR_RANDOM_H_
#define KILN_IR_RANDOM_H_

#include <cmath>
#include <cstdint>

namespace kiln {

template <typename U>
U Mix32(U x) {
  x = x ^ (x >> 16);
  x = x * 0x85EBCA6Bu;
  x = x ^ (x >> 13);
  x = x * 0xC2B2AE35u;
  return x ^ (x >> 16);
}

// One key per (seed, step), computed once per kernel.
template <typename U>
U DropoutKey(U seed, U step) {
  return Mix32(seed ^ Mix32(step + 0x9E3779B9u));
}
// The key on the interpreter's scalars: the seed attribute mod 2^32 and the step counter (a
// float holding an integer; outside [0, 2^32) it counts as 0).
inline uint32_t DropoutKey(int64_t seed, float step) {
  const auto s = static_cast<uint32_t>(static_cast<uint64_t>(seed));
  const auto t = step >= 0 && step < 4294967296.0f ? static_cast<uint32_t>(step) : 0u;
  return DropoutKey<uint32_t>(s, t);
}

// The element's 24 random bits: index (mod 2^32) spread by the golden ratio, offset by the key.
template <typename U>
U DropoutBits(U index, U key) {
  return Mix32(index * 0x9E3779B1u + key) >> 8;
}

// An element is kept when its bits are >= this: a fraction 1 - rate (to 2^-24) of them.
inline uint32_t DropoutThreshold(double rate) {
  return static_cast<uint32_t>(std::ceil(rate * 16777216.0));
}

}  // namespace kiln

#endif  // KILN_IR_RANDOM_H_
