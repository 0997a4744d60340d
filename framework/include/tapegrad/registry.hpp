// SPDX-License-Identifier: MIT
#pragma once
// The registry: one OpInfo (op_info.hpp) for every differentiable op of tapegrad, defined in
// framework/src/ops/registry.cpp. An op passes its entry to record(), so an op that is not in
// the registry does not compile; the gradcheck and adjoint_check sweeps, the undefined-input,
// bad-input and wrong-dtype rows, and the PyTorch-fixture coverage all iterate it.
#include <span>

#include "tapegrad/op_info.hpp"

namespace tg {

// An OpInfo that adds itself to the registry when it is constructed.
struct BuiltinOp : OpInfo {
  explicit BuiltinOp(OpInfo info);
};

// Every built-in op, in the order the registry defines them.
std::span<const OpInfo* const> builtin_ops();
// The built-in op with this name, or nullptr.
const OpInfo* find_builtin_op(std::string_view name);

namespace op {
// Arithmetic (ops/arithmetic.cpp)
extern const BuiltinOp add, sub, mul, div, neg, pow, square, reciprocal;
extern const BuiltinOp add_scalar, sub_scalar, rsub_scalar, mul_scalar, div_scalar;
// In place (ops/inplace.cpp): the same derivatives, recorded on the tensor that is written.
extern const BuiltinOp add_, sub_, mul_, div_, add_scalar_, sub_scalar_, mul_scalar_, div_scalar_, relu_;
// Elementwise functions (ops/unary.cpp)
extern const BuiltinOp exp, log, relu, sigmoid, tanh, sign, abs, sqrt, rsqrt, log1p, erf, gelu, leaky_relu, silu,
    softplus, clamp;
// Elementwise maximum and minimum (ops/arithmetic.cpp)
extern const BuiltinOp maximum, minimum;
// Joining and cutting (ops/join.cpp); narrow, select, chunk and index record these
extern const BuiltinOp cat, stack, split, slice, slice_backward, squeeze, unsqueeze, flip;
// Indexing and picking reductions (ops/index.cpp)
extern const BuiltinOp gather, scatter_add, embedding, embedding_backward, max, min, max_all, min_all;
// Masking (ops/masking.cpp)
extern const BuiltinOp where, masked_fill, tril, triu;
// Reductions (ops/reduce.cpp)
extern const BuiltinOp sum, mean, logsumexp, var, std, cumsum, prod;
// Broadcasting and shapes (ops/broadcast.cpp, ops/shape_ops.cpp), copies and conversions (tensor.cpp)
extern const BuiltinOp expand, sum_to, reshape, alias, permute, clone, to;
// Matrix product (ops/matmul.cpp)
extern const BuiltinOp matmul;
// Convolution and pooling (ops/corr2d.cpp, ops/conv2d.cpp, ops/pooling.cpp)
extern const BuiltinOp corr2d, conv2d, max_pool2d, avg_pool2d;
// Their backward halves, ops of their own so that a recorded backward can be differentiated
extern const BuiltinOp corr2d_backward_input, corr2d_backward_kernel, conv2d_backward_input, conv2d_backward_weight,
    max_pool2d_backward, avg_pool2d_backward;
// sigmoid's backward, an op of its own for the same reason (ops/unary.cpp)
extern const BuiltinOp sigmoid_backward;
// Resampling and its backward halves (ops/resample.cpp)
extern const BuiltinOp adaptive_avg_pool2d, adaptive_avg_pool2d_backward, interpolate, interpolate_backward;
// Losses, normalisation, regularisation (ops/loss.cpp, ops/normalization.cpp)
extern const BuiltinOp softmax, log_softmax, cross_entropy, nll_loss, binary_cross_entropy_with_logits, mse_loss,
    batch_norm, dropout, layer_norm;
// Attention (ops/attention.cpp)
extern const BuiltinOp scaled_dot_product_attention;
}  // namespace op

}  // namespace tg
