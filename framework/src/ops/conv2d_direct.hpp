#pragma once
// conv2d's direct path (ops/conv2d_direct.cpp): AVX-512 register tiles over x, W and dY,
// float32 and stride 1, compiled when the target has AVX-512 (TAPEGRAD_NATIVE on such a
// machine). ops/conv2d.cpp chooses between it and im2col + GEMM (ops/conv2d_gemm.cpp).
#include "ops/im2col.hpp"

#if defined(__AVX512F__)
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
