// SPDX-License-Identifier: MIT
#pragma once
// What the CPU offers and which kernels tapegrad runs on it.
//
// One build runs on any x86-64. The kernels whose speed depends on the instruction set (the
// matrix products behind matmul, linear, im2col convolution and attention, and conv2d's direct
// path) are compiled once per level, and the first op picks the best level the CPU and the
// operating system support:
//   avx512    AVX-512 F/BW/CD/DQ/VL with AVX2 and FMA (x86-64-v4), e.g. Skylake-X, Zen 4
//   avx2      AVX2, FMA, BMI1/2, F16C (x86-64-v3), e.g. Haswell, Zen 1 to 3
//   baseline  SSE2 (x86-64); also the only level on other architectures
// The environment variable TAPEGRAD_ISA (baseline, avx2 or avx512), read once at the first
// op, forces a lower level, e.g. to compare the paths on one machine; set_isa_level does the
// same from code. Results at different levels agree to rounding (FMA and the vector width
// change the order of a sum's additions), and at one level they are deterministic.
#include <string>
#include <string_view>

namespace tg {

enum class IsaLevel { baseline = 0, avx2 = 1, avx512 = 2 };

struct CpuFeatures {
  std::string model;   // the brand string, e.g. "AMD EPYC 9R14 96-Core Processor"
  IsaLevel supported;  // the best level this CPU (and the OS) can run
  IsaLevel active;     // the level the kernels use: supported, or lower as asked
  bool sse4_2 = false, avx = false, avx2 = false, fma = false;
  bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false;
};

// The CPU's features and the active level. Throws ValueError when TAPEGRAD_ISA names no
// level, or one this CPU lacks.
CpuFeatures cpu_features();
IsaLevel isa_level();
// Sets the level the kernels use from now on; ValueError if the CPU cannot run it.
void set_isa_level(IsaLevel level);
std::string_view isa_name(IsaLevel level);
// One line for a program's start: the model and the kernels picked, e.g.
// "CPU: AMD EPYC 9R14 96-Core Processor; kernels: avx512 (supported: avx512)".
std::string cpu_summary();

}  // namespace tg
