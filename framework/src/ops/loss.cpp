// softmax, log_softmax, cross_entropy and mse_loss.
//
// softmax and log_softmax work on "lines": the 1-D slices of x along `dim`. With x viewed
// as [outer, n, inner], line (o, i) is the n elements o n inner + k inner + i, k < n.
#include <cmath>
#include <vector>

#include "ops/kernels.hpp"
#include "tapegrad/ops/loss.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace {

// Calls f(first, n, stride) for every line of `shape` along `dim`: the line's elements are
// at first + k * stride, k < n. A 0-d tensor is one line of one element.
template <class F>
void for_each_line(const Shape& shape, int dim, F f) {
  std::int64_t n = shape.rank() == 0 ? 1 : shape[dim], inner = 1;
  for (int d = dim + 1; d < shape.rank(); ++d) inner *= shape[d];
  std::int64_t outer = n * inner == 0 ? 0 : shape.numel() / (n * inner);
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t i = 0; i < inner; ++i) f(o * n * inner + i, n, inner);
}

// softmax (log_space = false) or log_softmax (true) of x along dim, unrecorded. Both
// subtract the line's max m first: e^(x - m) <= 1 never overflows and its sum is >= 1.
Tensor softmax_forward(const Tensor& x, int dim, bool log_space) {
  Tensor y = empty(x.shape(), {.dtype = x.dtype()});
  dispatch_floating(log_space ? "log_softmax" : "softmax", x.dtype(), [&]<class T>() {
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for_each_line(x.shape(), dim, [&](std::int64_t first, std::int64_t n, std::int64_t stride) {
      T m = -INFINITY;
      for (std::int64_t k = 0; k < n; ++k) m = std::max(m, px[first + k * stride]);
      T total = 0;
      for (std::int64_t k = 0; k < n; ++k) total += std::exp(px[first + k * stride] - m);
      T log_total = std::log(total);
      for (std::int64_t k = 0; k < n; ++k) {
        std::int64_t p = first + k * stride;
        py[p] = log_space ? px[p] - m - log_total : std::exp(px[p] - m) / total;
      }
    });
  });
  return y;
}

// Checks that logits is [N, K] and that `targets` is an int64 tensor [N] of class indices in
// [0, K).
void check_class_targets(const Tensor& logits, const Tensor& targets) {
  if (logits.dim() != 2)
    fail<ShapeError>(
        "cross_entropy: logits must be 2-D [N, K] (a batch of class scores), got shape {}; reshape a "
        "single example to [1, K]",
        logits.shape());
  if (targets.dim() != 1)
    fail<ShapeError>("cross_entropy: targets must be 1-D [N] (one class index per example), got shape {}",
                     targets.shape());
  if (targets.size(0) != logits.size(0))
    fail<ShapeError>(
        "cross_entropy: logits {} hold N = {} examples but there are {} targets; give one class index per example",
        logits.shape(), logits.size(0), targets.size(0));
  const std::int64_t* t = targets.data<std::int64_t>();
  for (std::int64_t i = 0; i < targets.numel(); ++i)
    if (t[i] < 0 || t[i] >= logits.size(1))
      fail<ValueError>(
          "cross_entropy: target {} (example {}) is out of range for {} classes; class indices must be in [0, {})",
          t[i], i, logits.size(1), logits.size(1));
}

}  // namespace

// y = softmax(x) along dim
// dx = y * (dy - sum_dim(dy * y))
Tensor softmax(const Tensor& x, int dim) {
  kernels::check_input(op::softmax, x);
  dim = normalize_dim("softmax", dim, x.dim());
  Tensor y = softmax_forward(x, dim, false);
  if (should_record(x))
    record(op::softmax, {x}, y, {y}, [dim](BackwardContext& ctx) {
      Tensor y = ctx.saved(0), dy = kernels::cast(ctx.grad(), y.dtype()), dx = empty(y.shape(), {.dtype = y.dtype()});
      dispatch_floating("softmax", y.dtype(), [&]<class T>() {
        const T *py = y.data<T>(), *pdy = dy.data<T>();
        T* pdx = dx.data<T>();
        for_each_line(y.shape(), dim, [&](std::int64_t first, std::int64_t n, std::int64_t stride) {
          T dot = 0;
          for (std::int64_t k = 0; k < n; ++k) dot += pdy[first + k * stride] * py[first + k * stride];
          for (std::int64_t k = 0; k < n; ++k) {
            std::int64_t p = first + k * stride;
            pdx[p] = py[p] * (pdy[p] - dot);
          }
        });
      });
      ctx.accumulate(0, std::move(dx));
    });
  return y;
}

// y = log_softmax(x) along dim
// dx = dy - softmax(x) * sum_dim(dy) = dy - e^y * sum_dim(dy)
Tensor log_softmax(const Tensor& x, int dim) {
  kernels::check_input(op::log_softmax, x);
  dim = normalize_dim("log_softmax", dim, x.dim());
  Tensor y = softmax_forward(x, dim, true);
  if (should_record(x))
    record(op::log_softmax, {x}, y, {y}, [dim](BackwardContext& ctx) {
      Tensor y = ctx.saved(0), dy = kernels::cast(ctx.grad(), y.dtype()), dx = empty(y.shape(), {.dtype = y.dtype()});
      dispatch_floating("log_softmax", y.dtype(), [&]<class T>() {
        const T *py = y.data<T>(), *pdy = dy.data<T>();
        T* pdx = dx.data<T>();
        for_each_line(y.shape(), dim, [&](std::int64_t first, std::int64_t n, std::int64_t stride) {
          T total = 0;
          for (std::int64_t k = 0; k < n; ++k) total += pdy[first + k * stride];
          for (std::int64_t k = 0; k < n; ++k) {
            std::int64_t p = first + k * stride;
            pdx[p] = pdy[p] - std::exp(py[p]) * total;
          }
        });
      });
      ctx.accumulate(0, std::move(dx));
    });
  return y;
}

// loss = -(1/N) sum_n logp[n, t_n]  with logp = log_softmax(logits, 1)
// dlogits[n, k] = dloss (softmax[n, k] - [k = t_n]) / N  = dloss (e^logp[n, k] - onehot) / N
// With float targets shaped like the logits (class probabilities, as PyTorch's soft labels):
//   loss = -(1/N) sum_n sum_k targets[n, k] logp[n, k], made of log_softmax, mul, sum and div.
Tensor cross_entropy(const Tensor& logits, const Tensor& targets) {
  kernels::check_input(op::cross_entropy, logits, "logits");
  kernels::check_defined("cross_entropy", targets, "targets");
  if (targets.is_floating_point() && logits.dim() == 2 && targets.shape() == logits.shape())
    return -(targets * log_softmax(logits, 1)).sum() / static_cast<double>(logits.size(0));
  if (targets.dtype() != kInt64)
    fail<DtypeError>(
        "cross_entropy: targets are {} {}, but class indices must be int64: pass targets.to(tg::kInt64) (or class "
        "probabilities: a float tensor shaped like the logits {})",
        dtype_name(targets.dtype()), targets.shape(), logits.shape());
  check_class_targets(logits, targets);
  const std::int64_t n = logits.size(0), classes = logits.size(1);
  Tensor logp = softmax_forward(logits, 1, true);
  Tensor loss = empty({}, {.dtype = logits.dtype()});
  dispatch_floating("cross_entropy", logits.dtype(), [&]<class T>() {
    const T* pl = logp.data<T>();
    const std::int64_t* t = targets.data<std::int64_t>();
    T total = 0;
    for (std::int64_t i = 0; i < n; ++i) total -= pl[i * classes + t[i]];
    loss.data<T>()[0] = total / static_cast<T>(n);  // N = 0 gives NaN, as torch's mean of nothing
  });
  if (should_record(logits))
    record(op::cross_entropy, {logits, targets}, loss, {logp, targets}, [](BackwardContext& ctx) {
      Tensor logp = ctx.saved(0), targets = ctx.saved(1);
      Tensor dlogits = empty(logp.shape(), {.dtype = logp.dtype()});
      dispatch_floating("cross_entropy", logp.dtype(), [&]<class T>() {
        std::int64_t rows = logp.size(0), cols = logp.size(1);
        auto scale = static_cast<T>(ctx.grad().item<double>() / static_cast<double>(rows));
        kernels::vec<T>(dlogits) = kernels::vec<T>(logp).exp() * scale;
        T* pd = dlogits.data<T>();
        const std::int64_t* t = targets.data<std::int64_t>();
        for (std::int64_t i = 0; i < rows; ++i) pd[i * cols + t[i]] -= scale;
      });
      ctx.accumulate(0, std::move(dlogits));
    });
  return loss;
}

Tensor cross_entropy(const Tensor& logits, std::span<const std::int64_t> targets) {
  return cross_entropy(logits, from_vector(std::vector<std::int64_t>(targets.begin(), targets.end()),
                                           {static_cast<std::int64_t>(targets.size())}));
}

// loss = (1/n) sum_i (a_i - b_i)^2  with a = input, b = target, n elements
// da = dloss * 2 (a - b) / n,  db = -da
Tensor mse_loss(const Tensor& input, const Tensor& target) {
  kernels::check_input(op::mse_loss, input);
  kernels::check_input(op::mse_loss, target, "the target");
  if (!(input.shape() == target.shape()))
    fail<ShapeError>(
        "mse_loss: input {} and target {} must have the same shape (no broadcasting); reshape one of "
        "them",
        input.shape(), target.shape());
  Dtype dtype = kernels::result_type(input, target);
  Tensor diff = kernels::broadcast_binary("mse_loss", input, target, dtype, [](auto a, auto b) { return a - b; });
  Tensor loss = empty({}, {.dtype = dtype});
  double n = static_cast<double>(diff.numel());
  dispatch_floating("mse_loss", dtype,
                    [&]<class T>() { loss.data<T>()[0] = kernels::vec<T>(diff).square().sum() / static_cast<T>(n); });
  if (should_record(input, target))
    record(op::mse_loss, {input, target}, loss, {diff}, [n](BackwardContext& ctx) {
      Tensor dinput = ctx.saved(0) * (2 * ctx.grad().item<double>() / n);
      if (ctx.needs(1)) ctx.accumulate(1, -dinput);
      ctx.accumulate(0, std::move(dinput));
    });
  return loss;
}

}  // namespace tg
