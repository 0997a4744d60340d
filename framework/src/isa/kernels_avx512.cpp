// SPDX-License-Identifier: MIT
// The kernels of isa/gemm.hpp and isa/vecmath.hpp at the avx512 level (its -march:
// framework/CMakeLists.txt). isa/gemm_kernel.hpp says why Eigen is renamed here.
#define TAPEGRAD_ISA_LEVEL avx512
#define Eigen tg_eigen_avx512
#include "isa/gemm_kernel.hpp"
#include "isa/vecmath_kernel.hpp"
