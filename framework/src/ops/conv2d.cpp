// SPDX-License-Identifier: MIT
// conv2d: corr2d (ops/corr2d.cpp) summed over input channels, for a batch, with stride
// (sh, sw) and zero padding (ph, pw). Xp[n, c] is x[n, c] with ph zero rows above and below
// and pw zero columns left and right; dY = dL/dY.
//
// Forward, x [N, C, H, W], W [O, C, kh, kw], b [O] -> Y [N, O, OH, OW]:
//   Y[n, o, i, j] = b[o] + sum_{c, a < kh, b' < kw} Xp[n, c, sh i + a, sw j + b'] W[o, c, a, b']
//                 = b[o] + sum_c corr2d(Xp[n, c], W[o, c])[sh i, sw j]
//   OH = (H + 2 ph - kh) / sh + 1,  OW = (W + 2 pw - kw) / sw + 1
//
// Backward. Let D[n, o] be dY[n, o] dilated by the stride: D[sh i, sw j] = dY[i, j] and zero
// between, so that sum_{i, j} dY[i, j] f(sh i, sw j) = sum_{u, v} D[u, v] f(u, v). Then corr2d's
// two rules (docs/autograd.md, section 5) hold channel by channel:
//   dW[o, c, a, b'] = sum_{n, i, j} dY[n, o, i, j] Xp[n, c, sh i + a, sw j + b']
//                   = sum_n corr2d(Xp[n, c], D[n, o])[a, b']      (its top-left [kh, kw])
//   dXp[n, c, p, q] = sum_{o, a, b'} D[n, o, p - a, q - b'] W[o, c, a, b']
//                   = sum_o (full convolution of D[n, o] with W[o, c])[p, q]
//   dx[n, c]        = dXp[n, c] without its ph border rows and pw border columns
//   db[o]           = sum_{n, i, j} dY[n, o, i, j]
//
// Note: why im2col. Copy every kh x kw window of Xp[n] into one column of
// cols[(c, a, b'), (i, j)] = Xp[n, c, sh i + a, sw j + b']   ([C kh kw, OH OW]).
// The sums above then become matrix products over all channels at once, which Eigen runs
// near the machine's peak, instead of C O kh kw small block updates:
//   Y[n]   = W [O, C kh kw] cols + b          dW += dY[n] [O, OH OW] cols^T
//   dx[n]  = col2im(W^T dY[n])                (col2im adds each entry of a [C kh kw, OH OW]
//                                              matrix back to the Xp element it was copied
//                                              from, dropping those on the padding)
// ops/im2col.hpp lays several images side by side in one cols so that each product is large,
// and ops/conv2d_gemm.cpp runs the products, split over threads by image. ops/conv2d_direct.cpp
// computes the same sums without cols, for float32 and stride 1 on AVX-512 machines.
// ops/conv2d_reference.cpp computes them twice more, slowly and for reading: `naive` as the
// nested loops of the sums above, `rotated` as the corr2d lines above (with dXp written as
// corr2d(pad(D[n, o], kh - 1, kw - 1), rot180(W[o, c])), the full convolution as a correlation).

#include "tapegrad/ops/conv2d.hpp"

#include <atomic>

#include "ops/conv2d_direct.hpp"
#include "ops/conv2d_reference.hpp"
#include "ops/im2col.hpp"
#include "ops/kernels.hpp"
#include "tapegrad/cpu.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace {

using conv::Geometry;

std::atomic<Conv2dAlgorithm> algorithm{Conv2dAlgorithm::automatic};

// The implementation that runs op for g in dtype: the algorithm set, or for `automatic` direct
// where it applies and the output is at least kDirectMinWidth columns wide, gemm elsewhere.
// Note: the direct kernels tile each output row by up to 16 columns. tg_bench's
// conv2d_algorithm cases measured them faster than im2col + GEMM in every part (forward, dx,
// dW) of LeNet's convolutions (outputs 28 and 10 wide), on one thread and on two, even for
// conv1 whose 6 output channels fill only 6 of its 16 lanes. On ResNet-18's small images they
// are not: a training step at 28x28 input (stages 7, 4, 2 and 1 wide) took 3.2 s with direct
// everywhere and 1.0 s with gemm everywhere, and at 96x96 (stages 24, 12, 6, 3 wide) direct
// for outputs at least 8 wide took 12.1 s against 12.9 s for gemm everywhere (one thread,
// batch 256, AMD EPYC). It never takes naive or rotated, which are there to be read and
// compared, not to be fast.
constexpr std::int64_t kDirectMinWidth = 8;

Conv2dAlgorithm resolve(const char* op, const Geometry& g, Dtype dtype) {
  Conv2dAlgorithm a = algorithm.load(std::memory_order_relaxed);
  bool applies = direct_conv2d_available() && dtype == kFloat32 && g.sh == 1 && g.sw == 1;
  if (a == Conv2dAlgorithm::direct && !applies)
    fail<ValueError>(
        "{}: the direct algorithm needs float32, stride (1, 1) and the avx512 kernels (available: {}; {}); got {}, "
        "stride ({}, {}). Use tg::set_conv2d_algorithm(tg::Conv2dAlgorithm::automatic) or gemm",
        op, direct_conv2d_available(), cpu_summary(), dtype_name(dtype), g.sh, g.sw);
  if (a == Conv2dAlgorithm::automatic)
    return applies && g.OW >= kDirectMinWidth ? Conv2dAlgorithm::direct : Conv2dAlgorithm::gemm;
  return a;
}

Geometry geometry(const char* op, const Shape& x, const Shape& w, const Conv2dOptions& options) {
  auto [sh, sw] = options.stride;
  auto [ph, pw] = options.padding;
  if (x.rank() != 4)
    fail<ShapeError>("{}: input must be 4-D [N, C, H, W], got shape {}; a single image [C, H, W] needs a batch dim", op,
                     x);
  if (w.rank() != 4)
    fail<ShapeError>("{}: weight must be 4-D [O, C, kh, kw], got shape {}; a single filter needs O = 1", op, w);
  if (x[1] != w[1])
    fail<ShapeError>("{}: input has {} channels but weight expects {} ([O={}, C={}, {}, {}]); input shape is {}", op,
                     x[1], w[1], w[0], w[1], w[2], w[3], x);
  if (sh <= 0 || sw <= 0) fail<ValueError>("{}: stride must be positive, got ({}, {}); use strides >= 1", op, sh, sw);
  if (ph < 0 || pw < 0)
    fail<ValueError>("{}: padding must be non-negative, got ({}, {}); use 0 for no padding", op, ph, pw);
  if (w[2] == 0 || w[3] == 0)
    fail<ShapeError>("{}: weight {} has an empty kernel; kh and kw must be at least 1", op, w);
  if (w[2] > x[2] + 2 * ph || w[3] > x[3] + 2 * pw)
    fail<ShapeError>(
        "{}: kernel [{}, {}] is larger than the padded input [{}, {}] (input {} with padding ({}, {})); pad more "
        "or use a smaller kernel",
        op, w[2], w[3], x[2] + 2 * ph, x[3] + 2 * pw, x, ph, pw);
  return {x[0],
          x[1],
          x[2],
          x[3],
          w[0],
          w[2],
          w[3],
          sh,
          sw,
          ph,
          pw,
          (x[2] + 2 * ph - w[2]) / sh + 1,
          (x[3] + 2 * pw - w[3]) / sw + 1};
}

void check_grad_shape(const char* op, const Tensor& dY, const Geometry& g, const Shape& x, const Shape& w) {
  if (!(dY.shape() == Shape{g.N, g.O, g.OH, g.OW}))
    fail<ShapeError>(
        "{}: dY {} is not conv2d's output shape {} for input {} and weight {}; pass the gradient of conv2d's "
        "result, with the shapes and options of that call",
        op, dY.shape(), Shape{g.N, g.O, g.OH, g.OW}, x, w);
}

// The options that give geometry g (what a recorded backward passes on to the ops it calls).
Conv2dOptions options_of(const Geometry& g) { return {.stride = {g.sh, g.sw}, .padding = {g.ph, g.pw}}; }

// The gradients of conv2d that are asked for (a null pointer: not needed), in the dtype of dY;
// x and weight are cast to it.
struct Conv2dGradients {
  Tensor dx, dw, db;
};

Conv2dGradients backward(const char* op, const Geometry& g, const Tensor& dY, const Tensor& x_in,
                         const Tensor& weight_in, bool need_dx, bool need_dw, bool need_db) {
  Dtype dtype = dY.dtype();
  Tensor x = need_dw ? kernels::cast(x_in, dtype) : Tensor();
  Tensor weight = need_dx ? kernels::cast(weight_in, dtype) : Tensor();
  Conv2dGradients out;
  if (need_dx) out.dx = empty({g.N, g.C, g.H, g.W}, {.dtype = dtype});
  if (need_dw) out.dw = empty({g.O, g.C, g.kh, g.kw}, {.dtype = dtype});
  if (need_db) out.db = empty({g.O}, {.dtype = dtype});
  const Conv2dAlgorithm a = resolve(op, g, dtype);
  dispatch_floating(op, dtype, [&]<class T>() {
    auto data = [](const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; };
    const T *xp = data(x), *wp = data(weight), *dyp = dY.data<T>();
    T *dxp = data(out.dx), *dwp = data(out.dw), *dbp = data(out.db);
    if (a == Conv2dAlgorithm::naive) return conv::backward_naive(g, xp, wp, dyp, dxp, dwp, dbp);
    if (a == Conv2dAlgorithm::rotated) return conv::backward_rotated(g, xp, wp, dyp, dxp, dwp, dbp);
#if TAPEGRAD_CONV2D_DIRECT
    if constexpr (std::is_same_v<T, float>)
      if (a == Conv2dAlgorithm::direct) return conv::backward_direct(g, xp, wp, dyp, dxp, dwp, dbp);
#endif
    conv::backward<T>(g, xp, wp, dyp, dxp, dwp, dbp);
  });
  return out;
}

}  // namespace

// dx[n] = col2im(W^T dY[n])  [C kh kw, O] x [O, OH OW]
// dx is linear in dY and in W; with G = dL/d(dx), of the input's shape:
//   d(dY) = conv2d(G, W)                      (same stride and padding)
//   dW    = conv2d_backward_weight(G, dY)     (G in the place of the input)
// jvp: dx' = conv2d_backward_input(dY', W) + conv2d_backward_input(dY, W')
Tensor conv2d_backward_input(const Tensor& dY_in, const Tensor& weight_in, const Shape& input_shape,
                             const Conv2dOptions& options) {
  kernels::check_input(op::conv2d_backward_input, dY_in, "dY");
  kernels::check_input(op::conv2d_backward_input, weight_in, "the weight");
  const char* op = "conv2d_backward_input";
  Geometry g = geometry(op, input_shape, weight_in.shape(), options);
  check_grad_shape(op, dY_in, g, input_shape, weight_in.shape());
  Tensor dY = kernels::cast(dY_in, kernels::result_type(dY_in, weight_in));
  Tensor dx = backward(op, g, dY, Tensor(), weight_in, true, false, false).dx;
  if (should_record(dY_in, weight_in))
    record(op::conv2d_backward_input, {dY_in, weight_in}, dx,
           {saved_for(weight_in, dY_in), saved_for(dY_in, weight_in)}, [options = options_of(g)](BackwardContext& ctx) {
             if (ctx.needs(0)) ctx.accumulate(0, conv2d(ctx.grad(), ctx.saved(0), Tensor(), options));
             if (ctx.needs(1))
               ctx.accumulate(1, conv2d_backward_weight(ctx.grad(), ctx.saved(1), ctx.input_shape(1), options));
           });
  if (has_tangent(dY_in, weight_in))
    record_jvp(op::conv2d_backward_input, dx, [&] {
      Tensor tdY = tangent(dY_in), tw = tangent(weight_in);
      return add_tangents(tdY.defined() ? conv2d_backward_input(tdY, weight_in, input_shape, options) : Tensor(),
                          tw.defined() ? conv2d_backward_input(dY_in, tw, input_shape, options) : Tensor());
    });
  return dx;
}

// dW = sum_n dY[n] cols[n]^T  [O, OH OW] x [OH OW, C kh kw]
// dW is linear in x and in dY; with G = dL/d(dW), of the weight's shape:
//   dx    = conv2d_backward_input(dY, G)      (G in the place of the weight)
//   d(dY) = conv2d(x, G)                      (same stride and padding)
// jvp: dW' = conv2d_backward_weight(x', dY) + conv2d_backward_weight(x, dY')
Tensor conv2d_backward_weight(const Tensor& x_in, const Tensor& dY_in, const Shape& weight_shape,
                              const Conv2dOptions& options) {
  kernels::check_input(op::conv2d_backward_weight, x_in, "the input x");
  kernels::check_input(op::conv2d_backward_weight, dY_in, "dY");
  const char* op = "conv2d_backward_weight";
  Geometry g = geometry(op, x_in.shape(), weight_shape, options);
  check_grad_shape(op, dY_in, g, x_in.shape(), weight_shape);
  Tensor dY = kernels::cast(dY_in, kernels::result_type(x_in, dY_in));
  Tensor dw = backward(op, g, dY, x_in, Tensor(), false, true, false).dw;
  if (should_record(x_in, dY_in))
    record(op::conv2d_backward_weight, {x_in, dY_in}, dw, {saved_for(dY_in, x_in), saved_for(x_in, dY_in)},
           [options = options_of(g)](BackwardContext& ctx) {
             if (ctx.needs(0))
               ctx.accumulate(0, conv2d_backward_input(ctx.saved(0), ctx.grad(), ctx.input_shape(0), options));
             if (ctx.needs(1)) ctx.accumulate(1, conv2d(ctx.saved(1), ctx.grad(), Tensor(), options));
           });
  if (has_tangent(x_in, dY_in))
    record_jvp(op::conv2d_backward_weight, dw, [&] {
      Tensor tx = tangent(x_in), tdY = tangent(dY_in);
      return add_tangents(tx.defined() ? conv2d_backward_weight(tx, dY_in, weight_shape, options) : Tensor(),
                          tdY.defined() ? conv2d_backward_weight(x_in, tdY, weight_shape, options) : Tensor());
    });
  return dw;
}

// Y[n] = W cols[n] + b       (see the top of this file)
// dx = conv2d_backward_input(dY, W, x.shape)
// dW = conv2d_backward_weight(x, dY, W.shape)
// db = dY summed over n, i, j
// jvp: Y' = conv2d(x', W) + conv2d(x, W') + b' (b' broadcast over n, i, j; it rides as the
// bias of the first conv term, or is expanded to Y's shape when it is the only tangent)
// Note: the first-order backward runs the fused kernels in one call. Under create_graph it
// calls the two halves as ops (and db as sums), so that the gradients record and can be
// differentiated again.
Tensor conv2d(const Tensor& x_in, const Tensor& weight_in, const Tensor& bias_in, const Conv2dOptions& options) {
  kernels::check_input(op::conv2d, x_in, "the input x");
  kernels::check_input(op::conv2d, weight_in, "the weight");
  if (bias_in.defined()) kernels::check_dtype(op::conv2d, bias_in, "the bias");
  Geometry g = geometry("conv2d", x_in.shape(), weight_in.shape(), options);
  if (bias_in.defined() && !(bias_in.shape() == Shape{g.O}))
    fail<ShapeError>("conv2d: bias must have shape [O] = [{}] to match weight {}, got {}", g.O, weight_in.shape(),
                     bias_in.shape());
  Dtype dtype = kernels::result_type(x_in, weight_in);
  if (bias_in.defined()) dtype = promote_types(dtype, bias_in.dtype());
  Tensor x = kernels::cast(x_in, dtype), weight = kernels::cast(weight_in, dtype);
  Tensor bias = bias_in.defined() ? kernels::cast(bias_in, dtype) : Tensor();
  Tensor Y = empty({g.N, g.O, g.OH, g.OW}, {.dtype = dtype});
  const Conv2dAlgorithm a = resolve("conv2d", g, dtype);
  dispatch_floating("conv2d", dtype, [&]<class T>() {
    const T *xp = x.data<T>(), *wp = weight.data<T>(), *bp = bias.defined() ? bias.data<T>() : nullptr;
    if (a == Conv2dAlgorithm::naive) return conv::forward_naive(g, xp, wp, bp, Y.data<T>());
    if (a == Conv2dAlgorithm::rotated) return conv::forward_rotated(g, xp, wp, bp, Y.data<T>());
#if TAPEGRAD_CONV2D_DIRECT
    if constexpr (std::is_same_v<T, float>)
      if (a == Conv2dAlgorithm::direct) return conv::forward_direct(g, xp, wp, bp, Y.data<T>());
#endif
    conv::forward<T>(g, xp, wp, bp, Y.data<T>());
  });
  if (should_record(x_in, weight_in, bias_in))
    record(op::conv2d, {x_in, weight_in, bias_in}, Y, {saved_for(x_in, weight_in), saved_for(weight_in, x_in)},
           [g](BackwardContext& ctx) {
             if (ctx.create_graph()) {
               const Conv2dOptions options = options_of(g);
               if (ctx.needs(0))
                 ctx.accumulate(0, conv2d_backward_input(ctx.grad(), ctx.saved(1), ctx.input_shape(0), options));
               if (ctx.needs(1))
                 ctx.accumulate(1, conv2d_backward_weight(ctx.saved(0), ctx.grad(), ctx.input_shape(1), options));
               if (ctx.needs(2))  // over n, i, j: each plane's sum, then over the batch
                 ctx.accumulate(2, sum(sum(reshape(ctx.grad(), {g.N, g.O, g.OH * g.OW}), 2), 0));
               return;
             }
             Conv2dGradients d = backward("conv2d backward", g, ctx.grad(), ctx.saved(0), ctx.saved(1), ctx.needs(0),
                                          ctx.needs(1), ctx.needs(2));
             if (ctx.needs(0)) ctx.accumulate(0, std::move(d.dx));
             if (ctx.needs(1)) ctx.accumulate(1, std::move(d.dw));
             if (ctx.needs(2)) ctx.accumulate(2, std::move(d.db));
           });
  if (has_tangent(x_in, weight_in, bias_in))
    record_jvp(op::conv2d, Y, [&] {
      Tensor tx = tangent(x_in), tw = tangent(weight_in), tb = tangent(bias_in);
      Tensor t;
      if (tx.defined()) {
        t = conv2d(tx, weight_in, tb, options);
        tb = Tensor();
      }
      if (tw.defined()) {
        t = add_tangents(std::move(t), conv2d(x_in, tw, tb, options));
        tb = Tensor();
      }
      if (tb.defined()) t = expand(reshape(tb, {1, g.O, 1, 1}), Y.shape());
      return t;
    });
  return Y;
}

void set_conv2d_algorithm(Conv2dAlgorithm a) {
  if (a != Conv2dAlgorithm::automatic && a != Conv2dAlgorithm::gemm && a != Conv2dAlgorithm::direct &&
      a != Conv2dAlgorithm::naive && a != Conv2dAlgorithm::rotated)
    fail<ValueError>("set_conv2d_algorithm: unknown algorithm {}; use automatic, gemm, direct, naive or rotated",
                     static_cast<int>(a));
  if (a == Conv2dAlgorithm::direct && !direct_conv2d_available())
    fail<ValueError>(
        "set_conv2d_algorithm: the direct conv2d needs the avx512 kernels, and this process runs others ({}); use "
        "automatic or gemm",
        cpu_summary());
  algorithm.store(a, std::memory_order_relaxed);
}

Conv2dAlgorithm get_conv2d_algorithm() { return algorithm.load(std::memory_order_relaxed); }

bool direct_conv2d_available() { return TAPEGRAD_CONV2D_DIRECT && isa_level() == IsaLevel::avx512; }

}  // namespace tg
