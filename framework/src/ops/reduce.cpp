// Reductions: sum and mean, over all elements or along one dim.
#include "ops/kernels.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace {

// The shape of x reduced along `dim`: size 1 there if keepdim, else the dim removed.
Shape reduced_shape(const Shape& shape, int dim, bool keepdim) {
  if (!keepdim) return shape.without(dim);
  Shape out = shape;
  out[dim] = 1;
  return out;
}

// The dtype of a sum: integers and bools add up as int64, as in PyTorch.
Dtype sum_type(Dtype d) { return is_floating(d) ? d : kInt64; }

// x viewed as [outer, n, inner] and summed over n, the middle dim.
Tensor sum_along(const Tensor& x_in, int dim, bool keepdim) {
  Tensor holder;
  const Tensor& x = kernels::cast(x_in, sum_type(x_in.dtype()), holder);
  Tensor y = zeros(reduced_shape(x.shape(), dim, keepdim), {.dtype = x.dtype()});
  std::int64_t n = x.dim() == 0 ? 1 : x.shape()[dim];
  std::int64_t inner = 1;
  for (int d = dim + 1; d < x.dim(); ++d) inner *= x.shape()[d];
  std::int64_t outer = n * inner == 0 ? 0 : x.numel() / (n * inner);
  dispatch_numeric("sum", x.dtype(), [&]<class T>() {
    for (std::int64_t o = 0; o < outer; ++o)  // [n, inner] -> [1, inner]
      kernels::mat<T>(y, 1, inner, o * inner) = kernels::mat<T>(x, n, inner, o * n * inner).colwise().sum();
  });
  return y;
}

}  // namespace

// y = sum_i x_i
// dx_i = dy
Tensor sum(const Tensor& x_in) {
  kernels::check_input(op::sum, x_in);
  Tensor holder;
  const Tensor& x = kernels::cast(x_in, sum_type(x_in.dtype()), holder);
  Tensor y = empty({}, {.dtype = x.dtype()});
  dispatch_numeric("sum", x.dtype(), [&]<class T>() { y.data<T>()[0] = kernels::vec<T>(x).sum(); });
  if (should_record(x_in))
    record(op::sum, {x_in}, y, {},
           [](BackwardContext& ctx) { ctx.accumulate(0, expand(ctx.grad(), ctx.input_shape(0))); });
  return y;
}

// y[..., 1, ...] = sum_k x[..., k, ...]   (the 1 is removed unless keepdim)
// dx[..., k, ...] = dy[..., 1, ...]        (dy broadcast back along dim)
Tensor sum(const Tensor& x, int dim, bool keepdim) {
  kernels::check_input(op::sum, x);
  dim = normalize_dim("sum", dim, x.dim());
  Tensor y = sum_along(x, dim, keepdim);
  if (should_record(x))
    record(op::sum, {x}, y, {}, [dim](BackwardContext& ctx) {
      const Shape& shape = ctx.input_shape(0);
      ctx.accumulate(0, expand(reshape(ctx.grad(), reduced_shape(shape, dim, true)), shape));
    });
  return y;
}

// y = (1/n) sum_i x_i
// dx_i = dy / n
// Note: an empty x gives 0 / 0 = NaN, as torch.mean does, and is still recorded, so that
// backward() reaches x with its (empty) gradient instead of failing for want of an entry.
Tensor mean(const Tensor& x) {
  kernels::check_input(op::mean, x);
  Tensor y = sum(x.detach()) / static_cast<double>(x.numel());
  if (should_record(x))
    record(op::mean, {x}, y, {}, [](BackwardContext& ctx) {
      const Shape& shape = ctx.input_shape(0);
      ctx.accumulate(0, expand(ctx.grad() / static_cast<double>(shape.numel()), shape));
    });
  return y;
}

// y[..., 1, ...] = (1/n) sum_k x[..., k, ...]
// dx[..., k, ...] = dy[..., 1, ...] / n
Tensor mean(const Tensor& x, int dim, bool keepdim) {
  kernels::check_input(op::mean, x);
  dim = normalize_dim("mean", dim, x.dim());
  double n = static_cast<double>(x.dim() == 0 ? 1 : x.shape()[dim]);
  Tensor y = sum_along(x, dim, keepdim) / n;
  if (should_record(x))
    record(op::mean, {x}, y, {}, [dim, n](BackwardContext& ctx) {
      const Shape& shape = ctx.input_shape(0);
      ctx.accumulate(0, expand(reshape(ctx.grad(), reduced_shape(shape, dim, true)) / n, shape));
    });
  return y;
}

}  // namespace tg
