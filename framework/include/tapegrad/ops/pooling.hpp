// SPDX-License-Identifier: MIT
#pragma once
// 2-D pooling over NCHW tensors, and flatten: the glue between convolutional and dense layers.
//
// Windows follow PyTorch (ceil_mode = false): along each spatial dim, output size
//   out = (in + 2 padding - kernel) / stride + 1   (floor)
// and window i covers input rows [i stride - padding, i stride - padding + kernel).
#include <array>
#include <cstdint>
#include <optional>

#include "tapegrad/tensor.hpp"

namespace tg {

struct Pool2dOptions {
  Size2 kernel_size = 2;   // [kh, kw], each >= 1
  OptionalSize2 stride{};  // [sh, sw], each >= 1; default: kernel_size
  Size2 padding = 0;       // [ph, pw], each in [0, kernel / 2]
};

// y[n, c, i, j] = max over the window of x[n, c, ...] (padding counts as -inf).
// x must be 4-D [N, C, H, W]. The gradient goes to the first maximum of each window in
// row-major order, as PyTorch's CPU kernel does; a NaN in a window wins over any number.
// Options go by const reference, as conv2d's do (see the note in ops/conv2d.hpp).
Tensor max_pool2d(const Tensor& x, const Pool2dOptions& options = {});

// y[n, c, i, j] = mean over the window of x[n, c, ...], padding counted as zeros
// (count_include_pad = true, PyTorch's default): every window divides by kh * kw.
Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& options = {});

// The backward halves of the two poolings, as ops of their own (each records when dy requires
// grad, so that a backward with create_graph can be differentiated again). For x of shape
// input_shape and the options of the forward call, dy has the pooling's output shape:
//   max_pool2d_backward: dx = zeros with dy[n, c, o] added at indices[n, c, o], the offset of
//                        window o's maximum within its [H, W] plane (PyTorch's indices;
//                        int64, each inside its window)
//   avg_pool2d_backward: dx = the sum of dy / (kh kw) over the windows that hold each element
Tensor max_pool2d_backward(const Tensor& dy, const Tensor& indices, const Shape& input_shape,
                           const Pool2dOptions& options = {});
Tensor avg_pool2d_backward(const Tensor& dy, const Shape& input_shape, const Pool2dOptions& options = {});

// torch.flatten: dims start_dim..end_dim (inclusive, negative counts from the end) merged
// into one; a view of the same data. A 0-d tensor becomes shape [1].
// Note: start_dim defaults to 1, as nn.Flatten, so that the batch dim stays.
Tensor flatten(const Tensor& x, int start_dim = 1, int end_dim = -1);

}  // namespace tg
