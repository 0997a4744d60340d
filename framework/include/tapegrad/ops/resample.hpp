// SPDX-License-Identifier: MIT
#pragma once
// Resampling NCHW images to another size: adaptive average pooling (a network's global pooling
// before its classifier) and interpolation (resizing inputs), as PyTorch's
// F.adaptive_avg_pool2d and F.interpolate.
//
// Both are linear maps that act on each [H, W] plane separably, one matrix per axis:
//   Y[n, c] = Mh X[n, c] Mw^T      Mh [OH, H], Mw [OW, W]
// so their backward is the transposed map, dX[n, c] = Mh^T dY[n, c] Mw, an op of its own
// (`..._backward`, whose own backward is the forward again), and their JVP is the op applied
// to the tangent. Each row of Mh (and Mw) has one to a few nonzero weights:
//   adaptive_avg_pool2d: row i averages input rows [floor(i H / OH), ceil((i + 1) H / OH)),
//                        so windows may overlap and differ in size (PyTorch's bins);
//   interpolate nearest: row i picks input row min(floor(i H / OH), H - 1);
//   interpolate bilinear: row i mixes the two input rows around the source coordinate
//                        s = (i + 0.5) H / OH - 0.5 (clamped at 0), or s = i (H - 1) / (OH - 1)
//                        with align_corners, with weights 1 - frac(s) and frac(s).
#include "tapegrad/shape.hpp"
#include "tapegrad/tensor.hpp"

namespace tg {

// x [N, C, H, W] -> [N, C, OH, OW], output_size = [OH, OW] (an int for both), each >= 1.
Tensor adaptive_avg_pool2d(const Tensor& x, Size2 output_size);
// Its backward: dy [N, C, OH, OW] spread back over the windows, for x of shape input_shape.
Tensor adaptive_avg_pool2d_backward(const Tensor& dy, const Shape& input_shape);

enum class InterpolateMode { nearest, bilinear };

struct InterpolateOptions {
  InterpolateMode mode = InterpolateMode::nearest;  // PyTorch's default
  // bilinear only: the corner pixels' centres of input and output coincide (PyTorch's
  // align_corners=True); false (the default) maps pixel areas, as PyTorch's default.
  bool align_corners = false;
};

// x [N, C, H, W] resized to size = [OH, OW] (an int for both), each >= 1.
Tensor interpolate(const Tensor& x, Size2 size, const InterpolateOptions& options = {});
// Its backward: dy [N, C, OH, OW] sent back through the same weights, for x of shape input_shape.
Tensor interpolate_backward(const Tensor& dy, const Shape& input_shape, const InterpolateOptions& options = {});

}  // namespace tg
