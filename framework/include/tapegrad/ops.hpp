#pragma once
// The differentiable operations. Each is a free function in framework/src/ops/ whose
// forward and backward sit side by side, with the derivative written above it as math.
//
// Binary elementwise ops broadcast like NumPy and PyTorch: shapes are aligned on the
// right and each pair of dims must be equal or contain a 1. Mixed dtypes follow PyTorch's
// promotion: bool < int64 < float32 < float64, where a 0-d tensor or a plain number takes
// part only if it is of a higher kind (bool < integer < floating) than the tensors with dims:
// float32 [3] + float64 [3] is float64, float32 [3] + a float64 0-d tensor or 2.5 is float32,
// int64 [3] * 2.5 is float32.
#include <initializer_list>

#include "tapegrad/tensor.hpp"

namespace tg {

// ---- arithmetic (ops/arithmetic.cpp) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
Tensor square(const Tensor& x);
Tensor reciprocal(const Tensor& x);  // 1 / x
// With a number (the operators x + 2, 2 * x, x / 3, 1 - x call these).
Tensor add(const Tensor& x, Scalar c);
Tensor sub(const Tensor& x, Scalar c);
Tensor rsub(const Tensor& x, Scalar c);  // c - x
Tensor mul(const Tensor& x, Scalar c);
Tensor div(const Tensor& x, Scalar c);

// ---- comparisons (ops/compare.cpp): bool tensors, with broadcasting; never differentiated ----
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, Scalar b);
Tensor le(const Tensor& a, Scalar b);
Tensor gt(const Tensor& a, Scalar b);
Tensor ge(const Tensor& a, Scalar b);
Tensor eq(const Tensor& a, Scalar b);
Tensor ne(const Tensor& a, Scalar b);

// ---- elementwise functions (ops/unary.cpp) ----
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);

// ---- reductions (ops/reduce.cpp) ----
Tensor sum(const Tensor& x);  // all elements -> 0-d
Tensor sum(const Tensor& x, int dim, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, int dim, bool keepdim = false);

// ---- broadcasting (ops/broadcast.cpp) ----
// The shape two shapes broadcast to; throws ShapeError naming `op` if they do not.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);
// x repeated along its size-1 (or missing leading) dims to `shape`; backward is sum_to.
Tensor expand(const Tensor& x, const Shape& shape);
// The inverse of expand: x summed over the dims that broadcasting added or stretched.
Tensor sum_to(const Tensor& x, const Shape& shape);

// ---- matrix product (ops/matmul.cpp) ----
// torch.matmul: [n, k] @ [k, m] -> [n, m]; leading batch dims broadcast
// ([b, n, k] @ [k, m] -> [b, n, m]); a 1-D operand is a vector.
Tensor matmul(const Tensor& a, const Tensor& b);

// ---- shape (ops/shape_ops.cpp) ----
// A view with the same data; with a list of sizes, one of them may be -1 (inferred).
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor reshape(const Tensor& x, std::initializer_list<std::int64_t> sizes);
Tensor transpose(const Tensor& x, int dim0, int dim1);
Tensor permute(const Tensor& x, std::initializer_list<int> dims);

// ---- 2-D cross-correlation, the seed's primitive (ops/corr2d.cpp) ----
// Y[i, j] = sum_{a, b} X[i + a, j + b] K[a, b], for 2-D X [h, w] and K [kh, kw];
// Y has shape [h - kh + 1, w - kw + 1].
Tensor corr2d(const Tensor& X, const Tensor& K);
// The two halves of corr2d's backward, named so that they can be read and tested alone:
//   dX = full convolution of dY with K  = corr2d(pad(dY, kh-1, kw-1), rot180(K))
//   dK = corr2d(X, dY)
Tensor corr2d_backward_input(const Tensor& dY, const Tensor& K);
Tensor corr2d_backward_kernel(const Tensor& X, const Tensor& dY);

}  // namespace tg

// The op families of convolutional networks, one header each.
#include "tapegrad/ops/conv2d.hpp"
#include "tapegrad/ops/loss.hpp"
#include "tapegrad/ops/normalization.hpp"
#include "tapegrad/ops/pooling.hpp"
