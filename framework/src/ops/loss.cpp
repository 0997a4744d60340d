// softmax, log_softmax, cross_entropy and mse_loss.
//
// softmax and log_softmax work on "lines": the 1-D slices of x along `dim`. With x viewed
// as [outer, n, inner], line (o, i) is the n elements o n inner + k inner + i, k < n.
#include <cmath>
#include <memory>
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
  dispatch(x.dtype(), [&]<class T>() {
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

// Checks that logits is [N, K] and `count` targets come with it.
void check_logits(const Tensor& logits, std::int64_t count) {
  kernels::check_defined("cross_entropy", logits, "logits");
  if (logits.dim() != 2)
    fail<ShapeError>(
        "cross_entropy: logits must be 2-D [N, K] (a batch of class scores), got shape {}; reshape a "
        "single example to [1, K]",
        logits.shape());
  if (count != logits.size(0))
    fail<ShapeError>(
        "cross_entropy: logits {} hold N = {} examples but there are {} targets; give one class index per "
        "example",
        logits.shape(), logits.size(0), count);
}

void check_class(std::int64_t index, double target, std::int64_t classes) {
  if (!(target >= 0 && target < static_cast<double>(classes)))
    fail<ValueError>(
        "cross_entropy: target {} (example {}) is out of range for {} classes; class indices must be in "
        "[0, {})",
        target, index, classes, classes);
}

// loss = -(1/N) sum_n logp[n, t_n]  with logp = log_softmax(logits, 1)
// dlogits[n, k] = dloss (softmax[n, k] - [k = t_n]) / N  = dloss (e^logp[n, k] - onehot) / N
Tensor cross_entropy_indices(const Tensor& logits, std::vector<std::int64_t> targets) {
  std::int64_t n = logits.size(0), classes = logits.size(1);
  Tensor logp = softmax_forward(logits, 1, true);
  Tensor loss = empty({}, {.dtype = logits.dtype()});
  dispatch(logits.dtype(), [&]<class T>() {
    const T* pl = logp.data<T>();
    T total = 0;
    for (std::int64_t i = 0; i < n; ++i) total -= pl[i * classes + targets[static_cast<std::size_t>(i)]];
    loss.data<T>()[0] = total / static_cast<T>(n);  // N = 0 gives NaN, as torch's mean of nothing
  });
  if (should_record(logits)) {
    auto saved = std::make_shared<const std::vector<std::int64_t>>(std::move(targets));
    detail::note_saved(saved.get(), saved->size() * sizeof(std::int64_t));
    record("cross_entropy", {logits}, loss, [logp = save(logp), saved](const Tensor& dloss, Gradients& in) {
      Tensor dlogits = empty(logp.shape(), {.dtype = logp.dtype()});
      dispatch(logp.dtype(), [&]<class T>() {
        std::int64_t rows = logp.size(0), classes = logp.size(1);
        auto scale = static_cast<T>(dloss.item<double>() / static_cast<double>(rows));
        kernels::vec<T>(dlogits) = kernels::vec<T>(logp).exp() * scale;
        T* pd = dlogits.data<T>();
        for (std::int64_t i = 0; i < rows; ++i) pd[i * classes + (*saved)[static_cast<std::size_t>(i)]] -= scale;
      });
      in.accumulate(0, std::move(dlogits));
    });
  }
  return loss;
}

}  // namespace

// y = softmax(x) along dim
// dx = y * (dy - sum_dim(dy * y))
Tensor softmax(const Tensor& x, int dim) {
  kernels::check_defined("softmax", x);
  dim = normalize_dim("softmax", dim, x.dim());
  Tensor y = softmax_forward(x, dim, false);
  if (should_record(x))
    record("softmax", {x}, y, [y = save(y.detach()), dim](const Tensor& dy_in, Gradients& in) {
      Tensor dy = kernels::cast(dy_in, y.dtype()), dx = empty(y.shape(), {.dtype = y.dtype()});
      dispatch(y.dtype(), [&]<class T>() {
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
      in.accumulate(0, std::move(dx));
    });
  return y;
}

// y = log_softmax(x) along dim
// dx = dy - softmax(x) * sum_dim(dy) = dy - e^y * sum_dim(dy)
Tensor log_softmax(const Tensor& x, int dim) {
  kernels::check_defined("log_softmax", x);
  dim = normalize_dim("log_softmax", dim, x.dim());
  Tensor y = softmax_forward(x, dim, true);
  if (should_record(x))
    record("log_softmax", {x}, y, [y = save(y.detach()), dim](const Tensor& dy_in, Gradients& in) {
      Tensor dy = kernels::cast(dy_in, y.dtype()), dx = empty(y.shape(), {.dtype = y.dtype()});
      dispatch(y.dtype(), [&]<class T>() {
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
      in.accumulate(0, std::move(dx));
    });
  return y;
}

Tensor cross_entropy(const Tensor& logits, const Tensor& targets) {
  kernels::check_defined("cross_entropy", logits, "logits");
  kernels::check_defined("cross_entropy", targets, "targets");
  if (targets.dim() != 1)
    fail<ShapeError>("cross_entropy: targets must be 1-D [N] (one class index per example), got shape {}",
                     targets.shape());
  check_logits(logits, targets.size(0));
  if (targets.requires_grad())
    fail<ValueError>(
        "cross_entropy: targets are class indices and have no gradient, but they require grad; pass "
        "targets.detach()");
  std::vector<std::int64_t> indices;
  indices.reserve(static_cast<std::size_t>(targets.numel()));
  std::vector<double> values = targets.tolist();
  for (std::size_t i = 0; i < values.size(); ++i) {
    double v = values[i];
    if (std::isfinite(v) && v != std::floor(v))
      fail<ValueError>("cross_entropy: target {} (example {}) is not a whole number; targets are class indices", v, i);
    check_class(static_cast<std::int64_t>(i), v, logits.size(1));
    indices.push_back(static_cast<std::int64_t>(v));
  }
  return cross_entropy_indices(logits, std::move(indices));
}

Tensor cross_entropy(const Tensor& logits, std::span<const std::int64_t> targets) {
  check_logits(logits, static_cast<std::int64_t>(targets.size()));
  for (std::size_t i = 0; i < targets.size(); ++i)
    check_class(static_cast<std::int64_t>(i), static_cast<double>(targets[i]), logits.size(1));
  return cross_entropy_indices(logits, std::vector<std::int64_t>(targets.begin(), targets.end()));
}

// loss = (1/n) sum_i (a_i - b_i)^2  with a = input, b = target, n elements
// da = dloss * 2 (a - b) / n,  db = -da
Tensor mse_loss(const Tensor& input, const Tensor& target) {
  kernels::check_defined("mse_loss", input);
  kernels::check_defined("mse_loss", target, "the target");
  if (!(input.shape() == target.shape()))
    fail<ShapeError>(
        "mse_loss: input {} and target {} must have the same shape (no broadcasting); reshape one of "
        "them",
        input.shape(), target.shape());
  Dtype dtype = kernels::promote(input, target);
  Tensor diff = kernels::broadcast_binary("mse_loss", input, target, [](auto a, auto b) { return a - b; });
  Tensor loss = empty({}, {.dtype = dtype});
  double n = static_cast<double>(diff.numel());
  dispatch(dtype, [&]<class T>() { loss.data<T>()[0] = kernels::vec<T>(diff).square().sum() / static_cast<T>(n); });
  if (should_record(input, target))
    record("mse_loss", {input, target}, loss, [diff = save(diff), n](const Tensor& dloss, Gradients& in) {
      double scale = 2 * dloss.item<double>() / n;
      Tensor dinput = kernels::map("mse_loss", diff,
                                   [scale](auto v) { return v * static_cast<typename decltype(v)::Scalar>(scale); });
      if (in.needs(1)) in.accumulate(1, kernels::map("mse_loss", dinput, [](auto v) { return -v; }));
      in.accumulate(0, std::move(dinput));
    });
  return loss;
}

}  // namespace tg
