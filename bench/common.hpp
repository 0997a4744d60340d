// SPDX-License-Identifier: MIT
#pragma once
// What the benchmark files share. bench/compare_pytorch.py defines the same cases for
// PyTorch: a case renamed or redefined here must change there too.
#include <cstdint>

namespace tg_bench {

// Every case draws its tensors from tg::Generator(kSeed), so runs see the same numbers.
inline constexpr std::uint64_t kSeed = 0;

// tape/chain_scalar multiplies by this number N times: after 10^6 steps the value is about
// e^-1, far from float32's denormals, whose arithmetic is slow on some CPUs.
inline constexpr double kChainFactor = 0.999999;

}  // namespace tg_bench
