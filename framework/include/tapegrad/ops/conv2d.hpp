// SPDX-License-Identifier: MIT
#pragma once
// conv2d: the batched, multi-channel form of corr2d (ops.hpp), with stride and zero padding,
// as torch.nn.functional.conv2d. For x [N, C, H, W], weight [O, C, kh, kw] and bias [O]:
//   Y[n, o] = bias[o] + sum_c corr2d(pad(x[n, c], ph, pw), weight[o, c]) sampled every
//             (sh, sw) rows and columns
// so tg::conv2d(x, w, b, {.stride = {2, 2}, .padding = {1, 1}}) is F.conv2d(x, w, b, 2, 1).
#include <array>
#include <cstdint>

#include "tapegrad/tensor.hpp"

namespace tg {

struct Conv2dOptions {
  Size2 stride = 1;   // (sh, sw), each > 0
  Size2 padding = 0;  // (ph, pw) zeros added on both sides, each >= 0
};

// Note: options is taken by const reference, not by value. GCC 12.2 with -march=native
// (AVX-512) miscompiles a by-value Conv2dOptions argument built from braces at the call site:
// conv2d(x, w, b, {.stride = {2, 2}}) arrived with padding (2, 2), and conv2d(x, w, b) with
// padding (1, 1) (one broadcast store writes the first array's value into all four sizes).
// Built as a temporary behind a reference, the same calls arrive intact.
// x [N, C, H, W], weight [O, C, kh, kw], bias [O] or undefined ->
// Y [N, O, (H + 2 ph - kh) / sh + 1, (W + 2 pw - kw) / sw + 1]   (floor division)
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), const Conv2dOptions& options = {});

// The two halves of conv2d's backward, registry ops of their own (recorded when an input
// requires grad; each is linear, and its backward is conv2d or the other half):
//   dx      = the full convolution of dY (dilated by the stride) with the weight, summed over
//             output channels, without the padding border            -> input_shape
//   dweight = the correlation of the padded input with dY (dilated by the stride), summed
//             over the batch                                          -> weight_shape
Tensor conv2d_backward_input(const Tensor& dY, const Tensor& weight, const Shape& input_shape,
                             const Conv2dOptions& options);
Tensor conv2d_backward_weight(const Tensor& x, const Tensor& dY, const Shape& weight_shape,
                              const Conv2dOptions& options);

// Which implementation computes conv2d and its gradients, for the whole process. All give the
// same results up to float rounding (the tests check them against each other):
//   gemm       im2col + matrix products (Eigen), any dtype and stride
//   direct     register tiles over the input and dY with no im2col matrix: float32, stride 1,
//              and the avx512 kernels (tapegrad/cpu.hpp; direct_conv2d_available())
//   automatic  direct where it applies and the output is at least 8 columns wide (measured the
//              faster there: LeNet's layers), gemm elsewhere (ResNet's small late stages)
//   naive      the defining sums as plain nested loops, any dtype and stride; slow, for reading
//   rotated    the textbook form, any dtype and stride; slow, for reading: the forward and dW
//              as corr2d of whole planes, dx as corr2d(pad(dY dilated by the stride, kh - 1,
//              kw - 1), rot180(weight)) summed over output channels, then cropped
// Setting `direct` makes the calls it does not apply to throw ValueError. `automatic` never
// picks naive or rotated.
enum class Conv2dAlgorithm { automatic, gemm, direct, naive, rotated };
void set_conv2d_algorithm(Conv2dAlgorithm algorithm);
Conv2dAlgorithm get_conv2d_algorithm();
bool direct_conv2d_available();  // whether the direct path can run: x86-64 at the avx512 kernel level

}  // namespace tg
