// batch_norm and dropout, with hand-written backwards.
//
// batch_norm views x [N, C, ...] as [N, C, S] (S = the product of the dims after C, 1 for
// 2-D input) and normalises each channel c over its M = N * S values:
//   mean = (1/M) sum x,   var = (1/M) sum (x - mean)^2,   invstd = 1 / sqrt(var + eps)
//   xhat = (x - mean) invstd,   y = weight xhat + bias
//
// Backward (sums are per channel, over its M values; dxhat = dy * weight):
//   dbias   = sum(dy)
//   dweight = sum(dy * xhat)
//   training: mean and var depend on x. With d xhat_j / d x_i = invstd (delta_ij - 1/M
//   - xhat_i xhat_j / M), the chain rule gives
//     dx = (1/M) invstd (M dxhat - sum(dxhat) - xhat sum(dxhat xhat))
//        = weight invstd (dy - sum(dy) / M - xhat sum(dy xhat) / M)
//   eval: mean and invstd are constants (the running statistics), so y is affine in x:
//     dx = weight invstd dy
#include <cmath>

#include "ops/kernels.hpp"
#include "tapegrad/ops/normalization.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace {

template <class T>
using Vec = kernels::Array<T>;  // one value per channel

// x [N, C, d2, ...] viewed as [N, C, S]: sample n is a row-major [C, S] block at n * C * S.
struct ChannelLayout {
  std::int64_t N, C, S;
};

// The [C, S] block of sample n, as an Eigen array (no copy).
template <class T>
auto block(const Tensor& t, const ChannelLayout& l, std::int64_t n) {
  return kernels::mat<T>(t, l.C, l.S, n * l.C * l.S).array();
}

template <class T>
Tensor to_tensor(const Vec<T>& v) {
  Tensor t = empty({v.size()}, {.dtype = dtype_of<T>()});
  kernels::vec<T>(t) = v;
  return t;
}

// A per-channel parameter as a Vec<T>, or `fallback` everywhere when it is undefined.
template <class T>
Vec<T> channel_values(const Tensor& t, std::int64_t C, T fallback) {
  if (!t.defined()) return Vec<T>::Constant(C, fallback);
  return kernels::vec<T>(kernels::cast(t, dtype_of<T>()));
}

void check_channel_vector(const char* what, const Tensor& t, const Tensor& x) {
  if (t.defined() && !(t.dim() == 1 && t.size(0) == x.size(1)))
    fail<ShapeError>("batch_norm: {} has shape {} but the input {} has C = {} channels (dim 1); it must be [{}]", what,
                     t.shape(), x.shape(), x.size(1), x.size(1));
}

void check_batch_norm_args(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                           const Tensor& bias, bool training) {
  if (x.dim() < 2)
    fail<ShapeError>("batch_norm: input must be [N, C] or [N, C, H, W], got shape {}; add a batch dim", x.shape());
  check_channel_vector("running_mean", running_mean, x);
  check_channel_vector("running_var", running_var, x);
  check_channel_vector("weight", weight, x);
  check_channel_vector("bias", bias, x);
  if (running_mean.defined() != running_var.defined())
    fail<ValueError>("batch_norm: running_mean and running_var must both be given or both be undefined");
  if (!training && !running_mean.defined())
    fail<ValueError>(
        "batch_norm: eval mode (training = false) normalises with running_mean and running_var; "
        "pass them, or use training = true");
  if (training && x.numel() / x.size(1) <= 1)
    fail<ValueError>(
        "batch_norm: expected more than 1 value per channel when training, got input shape {}; use a "
        "batch of at least 2 (or eval mode)",
        x.shape());
}

// running = (1 - momentum) running + momentum batch, in the running statistics' own dtype.
void update_running(Tensor running, const Tensor& batch, double momentum) {
  NoGradGuard no_grad;
  running.mul_(1 - momentum).add_(batch, momentum);
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  check_batch_norm_args(x, running_mean, running_var, weight, bias, training);
  const ChannelLayout l{x.size(0), x.size(1), x.numel() == 0 ? 0 : x.numel() / (x.size(0) * x.size(1))};
  const Dtype dtype = x.dtype();
  const std::int64_t M = l.N * l.S;
  Tensor y = empty(x.shape(), {.dtype = dtype});
  Tensor mean, invstd;  // [C], saved for the backward
  dispatch(dtype, [&]<class T>() {
    Vec<T> m(l.C), var(l.C);
    if (training) {
      m.setZero();
      for (std::int64_t n = 0; n < l.N; ++n) m += block<T>(x, l, n).rowwise().sum();
      m /= static_cast<T>(M);
      var.setZero();  // two passes: sum (x - mean)^2 keeps its precision when |mean| >> std
      for (std::int64_t n = 0; n < l.N; ++n) var += (block<T>(x, l, n).colwise() - m).square().rowwise().sum();
      var /= static_cast<T>(M);
      if (running_mean.defined()) {
        update_running(running_mean, to_tensor<T>(m), momentum);
        update_running(running_var, to_tensor<T>(var * (static_cast<T>(M) / static_cast<T>(M - 1))), momentum);
      }
    } else {
      m = channel_values<T>(running_mean, l.C, 0);
      var = channel_values<T>(running_var, l.C, 1);
    }
    Vec<T> is = (var + static_cast<T>(eps)).rsqrt();
    Vec<T> scale = is * channel_values<T>(weight, l.C, 1);  // y = scale x + shift
    Vec<T> shift = channel_values<T>(bias, l.C, 0) - m * scale;
    for (std::int64_t n = 0; n < l.N; ++n) block<T>(y, l, n) = (block<T>(x, l, n).colwise() * scale).colwise() + shift;
    mean = to_tensor<T>(m);
    invstd = to_tensor<T>(is);
  });
  if (should_record(x, weight, bias)) {
    // x is read by dx (training) and dweight; weight only by dx.
    bool keep_x = x.requires_grad() || (weight.defined() && weight.requires_grad());
    record("batch_norm", {x, weight, bias}, y,
           [x = keep_x ? x : Tensor(), weight = saved_for(weight, x), mean, invstd, training, l, M](const Tensor& dy_in,
                                                                                                    Gradients& in) {
             Tensor dy = kernels::cast(dy_in, mean.dtype());
             Tensor dx, dweight, dbias;
             dispatch(mean.dtype(), [&]<class T>() {
               auto m = kernels::vec<T>(mean), is = kernels::vec<T>(invstd);
               Vec<T> sum_dy = Vec<T>::Zero(l.C), sum_dy_xhat = Vec<T>::Zero(l.C);
               for (std::int64_t n = 0; n < l.N; ++n) {
                 sum_dy += block<T>(dy, l, n).rowwise().sum();
                 if (x.defined())
                   sum_dy_xhat += (block<T>(dy, l, n) * (block<T>(x, l, n).colwise() - m)).rowwise().sum();
               }
               sum_dy_xhat *= is;
               if (in.needs(2)) dbias = to_tensor<T>(sum_dy);
               if (in.needs(1)) dweight = to_tensor<T>(sum_dy_xhat);
               if (!in.needs(0)) return;
               Vec<T> k = is * channel_values<T>(weight, l.C, 1);  // dy/dx at fixed statistics
               dx = empty(dy.shape(), {.dtype = dy.dtype()});
               if (!training) {
                 for (std::int64_t n = 0; n < l.N; ++n) block<T>(dx, l, n) = block<T>(dy, l, n).colwise() * k;
                 return;
               }
               Vec<T> a = sum_dy / static_cast<T>(M), b = sum_dy_xhat * is / static_cast<T>(M);
               for (std::int64_t n = 0; n < l.N; ++n)  // k (dy - a - (x - mean) invstd sum(dy xhat) / M)
                 block<T>(dx, l, n) =
                     ((block<T>(dy, l, n).colwise() - a) - (block<T>(x, l, n).colwise() - m).colwise() * b).colwise() *
                     k;
             });
             if (in.needs(0)) in.accumulate(0, dx);
             if (in.needs(1)) in.accumulate(1, dweight);
             if (in.needs(2)) in.accumulate(2, dbias);
           });
  }
  return y;
}

// y = x * mask / (1 - p),   mask_i ~ Bernoulli(1 - p)
// dx = dy * mask / (1 - p)
// Note: the closure saves mask / (1 - p) (0 or the scale) rather than x or y: it is all the
// backward reads, and a zeroed y could not tell a dropped element from a zero input.
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  if (!(p >= 0 && p <= 1))
    fail<ValueError>("dropout: probability p must lie in [0, 1], got {}; p is the fraction of elements zeroed", p);
  if (!training || p == 0) return x;
  const double keep_scale = p == 1 ? 0 : 1 / (1 - p);
  Tensor mask = empty(x.shape(), {.dtype = x.dtype()});
  dispatch(x.dtype(), [&]<class T>() {
    T* m = mask.data<T>();
    for (std::int64_t i = 0, n = x.numel(); i < n; ++i) m[i] = gen.uniform() < p ? T(0) : static_cast<T>(keep_scale);
  });
  Tensor y = kernels::zip(x, mask, [](auto v, auto m) { return v * m; });
  if (should_record(x))
    record("dropout", {x}, y, [mask](const Tensor& dy, Gradients& in) {
      in.accumulate(0, kernels::zip(dy, mask, [](auto g, auto m) { return g * m; }));
    });
  return y;
}

}  // namespace tg
