// SPDX-License-Identifier: MIT
// corr2d: the 2-D cross-correlation that convolutional layers call "convolution".
//
// Forward, for X [h, w] and K [kh, kw], Y [oh, ow] = [h - kh + 1, w - kw + 1]:
//   Y[i, j] = sum_{a < kh, b < kw} X[i + a, j + b] K[a, b]
//
// Backward, by the chain rule dL/dv = sum over every Y[i, j] that v touches:
//   dK[a, b] = sum_{i, j} dY[i, j] X[i + a, j + b]              = corr2d(X, dY)[a, b]
//   dX[p, q] = sum_{a, b} dY[p - a, q - b] K[a, b]   (terms with p - a or q - b outside
//                                                     dY are zero)
// The second sum is the full convolution of dY with K. Substituting a -> kh - 1 - a and
// b -> kw - 1 - b turns it into a cross-correlation:
//   dX = corr2d(pad(dY, kh - 1, kw - 1), rot180(K))
// so both halves of the backward run on the forward kernel. docs/autograd.md walks
// through the indices.
//
// Each half is linear in each of its two arguments, so its own derivatives are correlations
// again (docs/autograd.md, "The second derivative of corr2d"). With G = dL/d(result):
//   dX = corr2d_backward_input(dY, K):   d(dY) = corr2d(G, K),   dK = corr2d(G, dY)
//   dK = corr2d_backward_kernel(X, dY):  dX = corr2d_backward_input(dY, G),   d(dY) = corr2d(X, G)
// Both are registry ops that record when an argument requires grad, which corr2d's backward
// makes them do under create_graph; otherwise they are the plain kernels they always were.
#include "ops/corr2d_loops.hpp"
#include "ops/kernels.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace {

// Y = corr2d(X, K), unrecorded (the loops are in ops/corr2d_loops.hpp).
Tensor corr2d_forward(const Tensor& X, const Tensor& K) {
  std::int64_t h = X.shape()[0], w = X.shape()[1], kh = K.shape()[0], kw = K.shape()[1];
  std::int64_t oh = h - kh + 1, ow = w - kw + 1;
  Tensor Y = empty({oh, ow}, {.dtype = X.dtype()});
  dispatch_floating("corr2d", X.dtype(), [&]<class T>() {
    kernels::corr2d_loops(X.data<T>(), w, K.data<T>(), kh, kw, Y.data<T>(), oh, ow);
  });
  return Y;
}

// [h, w] -> [h + 2 ph, w + 2 pw], zeros around.
Tensor pad2d(const Tensor& X, std::int64_t ph, std::int64_t pw) {
  std::int64_t h = X.shape()[0], w = X.shape()[1];
  Tensor P = zeros({h + 2 * ph, w + 2 * pw}, {.dtype = X.dtype()});
  dispatch_floating("corr2d", X.dtype(), [&]<class T>() {
    kernels::mat<T>(P, h + 2 * ph, w + 2 * pw).block(ph, pw, h, w) = kernels::mat<T>(X, h, w);
  });
  return P;
}

// K turned by 180 degrees: R[a, b] = K[kh - 1 - a, kw - 1 - b].
Tensor rot180(const Tensor& K) {
  Tensor R = empty(K.shape(), {.dtype = K.dtype()});
  dispatch_floating("corr2d", K.dtype(), [&]<class T>() { kernels::vec<T>(R) = kernels::vec<T>(K).reverse(); });
  return R;
}

void check_2d(const char* op, const char* what, const Tensor& t) {
  kernels::check_defined(op, t, what);
  if (!t.is_floating_point())
    fail<DtypeError>("{}: {} is {} tensor {}, but {} takes float32 and float64; convert it with .to(tg::kFloat32)", op,
                     what, t.dtype() == kInt64 ? "an int64" : "a bool", t.shape(), op);
  if (t.dim() != 2)
    fail<ShapeError>("{}: {} must be 2-D [h, w], got shape {}; reshape it (batched inputs need conv2d)", op, what,
                     t.shape());
}

void check_not_empty(const char* op, const char* what, const Tensor& t, const char* fix) {
  if (t.numel() == 0) fail<ShapeError>("{}: {} {} is empty; {}", op, what, t.shape(), fix);
}

}  // namespace

// dX[p, q] = sum_{a, b} dY[p - a, q - b] K[a, b]
// d(dY) = corr2d(G, K), dK = corr2d_backward_kernel(G, dY) = corr2d(G, dY)
// jvp: dX' = corr2d_backward_input(dY', K) + corr2d_backward_input(dY, K')
Tensor corr2d_backward_input(const Tensor& dY, const Tensor& K) {
  const char* op = "corr2d_backward_input";
  check_2d(op, "dY", dY);
  check_2d(op, "K", K);
  check_not_empty(op, "dY", dY, "it is corr2d's output gradient, which has at least one row and one column");
  check_not_empty(op, "K", K, "the kernel needs at least one row and one column");
  Dtype dtype = kernels::result_type(dY, K);
  Tensor dX = corr2d_forward(pad2d(kernels::cast(dY, dtype), K.shape()[0] - 1, K.shape()[1] - 1),
                             rot180(kernels::cast(K, dtype)));
  if (should_record(dY, K))
    record(op::corr2d_backward_input, {dY, K}, dX, {saved_for(K, dY), saved_for(dY, K)}, [](BackwardContext& ctx) {
      if (ctx.needs(0)) ctx.accumulate(0, corr2d(ctx.grad(), ctx.saved(0)));
      if (ctx.needs(1)) ctx.accumulate(1, corr2d_backward_kernel(ctx.grad(), ctx.saved(1)));
    });
  if (has_tangent(dY, K))
    record_jvp(op::corr2d_backward_input, dX, [&] {
      Tensor tdY = tangent(dY), tK = tangent(K);
      return add_tangents(tdY.defined() ? corr2d_backward_input(tdY, K) : Tensor(),
                          tK.defined() ? corr2d_backward_input(dY, tK) : Tensor());
    });
  return dX;
}

// dK[a, b] = sum_{i, j} dY[i, j] X[i + a, j + b]
// dX = corr2d_backward_input(dY, G), d(dY) = corr2d(X, G)
// jvp: dK' = corr2d_backward_kernel(X', dY) + corr2d_backward_kernel(X, dY')
Tensor corr2d_backward_kernel(const Tensor& X, const Tensor& dY) {
  const char* op = "corr2d_backward_kernel";
  check_2d(op, "X", X);
  check_2d(op, "dY", dY);
  if (dY.shape()[0] > X.shape()[0] || dY.shape()[1] > X.shape()[1])
    fail<ShapeError>("corr2d_backward_kernel: dY {} is larger than X {}; dY must have corr2d's output shape",
                     dY.shape(), X.shape());
  check_not_empty(op, "dY", dY, "it is corr2d's output gradient, which has at least one row and one column");
  Dtype dtype = kernels::result_type(X, dY);
  Tensor dK = corr2d_forward(kernels::cast(X, dtype), kernels::cast(dY, dtype));
  if (should_record(X, dY))
    record(op::corr2d_backward_kernel, {X, dY}, dK, {saved_for(dY, X), saved_for(X, dY)}, [](BackwardContext& ctx) {
      if (ctx.needs(0)) ctx.accumulate(0, corr2d_backward_input(ctx.saved(0), ctx.grad()));
      if (ctx.needs(1)) ctx.accumulate(1, corr2d(ctx.saved(1), ctx.grad()));
    });
  if (has_tangent(X, dY))
    record_jvp(op::corr2d_backward_kernel, dK, [&] {
      Tensor tX = tangent(X), tdY = tangent(dY);
      return add_tangents(tX.defined() ? corr2d_backward_kernel(tX, dY) : Tensor(),
                          tdY.defined() ? corr2d_backward_kernel(X, tdY) : Tensor());
    });
  return dK;
}

// Y = corr2d(X, K)
// dX = corr2d_backward_input(dY, K)  = full convolution of dY with K
// dK = corr2d_backward_kernel(X, dY) = corr2d(X, dY)
// jvp: Y' = corr2d(X', K) + corr2d(X, K')
// Under create_graph the halves record (they are registry ops), so the gradients can be
// differentiated again.
Tensor corr2d(const Tensor& X, const Tensor& K) {
  check_2d("corr2d", "input X", X);
  check_2d("corr2d", "kernel K", K);
  if (K.shape()[0] > X.shape()[0] || K.shape()[1] > X.shape()[1])
    fail<ShapeError>(
        "corr2d: kernel {} is larger than input {}; the kernel must fit inside the input (pad the input "
        "or use a smaller kernel)",
        K.shape(), X.shape());
  if (K.numel() == 0)
    fail<ShapeError>("corr2d: kernel {} is empty; it needs at least one row and one column", K.shape());
  Dtype dtype = kernels::result_type(X, K);
  Tensor Y = corr2d_forward(kernels::cast(X, dtype), kernels::cast(K, dtype));
  if (should_record(X, K))
    record(op::corr2d, {X, K}, Y, {saved_for(K, X), saved_for(X, K)}, [](BackwardContext& ctx) {
      if (ctx.needs(0)) ctx.accumulate(0, corr2d_backward_input(ctx.grad(), ctx.saved(0)));
      if (ctx.needs(1)) ctx.accumulate(1, corr2d_backward_kernel(ctx.saved(1), ctx.grad()));
    });
  if (has_tangent(X, K))
    record_jvp(op::corr2d, Y, [&] {
      Tensor tX = tangent(X), tK = tangent(K);
      return add_tangents(tX.defined() ? corr2d(tX, K) : Tensor(), tK.defined() ? corr2d(X, tK) : Tensor());
    });
  return Y;
}

}  // namespace tg
