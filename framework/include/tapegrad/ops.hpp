// SPDX-License-Identifier: MIT
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
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "tapegrad/generator.hpp"
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
// sigmoid's backward, dy * y * (1 - y) for y = sigmoid(x), as an op of its own (PyTorch's
// sigmoid_backward): what sigmoid's backward and its JVP compute, recorded as one entry.
Tensor sigmoid_backward(const Tensor& dy, const Tensor& y);
Tensor tanh(const Tensor& x);
Tensor sign(const Tensor& x);   // -1, 0 or 1; its gradient is 0
Tensor abs(const Tensor& x);    // gradient sign(x): 0 at 0, as PyTorch
Tensor sqrt(const Tensor& x);   // gradient 1 / (2 sqrt(x)): inf at 0, as PyTorch
Tensor rsqrt(const Tensor& x);  // 1 / sqrt(x)
Tensor log1p(const Tensor& x);  // ln(1 + x), accurate for x near 0
Tensor erf(const Tensor& x);
// x Phi(x), Phi the standard normal CDF; approximate = "tanh" is PyTorch's tanh approximation
// 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).
Tensor gelu(const Tensor& x, std::string_view approximate = "none");
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor silu(const Tensor& x);  // x sigmoid(x), also called swish
// ln(1 + e^(beta x)) / beta, and x itself where beta x > threshold (as PyTorch).
Tensor softplus(const Tensor& x, double beta = 1, double threshold = 20);
// min(max(x, min), max), NaN kept; the gradient passes where min <= x <= max (bounds
// included, as PyTorch). Either bound may be std::nullopt, not both.
Tensor clamp(const Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max = std::nullopt);
inline Tensor clamp_min(const Tensor& x, Scalar min) { return clamp(x, min, std::nullopt); }
inline Tensor clamp_max(const Tensor& x, Scalar max) { return clamp(x, std::nullopt, max); }

// ---- elementwise maximum and minimum, with broadcasting (ops/arithmetic.cpp) ----
// NaN wins; at a tie each operand gets half the gradient (as PyTorch).
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);

// ---- masking (ops/masking.cpp): conditions and masks are bool tensors ----
// cond ? a : b elementwise, the three broadcast together; a number is a 0-d operand.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, Scalar b);
Tensor where(const Tensor& cond, Scalar a, const Tensor& b);
// x with `value` where mask is true; mask broadcasts to x's shape.
Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar value);
// The lower (upper) triangle of the last two dims: entries with j - i <= diagonal (>=), others 0.
Tensor tril(const Tensor& x, std::int64_t diagonal = 0);
Tensor triu(const Tensor& x, std::int64_t diagonal = 0);

// ---- joining and cutting (ops/join.cpp) ----
// The tensors joined along an existing dim (all other dims equal): tg::cat({a, b}, 1).
Tensor cat(std::span<const Tensor> tensors, int dim = 0);
Tensor cat(std::initializer_list<Tensor> tensors, int dim = 0);
// The tensors (all of one shape) along a new dim: tg::stack({a, b}) is [2, ...].
Tensor stack(std::span<const Tensor> tensors, int dim = 0);
Tensor stack(std::initializer_list<Tensor> tensors, int dim = 0);
// Parts along dim: of split_size each (the last one smaller), or of the given sizes.
std::vector<Tensor> split(const Tensor& x, std::int64_t split_size, int dim = 0);
std::vector<Tensor> split(const Tensor& x, std::span<const std::int64_t> sizes, int dim = 0);
std::vector<Tensor> split(const Tensor& x, std::initializer_list<std::int64_t> sizes, int dim = 0);
std::vector<Tensor> chunk(const Tensor& x, std::int64_t chunks, int dim = 0);
// x[..., start:stop:step, ...] along dim, by Python's rules (negative bounds count from the
// end, bounds are clamped, step >= 1); x.index({Slice(1, 5, 2), Slice(2, 7)}) slices dim by dim.
Tensor slice(const Tensor& x, int dim, std::optional<std::int64_t> start, std::optional<std::int64_t> stop,
             std::int64_t step = 1);
// slice's backward: zeros of `shape` with grad written at start, start + step, ... along dim.
Tensor slice_backward(const Tensor& grad, const Shape& shape, int dim, std::int64_t start, std::int64_t step);
Tensor narrow(const Tensor& x, int dim, std::int64_t start, std::int64_t length);  // x[..., start:start+length]
Tensor select(const Tensor& x, int dim, std::int64_t index);                       // x[..., index], dim removed
Tensor squeeze(const Tensor& x);           // without its dims of size 1 (a view)
Tensor squeeze(const Tensor& x, int dim);  // without dim if its size is 1, else x
Tensor unsqueeze(const Tensor& x, int dim);
Tensor flip(const Tensor& x, std::initializer_list<int> dims);

// ---- indexing with int64 indices (ops/index.cpp) ----
// y[..., j, ...] = x[..., index[..., j, ...], ...] along dim (index: x's shape except along dim)
Tensor gather(const Tensor& x, int dim, const Tensor& index);
// x, with src added at the positions index names along dim (repeated indices add up)
Tensor scatter_add(const Tensor& x, int dim, const Tensor& index, const Tensor& src);
Tensor index_select(const Tensor& x, int dim, const Tensor& index);  // index 1-D
// The rows of weight [num_embeddings, dim] named by ids (any shape): ids.shape + [dim]. The
// padding row gets no gradient.
Tensor embedding(const Tensor& weight, const Tensor& ids, std::optional<std::int64_t> padding_idx = std::nullopt);
// embedding's backward: zeros [rows, dim] with each row of grad added at its id.
Tensor embedding_backward(const Tensor& grad, const Tensor& ids, std::int64_t rows,
                          std::optional<std::int64_t> padding_idx = std::nullopt);
// int64 rows with a 1 at each class; num_classes = -1 takes the largest id + 1
Tensor one_hot(const Tensor& ids, std::int64_t num_classes = -1);

// ---- picking reductions (ops/index.cpp) ----
// max(x, dim) and min(x, dim) give the values and their int64 indices (the first one on a
// tie; a NaN wins): auto [values, indices] = tg::max(x, 1). The gradient goes to that index.
struct ValuesIndices {
  Tensor values;
  Tensor indices;
};
ValuesIndices max(const Tensor& x, int dim, bool keepdim = false);
ValuesIndices min(const Tensor& x, int dim, bool keepdim = false);
// The largest (smallest) element, 0-d; its gradient is shared by the elements equal to it.
Tensor max(const Tensor& x);
Tensor min(const Tensor& x);
// The index of the largest (smallest) element along dim, or in the flattened tensor.
Tensor argmax(const Tensor& x, std::optional<int> dim = std::nullopt, bool keepdim = false);
Tensor argmin(const Tensor& x, std::optional<int> dim = std::nullopt, bool keepdim = false);

// ---- reductions (ops/reduce.cpp) ----
Tensor sum(const Tensor& x);  // all elements -> 0-d
Tensor sum(const Tensor& x, int dim, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, int dim, bool keepdim = false);
// ln(sum(e^x)) along dim, without overflow for large x (the max is taken out first)
Tensor logsumexp(const Tensor& x, int dim, bool keepdim = false);
// The variance (and standard deviation) along dim, or of all elements; unbiased divides by
// n - 1 (Bessel's correction, PyTorch's default), otherwise by n. var(x, 1) is along dim 1.
Tensor var(const Tensor& x, int dim, bool unbiased = true, bool keepdim = false);
Tensor var(const Tensor& x, bool unbiased = true);
Tensor std(const Tensor& x, int dim, bool unbiased = true, bool keepdim = false);
Tensor std(const Tensor& x, bool unbiased = true);
// Running sums along dim (integers and bools add up as int64)
Tensor cumsum(const Tensor& x, int dim);
// The product of all elements, or along dim (integers and bools multiply as int64). Its
// gradient is the product of the other elements, also where x has zeros (as PyTorch).
Tensor prod(const Tensor& x);
Tensor prod(const Tensor& x, int dim, bool keepdim = false);

// ---- sampling (ops/sampling.cpp): never differentiated ----
// num_samples class indices (int64) drawn from each row of probs ([C] -> [num_samples],
// [N, C] -> [N, num_samples]), with probability proportional to its (not necessarily
// normalised, finite, non-negative) weights, as torch.multinomial. Without replacement no
// class is drawn twice in a row's samples.
Tensor multinomial(const Tensor& probs, std::int64_t num_samples, bool replacement = false,
                   Generator& gen = default_generator());

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
// A new tensor on the same data and with the same gradient path (make_dual's view, AliasBackward0).
Tensor alias(const Tensor& x);
// A view with the same data; with a list of sizes, one of them may be -1 (inferred).
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor reshape(const Tensor& x, std::initializer_list<std::int64_t> sizes);
Tensor transpose(const Tensor& x, int dim0, int dim1);
Tensor permute(const Tensor& x, std::initializer_list<int> dims);

// ---- 2-D cross-correlation, the seed's primitive (ops/corr2d.cpp) ----
// Y[i, j] = sum_{a, b} X[i + a, j + b] K[a, b], for 2-D X [h, w] and K [kh, kw];
// Y has shape [h - kh + 1, w - kw + 1].
Tensor corr2d(const Tensor& X, const Tensor& K);
// The two halves of corr2d's backward, registry ops of their own: recorded when an input
// requires grad, so that a backward with create_graph differentiates them (each is linear,
// and its own backward is corr2d again; docs/autograd.md, section 5):
//   dX = full convolution of dY with K  = corr2d(pad(dY, kh-1, kw-1), rot180(K))
//   dK = corr2d(X, dY)
Tensor corr2d_backward_input(const Tensor& dY, const Tensor& K);
Tensor corr2d_backward_kernel(const Tensor& X, const Tensor& dY);

}  // namespace tg

// The op families of convolutional networks, one header each.
#include "tapegrad/ops/attention.hpp"
#include "tapegrad/ops/conv2d.hpp"
#include "tapegrad/ops/loss.hpp"
#include "tapegrad/ops/normalization.hpp"
#include "tapegrad/ops/pooling.hpp"
#include "tapegrad/ops/resample.hpp"
