// SPDX-License-Identifier: MIT
// Joining and cutting: cat, stack, split (and chunk), slice (and narrow, select, index),
// squeeze, unsqueeze and flip. Tensors are contiguous, so cat, stack, split, slice and flip
// copy; squeeze and unsqueeze are views, as reshape is.
//
// Along a dim `d`, a tensor of shape s is a row-major [outer, s[d], inner] block, with outer
// the product of the dims before d and inner of those after: every copy here is a loop over
// outer of contiguous runs of (some of s[d]) * inner elements.
#include <algorithm>
#include <cstring>

#include "block_pool.hpp"
#include "ops/kernels.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace {

// Copies `n` elements of dtype `dtype` from src to dst (both element offsets).
void copy_elements(const Tensor& src, std::int64_t from, Tensor& dst, std::int64_t to, std::int64_t n) {
  if (n <= 0) return;
  const auto size = static_cast<std::int64_t>(itemsize(src.dtype()));
  std::memcpy(static_cast<unsigned char*>(dst.raw_data()) + to * size,
              static_cast<const unsigned char*>(src.raw_data()) + from * size, static_cast<std::size_t>(n * size));
}

// Copies `count` runs of `run` elements: run k from src at from + k src_stride to dst at
// to + k dst_stride. Adjacent runs are copied as one block, long runs by memcpy, and short
// ones (a slice along the last dim) by a typed loop rather than a memcpy call per element.
void copy_runs(const Tensor& src, std::int64_t from, std::int64_t src_stride, Tensor& dst, std::int64_t to,
               std::int64_t dst_stride, std::int64_t count, std::int64_t run) {
  if (count <= 0 || run <= 0) return;
  if (run == src_stride && run == dst_stride) return copy_elements(src, from, dst, to, count * run);
  if (run >= 16) {
    for (std::int64_t k = 0; k < count; ++k) copy_elements(src, from + k * src_stride, dst, to + k * dst_stride, run);
    return;
  }
  auto typed = [&]<class U>() {
    const U* s = static_cast<const U*>(src.raw_data()) + from;
    U* d = static_cast<U*>(dst.raw_data()) + to;
    for (std::int64_t k = 0; k < count; ++k)
      for (std::int64_t j = 0; j < run; ++j) d[k * dst_stride + j] = s[k * src_stride + j];
  };
  switch (itemsize(src.dtype())) {
    case 1:
      return typed.template operator()<std::uint8_t>();
    case 4:
      return typed.template operator()<std::uint32_t>();
    default:
      return typed.template operator()<std::uint64_t>();
  }
}

bool any_requires_grad(std::span<const Tensor> tensors) {
  if (!is_grad_enabled()) return false;
  return std::any_of(tensors.begin(), tensors.end(), [](const Tensor& t) { return t.requires_grad(); });
}

// The checks of a list op (cat, stack): a non-empty list of defined tensors of accepted dtypes.
Dtype check_list(const OpInfo& op, std::span<const Tensor> tensors) {
  if (tensors.empty()) fail<ValueError>("{}: got an empty list of tensors; pass at least one", op.name);
  Dtype dtype = kBool;
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    const std::string what = fmt::format("tensor {} of the list", k);
    kernels::check_input(op, tensors[k], what.c_str());
    dtype = promote_types(dtype, tensors[k].dtype());
  }
  return dtype;
}

// Python's rule for a slice bound: a negative one counts from the end; then clamped to [0, size].
std::int64_t slice_bound(std::optional<std::int64_t> v, std::int64_t fallback, std::int64_t size) {
  if (!v) return fallback;
  const std::int64_t b = *v < 0 ? *v + size : *v;
  return std::clamp<std::int64_t>(b, 0, size);
}

// x with its dims in `mask` (bit d: dim d) reversed.
Tensor flip_mask(const Tensor& x, std::uint32_t mask);

// A dim for a new axis of a tensor of rank r: in [-(r + 1), r], where -1 puts it last.
int new_dim(const char* op, int dim, int r) {
  if (dim < -(r + 1) || dim > r)
    fail<ValueError>("{}: dim {} is out of range for the new dim of a tensor of rank {}; use a dim in [{}, {}]", op,
                     dim, r, -(r + 1), r);
  return dim < 0 ? dim + r + 1 : dim;
}

// What slice's backward keeps: 24 bytes, inline in the backward function.
struct SliceSpec {
  std::int64_t begin, step;
  int dim;
};

}  // namespace

// ---- cat and stack ----

// y = the tensors joined along dim (all other dims equal), in their promoted dtype
// dx_k = slice(dy, dim, offset_k, offset_k + size_k)
// jvp: y' = cat(x_k'), zeros for an x_k without a tangent
Tensor cat(std::span<const Tensor> tensors, int dim) {
  const Dtype dtype = check_list(op::cat, tensors);
  const Shape& first = tensors[0].shape();
  if (first.rank() == 0)
    fail<ShapeError>(
        "cat: tensor 0 is 0-d (a single number) and has no dim to join along; reshape it to [1], or "
        "use stack");
  dim = normalize_dim("cat", dim, first.rank());
  Shape shape = first;
  std::int64_t total = 0;
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    const Shape& s = tensors[k].shape();
    bool fits = s.rank() == first.rank();
    for (int d = 0; fits && d < s.rank(); ++d) fits = d == dim || s[d] == first[d];
    if (!fits)
      fail<ShapeError>(
          "cat: tensor {} has shape {} and tensor 0 has {}; along dim {} they are joined, every other "
          "dim must be equal",
          k, s, first, dim);
    total += s[dim];
  }
  shape[dim] = total;
  Tensor y = empty(shape, {.dtype = dtype});
  const kernels::Around a = kernels::around(shape, dim);
  std::vector<std::int64_t> sizes(tensors.size());
  std::int64_t offset = 0;
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    Tensor holder;
    const Tensor& t = kernels::cast(tensors[k], dtype, holder);
    sizes[k] = t.shape()[dim];
    const std::int64_t run = sizes[k] * a.inner;
    for (std::int64_t o = 0; o < a.outer; ++o) copy_elements(t, o * run, y, (o * total + offset) * a.inner, run);
    offset += sizes[k];
  }
  if (any_requires_grad(tensors))
    record(op::cat, tensors, y, {}, [dim, sizes = std::move(sizes)](BackwardContext& ctx) {
      std::int64_t begin = 0;
      for (std::size_t k = 0; k < sizes.size(); ++k) {
        if (ctx.needs(k)) ctx.accumulate(k, slice(ctx.grad(), dim, begin, begin + sizes[k]));
        begin += sizes[k];
      }
    });
  if (has_tangent(tensors))
    record_jvp(op::cat, y, [&] {
      std::vector<Tensor> t(tensors.size());
      for (std::size_t k = 0; k < tensors.size(); ++k) t[k] = tangent_or_zeros(tensors[k]);
      return cat(t, dim);
    });
  return y;
}

Tensor cat(std::initializer_list<Tensor> tensors, int dim) {
  return cat(std::span<const Tensor>(tensors.begin(), tensors.size()), dim);
}

// y = the tensors (all of one shape) stacked along a new dim, in their promoted dtype
// dx_k = select(dy, dim, k)
// jvp: y' = stack(x_k'), zeros for an x_k without a tangent
Tensor stack(std::span<const Tensor> tensors, int dim) {
  const Dtype dtype = check_list(op::stack, tensors);
  const Shape& first = tensors[0].shape();
  for (std::size_t k = 1; k < tensors.size(); ++k)
    if (!(tensors[k].shape() == first))
      fail<ShapeError>(
          "stack: tensor {} has shape {} and tensor 0 has {}; stack needs tensors of one shape (cat "
          "joins along an existing dim)",
          k, tensors[k].shape(), first);
  dim = new_dim("stack", dim, first.rank());
  Shape shape;
  for (int d = 0; d <= first.rank(); ++d) shape.push_back(d < dim ? first[d] : d == dim ? 0 : first[d - 1]);
  const auto n = static_cast<std::int64_t>(tensors.size());
  shape[dim] = n;
  Tensor y = empty(shape, {.dtype = dtype});
  const kernels::Around a = kernels::around(shape, dim);  // inner: the elements of one tensor after dim
  for (std::int64_t k = 0; k < n; ++k) {
    Tensor holder;
    const Tensor& t = kernels::cast(tensors[static_cast<std::size_t>(k)], dtype, holder);
    for (std::int64_t o = 0; o < a.outer; ++o) copy_elements(t, o * a.inner, y, (o * n + k) * a.inner, a.inner);
  }
  if (any_requires_grad(tensors))
    record(op::stack, tensors, y, {}, [dim, n](BackwardContext& ctx) {
      for (std::int64_t k = 0; k < n; ++k)
        if (ctx.needs(static_cast<std::size_t>(k)))
          ctx.accumulate(static_cast<std::size_t>(k), select(ctx.grad(), dim, k));
    });
  if (has_tangent(tensors))
    record_jvp(op::stack, y, [&] {
      std::vector<Tensor> t(tensors.size());
      for (std::size_t k = 0; k < tensors.size(); ++k) t[k] = tangent_or_zeros(tensors[k]);
      return stack(t, dim);
    });
  return y;
}

Tensor stack(std::initializer_list<Tensor> tensors, int dim) {
  return stack(std::span<const Tensor>(tensors.begin(), tensors.size()), dim);
}

// ---- split and chunk ----

// y_k = slice(x, dim, offset_k, offset_k + sizes_k), one entry with several outputs
// dx = cat(dy_k, dim), zeros for an output that got no gradient
// jvp: y_k' = split(x', sizes, dim)_k
std::vector<Tensor> split(const Tensor& x, std::span<const std::int64_t> sizes, int dim) {
  kernels::check_input(op::split, x);
  if (x.dim() == 0) fail<ShapeError>("split: the input is 0-d (a single number) and has no dim to split");
  dim = normalize_dim("split", dim, x.dim());
  if (sizes.empty()) fail<ValueError>("split: got no sizes; pass the size of each part along dim {}", dim);
  std::int64_t total = 0;
  for (std::int64_t s : sizes) {
    if (s < 0)
      fail<ValueError>("split: the sizes [{}] include a negative one; sizes must be >= 0", fmt::join(sizes, ", "));
    total += s;
  }
  if (total != x.shape()[dim])
    fail<ShapeError>("split: the sizes [{}] add up to {}, but dim {} of {} has size {}; they must add up to it",
                     fmt::join(sizes, ", "), total, dim, x.shape(), x.shape()[dim]);
  const kernels::Around a = kernels::around(x.shape(), dim);
  std::vector<Tensor> parts;
  parts.reserve(sizes.size());
  std::int64_t offset = 0;
  for (std::int64_t s : sizes) {
    Shape shape = x.shape();
    shape[dim] = s;
    Tensor part = empty(shape, {.dtype = x.dtype()});
    for (std::int64_t o = 0; o < a.outer; ++o)
      copy_elements(x, (o * total + offset) * a.inner, part, o * s * a.inner, s * a.inner);
    offset += s;
    parts.push_back(std::move(part));
  }
  if (should_record(x))
    record(op::split, {x}, std::span<Tensor>(parts), {},
           [dim, sizes = std::vector<std::int64_t>(sizes.begin(), sizes.end())](BackwardContext& ctx) {
             Dtype dtype = kFloat32;
             for (std::size_t k = 0; k < sizes.size(); ++k)
               if (ctx.grad(k).defined()) dtype = ctx.grad(k).dtype();
             std::vector<Tensor> grads;
             for (std::size_t k = 0; k < sizes.size(); ++k) {
               if (ctx.grad(k).defined()) {
                 grads.push_back(ctx.grad(k));
                 continue;
               }
               Shape shape = ctx.input_shape(0);
               shape[dim] = sizes[k];
               grads.push_back(zeros(shape, {.dtype = dtype}));
             }
             ctx.accumulate(0, cat(grads, dim));
           });
  if (has_tangent(x))
    record_jvp(op::split, std::span<const Tensor>(parts), [&] { return split(tangent(x), sizes, dim); });
  return parts;
}

std::vector<Tensor> split(const Tensor& x, std::initializer_list<std::int64_t> sizes, int dim) {
  return split(x, std::span<const std::int64_t>(sizes.begin(), sizes.size()), dim);
}

// Parts of split_size along dim, the last one smaller if the size does not divide (as PyTorch).
std::vector<Tensor> split(const Tensor& x, std::int64_t split_size, int dim) {
  kernels::check_defined("split", x);
  if (x.dim() == 0) fail<ShapeError>("split: the input is 0-d (a single number) and has no dim to split");
  dim = normalize_dim("split", dim, x.dim());
  const std::int64_t n = x.shape()[dim];
  if (split_size <= 0 && !(split_size == 0 && n == 0))
    fail<ValueError>("split: split_size must be >= 1, got {}; it is the size of each part along dim {}", split_size,
                     dim);
  std::vector<std::int64_t> sizes;
  for (std::int64_t begin = 0; begin < n; begin += split_size) sizes.push_back(std::min(split_size, n - begin));
  if (sizes.empty()) sizes.push_back(0);
  return split(x, std::span<const std::int64_t>(sizes), dim);
}

// `chunks` parts of equal size along dim, the last one smaller, fewer when the size does not
// allow that many (as PyTorch: a dim of 5 in 4 chunks gives sizes 2, 2, 1).
std::vector<Tensor> chunk(const Tensor& x, std::int64_t chunks, int dim) {
  kernels::check_defined("chunk", x);
  if (chunks <= 0) fail<ValueError>("chunk: chunks must be >= 1, got {}", chunks);
  if (x.dim() == 0) fail<ShapeError>("chunk: the input is 0-d (a single number) and has no dim to split");
  const std::int64_t n = x.shape()[normalize_dim("chunk", dim, x.dim())];
  return split(x, std::max<std::int64_t>(1, (n + chunks - 1) / chunks), dim);
}

// ---- slices ----

// y = x[..., start:stop:step, ...] along dim, by Python's rules (a negative bound counts from
// the end; bounds are clamped); step >= 1
// dx = slice_backward(dy, x.shape, dim, start, step): dy written into zeros
// jvp: y' = slice(x', dim, start, stop, step)
Tensor slice(const Tensor& x, int dim, std::optional<std::int64_t> start, std::optional<std::int64_t> stop,
             std::int64_t step) {
  kernels::check_input(op::slice, x);
  if (x.dim() == 0) fail<ShapeError>("slice: the input is 0-d (a single number) and has no dim to slice");
  dim = normalize_dim("slice", dim, x.dim());
  if (step <= 0)
    fail<ValueError>("slice: step must be >= 1, got {} (as in PyTorch); for a reversed order use flip", step);
  const std::int64_t size = x.shape()[dim];
  const std::int64_t begin = slice_bound(start, 0, size), end = std::max(begin, slice_bound(stop, size, size));
  const std::int64_t count = (end - begin + step - 1) / step;
  if (begin == 0 && count == size && step == 1) return x;  // the whole dim: x itself, as reshape does
  Shape shape = x.shape();
  shape[dim] = count;
  Tensor y = empty(shape, {.dtype = x.dtype()});
  const kernels::Around a = kernels::around(x.shape(), dim);
  for (std::int64_t o = 0; o < a.outer; ++o)
    copy_runs(x, (o * size + begin) * a.inner, step * a.inner, y, o * count * a.inner, a.inner, count, a.inner);
  if (should_record(x))
    record(op::slice, {x}, y, {}, [spec = SliceSpec{begin, step, dim}](BackwardContext& ctx) {
      ctx.accumulate(0, slice_backward(ctx.grad(), ctx.input_shape(0), spec.dim, spec.begin, spec.step));
    });
  if (has_tangent(x)) record_jvp(op::slice, y, [&] { return slice(tangent(x), dim, begin, end, step); });
  return y;
}

// y = zeros of `shape`, with y[..., start + i step, ...] = grad[..., i, ...] along dim
// dgrad = slice(dy, dim, start, start + count step, step)
// jvp: y' = slice_backward(grad', shape, dim, start, step)
Tensor slice_backward(const Tensor& grad, const Shape& shape, int dim, std::int64_t start, std::int64_t step) {
  kernels::check_input(op::slice_backward, grad);
  if (shape.rank() == 0 || grad.dim() != shape.rank())
    fail<ShapeError>("slice_backward: the gradient {} and the input shape {} must have one rank, at least 1",
                     grad.shape(), shape);
  dim = normalize_dim("slice_backward", dim, shape.rank());
  const std::int64_t size = shape[dim], count = grad.shape()[dim];
  bool fits = step >= 1 && start >= 0 && (count == 0 || start + (count - 1) * step < size);
  for (int d = 0; fits && d < shape.rank(); ++d) fits = d == dim || grad.shape()[d] == shape[d];
  if (!fits)
    fail<ShapeError>(
        "slice_backward: a gradient {} cannot come from slicing {} along dim {} from {} with step {}; "
        "pass the slice's own input shape, start and step",
        grad.shape(), shape, dim, start, step);
  Tensor y = zeros(shape, {.dtype = grad.dtype()});
  const kernels::Around a = kernels::around(shape, dim);
  for (std::int64_t o = 0; o < a.outer; ++o)
    copy_runs(grad, o * count * a.inner, a.inner, y, (o * size + start) * a.inner, step * a.inner, count, a.inner);
  if (should_record(grad))
    record(op::slice_backward, {grad}, y, {}, [spec = SliceSpec{start, step, dim}](BackwardContext& ctx) {
      const std::int64_t n = ctx.input_shape(0)[spec.dim];
      ctx.accumulate(0, slice(ctx.grad(), spec.dim, spec.begin, spec.begin + n * spec.step, spec.step));
    });
  if (has_tangent(grad))
    record_jvp(op::slice_backward, y, [&] { return slice_backward(tangent(grad), shape, dim, start, step); });
  return y;
}

// x[..., start : start + length, ...]: a slice (as in PyTorch, whose narrow records one)
Tensor narrow(const Tensor& x, int dim, std::int64_t start, std::int64_t length) {
  kernels::check_defined("narrow", x);
  if (x.dim() == 0) fail<ShapeError>("narrow: the input is 0-d (a single number) and has no dim to narrow");
  dim = normalize_dim("narrow", dim, x.dim());
  const std::int64_t size = x.shape()[dim];
  if (start < -size || start > size)
    fail<ValueError>("narrow: start {} is outside dim {} of {} (size {}); use a start in [{}, {}]", start, dim,
                     x.shape(), size, -size, size);
  if (start < 0) start += size;
  if (length < 0 || start + length > size)
    fail<ValueError>("narrow: start {} and length {} run past dim {} of {} (size {}); use a length in [0, {}]", start,
                     length, dim, x.shape(), size, size - start);
  return slice(x, dim, start, start + length);
}

// x[..., index, ...]: dim removed (a slice of one, then squeeze)
Tensor select(const Tensor& x, int dim, std::int64_t index) {
  kernels::check_defined("select", x);
  if (x.dim() == 0) fail<ShapeError>("select: the input is 0-d (a single number) and has no dim to index");
  dim = normalize_dim("select", dim, x.dim());
  const std::int64_t size = x.shape()[dim];
  if (index < -size || index >= size)
    fail<ValueError>("select: index {} is out of range for dim {} of {} (size {}); use an index in [{}, {}]", index,
                     dim, x.shape(), size, -size, size - 1);
  if (index < 0) index += size;
  return squeeze(slice(x, dim, index, index + 1), dim);
}

// ---- squeeze and unsqueeze: views ----

namespace {

// y = x viewed with `shape` (same elements), recorded as `op`
// dx = reshape(dy, x.shape)
// jvp: y' = x' viewed with `shape` (the op applied to x')
Tensor view_as(const OpInfo& op, const Tensor& x, const Shape& shape) {
  if (shape == x.shape()) return x;
  Tensor y(detail::make_impl(shape, x.dtype(), x.impl().storage));
  if (should_record(x))
    record(op, {x}, y, {}, [](BackwardContext& ctx) { ctx.accumulate(0, reshape(ctx.grad(), ctx.input_shape(0))); });
  if (has_tangent(x)) record_jvp(op, y, [&] { return view_as(op, tangent(x), shape); });
  return y;
}

}  // namespace

// x without its dims of size 1
// jvp: y' = squeeze(x')
Tensor squeeze(const Tensor& x) {
  kernels::check_input(op::squeeze, x);
  Shape shape;
  for (std::int64_t s : x.shape())
    if (s != 1) shape.push_back(s);
  return view_as(op::squeeze, x, shape);
}

// x without dim `dim` if its size is 1; x itself otherwise (as PyTorch)
// jvp: y' = squeeze(x', dim)
Tensor squeeze(const Tensor& x, int dim) {
  kernels::check_input(op::squeeze, x);
  if (x.dim() == 0) return x;
  dim = normalize_dim("squeeze", dim, x.dim());
  if (x.shape()[dim] != 1) return x;
  Shape shape;
  for (int d = 0; d < x.dim(); ++d)
    if (d != dim) shape.push_back(x.shape()[d]);
  return view_as(op::squeeze, x, shape);
}

// x with a new dim of size 1 at `dim`, in [-(rank + 1), rank]
// jvp: y' = unsqueeze(x', dim)
Tensor unsqueeze(const Tensor& x, int dim) {
  kernels::check_input(op::unsqueeze, x);
  if (x.dim() >= Shape::kMaxRank)
    fail<ShapeError>("unsqueeze: {} has {} dims already, the most a tensor has", x.shape(), x.dim());
  dim = new_dim("unsqueeze", dim, x.dim());
  Shape shape;
  for (int d = 0; d <= x.dim(); ++d) shape.push_back(d < dim ? x.shape()[d] : d == dim ? 1 : x.shape()[d - 1]);
  return view_as(op::unsqueeze, x, shape);
}

// ---- flip ----

namespace {

// y = x with the dims in mask (bit d: dim d) reversed
// dx = flip(dy, the same dims)
// jvp: y' = flip(x', the same dims)
Tensor flip_mask(const Tensor& x, std::uint32_t mask) {
  const Shape& shape = x.shape();
  Tensor y = empty(shape, {.dtype = x.dtype()});
  const std::int64_t n = x.numel();
  const int r = x.dim();
  if (n > 0) {
    // Walk y in order; read x with the flipped dims' strides negated, from their last element.
    auto strides = shape.strides();
    std::array<std::int64_t, Shape::kMaxRank> read{};
    std::int64_t start = 0;
    for (int d = 0; d < r; ++d) {
      const auto du = static_cast<std::size_t>(d);
      const bool flipped = (mask >> d) & 1;
      read[du] = flipped ? -strides[du] : strides[du];
      if (flipped) start += (shape[d] - 1) * strides[du];
    }
    dispatch(x.dtype(), [&]<class T>() {
      const T* px = x.data<T>();
      T* py = y.data<T>();
      std::array<std::int64_t, Shape::kMaxRank> index{};
      std::int64_t from = start;
      for (std::int64_t i = 0; i < n; ++i) {
        py[i] = px[from];
        for (int d = r - 1; d >= 0; --d) {
          const auto du = static_cast<std::size_t>(d);
          from += read[du];
          if (++index[du] < shape[d]) break;
          from -= read[du] * shape[d];
          index[du] = 0;
        }
      }
    });
  }
  if (should_record(x))
    record(op::flip, {x}, y, {}, [mask](BackwardContext& ctx) { ctx.accumulate(0, flip_mask(ctx.grad(), mask)); });
  if (has_tangent(x)) record_jvp(op::flip, y, [&] { return flip_mask(tangent(x), mask); });
  return y;
}

}  // namespace

// y[..., i, ...] = x[..., size - 1 - i, ...] along each of dims
// dx = flip(dy, dims)
// jvp: y' = flip(x', dims)
Tensor flip(const Tensor& x, std::initializer_list<int> dims) {
  kernels::check_input(op::flip, x);
  std::uint32_t mask = 0;
  for (int d : dims) {
    const int n = normalize_dim("flip", d, std::max(x.dim(), 1));
    if ((mask >> n) & 1)
      fail<ValueError>("flip: dim {} appears twice in [{}]; give each dim once", n, fmt::join(dims, ", "));
    mask |= std::uint32_t{1} << n;
  }
  if (x.dim() == 0) mask = 0;
  return flip_mask(x, mask);
}

// ---- indexing with slices, as x[1:5:2, 2:7] ----

Tensor Tensor::index(std::initializer_list<Slice> index) const {
  kernels::check_defined("index", *this);
  if (static_cast<int>(index.size()) > dim())
    fail<ShapeError>("index: {} slices for a tensor of shape {} ({} dims); give at most one slice per dim",
                     index.size(), shape(), dim());
  Tensor y = *this;
  int d = 0;
  for (const Slice& s : index) {
    if (s.start || s.stop || s.step != 1) y = slice(y, d, s.start, s.stop, s.step);
    ++d;
  }
  return y;
}

}  // namespace tg
