// SPDX-License-Identifier: MIT
#pragma once
// A seeded random number generator. The same seed gives the same numbers on every
// platform: the engine is std::mt19937_64 (fully specified by the standard) and the
// transforms to uniform and normal values are written here, not left to the library.
#include <cstdint>
#include <random>

namespace tg {

class Generator {
 public:
  explicit Generator(std::uint64_t seed = 5489) : engine_(seed) {}
  void manual_seed(std::uint64_t seed) { engine_.seed(seed); }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  // Standard normal, by the Box-Muller transform.
  double normal();

 private:
  std::mt19937_64 engine_;
};

// The generator used when none is given; tg::manual_seed(s) reseeds it.
Generator& default_generator();
void manual_seed(std::uint64_t seed);

}  // namespace tg
