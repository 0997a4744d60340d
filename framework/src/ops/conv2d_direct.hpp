// SPDX-License-Identifier: MIT
#pragma once
// conv2d's direct path (ops/conv2d_direct.cpp): AVX-512 register tiles over x, W and dY,
// float32 and stride 1, compiled on x86-64 with -march=x86-64-v4 whatever the rest of the
// build uses, and run only at the avx512 kernel level (tapegrad/cpu.hpp). ops/conv2d.cpp
// chooses between it and im2col + GEMM (ops/conv2d_gemm.cpp).
#include "ops/im2col.hpp"

#if TAPEGRAD_ISA_VARIANTS
#define TAPEGRAD_CONV2D_DIRECT 1
#else
#define TAPEGRAD_CONV2D_DIRECT 0
#endif

namespace tg::conv {

#if TAPEGRAD_CONV2D_DIRECT
// The same contracts as forward and backward in ops/im2col.hpp, for stride (1, 1).
void forward_direct(const Geometry& g, const float* x, const float* w, const float* bias, float* y);
void backward_direct(const Geometry& g, const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db);
#endif

}  // namespace tg::conv
