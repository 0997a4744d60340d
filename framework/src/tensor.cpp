// SPDX-License-Identifier: MIT
#include "tapegrad/tensor.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "autograd_detail.hpp"
#include "block_pool.hpp"
#include "ops/kernels.hpp"
#include "tapegrad/error.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace {

// The shape of a nested list, read along its first elements.
Shape nested_shape(const NestedList& list) {
  Shape shape;
  const NestedList* node = &list;
  while (!node->is_scalar()) {
    shape.push_back(static_cast<std::int64_t>(node->items().size()));
    if (node->items().size() == 0) break;
    node = node->items().begin();
  }
  return shape;
}

// Appends the numbers of `node` (at dim `depth`) to `out`, checking it has `shape`.
void flatten(const NestedList& node, int depth, const Shape& shape, std::vector<Scalar>& out) {
  if (depth == shape.rank()) {
    if (!node.is_scalar())
      fail<ShapeError>("Tensor: nested list is ragged: a list appears at depth {} where numbers were expected", depth);
    out.push_back(node.value());
    return;
  }
  if (node.is_scalar() || static_cast<std::int64_t>(node.items().size()) != shape[depth])
    fail<ShapeError>("Tensor: nested list is ragged: dim {} has lengths {} and {}; every row needs the same length",
                     depth, shape[depth],
                     node.is_scalar() ? std::string("a number") : std::to_string(node.items().size()));
  for (const NestedList& item : node.items()) flatten(item, depth + 1, shape, out);
}

// The numbers of a nested list and its shape; `dtype` is what torch.tensor would infer.
struct Flat {
  std::vector<Scalar> values;
  Shape shape;
  Dtype inferred = kFloat32;
};

Flat flatten(std::initializer_list<NestedList> values) {
  NestedList root(values);
  Flat f;
  f.shape = nested_shape(root);
  flatten(root, 0, f.shape, f.values);
  if (!f.values.empty()) {
    Dtype d = kBool;
    for (const Scalar& v : f.values) d = promote_types(d, v.dtype());
    f.inferred = d;
  }
  return f;
}

// A factory asked for an int64 or bool tensor that requires grad: refused, naming the factory,
// before anything is allocated.
void check_factory_grad(const char* op, TensorOptions options) {
  if (options.requires_grad && !is_floating(options.dtype))
    fail<DtypeError>(
        "{}: only floating-point tensors can require grad, and this one would be {}; gradients of indices, labels "
        "and masks do not exist. Leave requires_grad off, or make it floating (.dtype = tg::kFloat32, or "
        ".to(tg::kFloat32) afterwards)",
        op, dtype_name(options.dtype));
}

Tensor from_nested(const Flat& f, TensorOptions options) {
  check_factory_grad("tensor", options);
  Tensor t = empty(f.shape, {.dtype = options.dtype});
  dispatch(options.dtype, [&]<class T>() {
    T* p = t.data<T>();
    for (std::size_t i = 0; i < f.values.size(); ++i) p[i] = f.values[i].to<T>();
  });
  return options.requires_grad ? t.requires_grad_() : t;
}

// Refuses an in-place source that does not broadcast to the destination, naming the op
// (expand, which does the broadcasting, would name itself).
void check_broadcasts_to(const char* op, const Tensor& src, const Tensor& dst) {
  if (!src.defined()) fail<ValueError>("{}: the source tensor is undefined (default-constructed); pass a tensor", op);
  if (!(broadcast_shapes(op, src.shape(), dst.shape()) == dst.shape()))
    fail<ShapeError>(
        "{}: the source of shape {} does not broadcast to the destination's shape {}; only its dims of size 1 can be "
        "stretched (reshape it)",
        op, src.shape(), dst.shape());
}

// Offset of a multi-index in a row-major tensor, with bounds checks.
std::int64_t offset_of(const Tensor& t, std::initializer_list<std::int64_t> index) {
  if (static_cast<int>(index.size()) != t.dim())
    fail<ValueError>("at: {} indices given for a tensor of shape {}; give one index per dim", index.size(), t.shape());
  auto strides = t.shape().strides();
  std::int64_t offset = 0;
  int d = 0;
  for (std::int64_t i : index) {
    std::int64_t n = t.shape()[d];
    if (i < -n || i >= n)
      fail<ValueError>("at: index {} is out of bounds for dim {} with size {} (shape {}); use an index in [{}, {})", i,
                       d, n, t.shape(), -n, n);
    offset += (i < 0 ? i + n : i) * strides[static_cast<std::size_t>(d)];
    ++d;
  }
  return offset;
}

}  // namespace

TensorImpl::~TensorImpl() {
  if (history != 0) detail::note_dead_output(tape);
}

TensorImpl* TensorImpl::make(const Shape& shape, Dtype dtype, StoragePtr storage) {
  return ::new (detail::take_block(sizeof(TensorImpl))) TensorImpl(shape, dtype, std::move(storage));
}

void TensorImpl::destroy(TensorImpl* p) noexcept {
  p->~TensorImpl();
  detail::give_block(p, sizeof(TensorImpl));
}

void TensorImpl::expire() noexcept {
  if (history != 0) detail::note_dead_output(tape);
  history = 0;
  storage = StoragePtr();
  meta.reset();
  if (detail::count_down(weak)) destroy(this);
}

Tensor::Tensor(std::initializer_list<NestedList> values) : Tensor(from_nested(flatten(values), {})) {}

Tensor tensor(std::initializer_list<NestedList> values) {
  Flat f = flatten(values);
  return from_nested(f, {.dtype = f.inferred});
}

Tensor tensor(std::initializer_list<NestedList> values, TensorOptions options) {
  return from_nested(flatten(values), options);
}

namespace detail {

void check_unrecorded_write(const char* op, const Tensor& t) {
  if (is_grad_enabled() && t.requires_grad())
    fail<AutogradError>(
        "{}: in-place write to a tensor {} that requires grad while grad mode is on; {} is not recorded, so backward "
        "would not know of it. Initialisation and other updates outside the model go inside a tg::NoGradGuard "
        "scope; in the model, compute a new tensor",
        op, t.shape(), op);
  t.bump_version();
}

}  // namespace detail

void Tensor::throw_undefined() {
  fail<ValueError>("Tensor: this tensor is undefined (default-constructed); assign a tensor to it first");
}

std::int64_t Tensor::size(int d) const { return shape()[normalize_dim("size", d, dim())]; }

const std::string& Tensor::name() const {
  static const std::string none;
  return impl().meta ? impl().meta->name : none;
}

Tensor& Tensor::set_name(std::string name) {
  impl().autograd_meta().name = std::move(name);
  return *this;
}

void Tensor::throw_wrong_dtype(Dtype requested) const {
  auto cpp = [](Dtype d) {
    switch (d) {
      case kFloat32:
        return "float";
      case kFloat64:
        return "double";
      case kInt64:
        return "std::int64_t";
      case kBool:
        return "bool";
    }
    return "?";
  };
  fail<DtypeError>("data: the tensor holds {} but {} was requested; use data<{}>() or convert with to()",
                   dtype_name(dtype()), dtype_name(requested), cpp(dtype()));
}

const Tensor& Tensor::bump_version() const {
  impl().storage->bump_version();
  return *this;
}

template <class T>
T Tensor::item() const {
  if (numel() != 1)
    fail<ValueError>(
        "item: only a one-element tensor can be converted to a number, this one has shape {}; "
        "index it with at() or reduce it with sum()",
        shape());
  return dispatch(dtype(), [&]<class S>() { return static_cast<T>(data<S>()[0]); });
}
template float Tensor::item<float>() const;
template double Tensor::item<double>() const;
template std::int64_t Tensor::item<std::int64_t>() const;
template bool Tensor::item<bool>() const;

template <class T>
ElementRef<T> Tensor::at(std::initializer_list<std::int64_t> index) {
  return {*this, data<T>() + offset_of(*this, index)};
}
template <class T>
T Tensor::at(std::initializer_list<std::int64_t> index) const {
  return data<T>()[offset_of(*this, index)];
}
template ElementRef<float> Tensor::at<float>(std::initializer_list<std::int64_t>);
template ElementRef<double> Tensor::at<double>(std::initializer_list<std::int64_t>);
template ElementRef<std::int64_t> Tensor::at<std::int64_t>(std::initializer_list<std::int64_t>);
template ElementRef<bool> Tensor::at<bool>(std::initializer_list<std::int64_t>);
template float Tensor::at<float>(std::initializer_list<std::int64_t>) const;
template double Tensor::at<double>(std::initializer_list<std::int64_t>) const;
template std::int64_t Tensor::at<std::int64_t>(std::initializer_list<std::int64_t>) const;
template bool Tensor::at<bool>(std::initializer_list<std::int64_t>) const;

std::vector<double> Tensor::tolist() const {
  return dispatch(dtype(), [&]<class T>() {
    const T* p = data<T>();
    return std::vector<double>(p, p + numel());
  });
}

// ---- autograd ----

Tensor& Tensor::requires_grad_(bool requires_grad) {
  TensorImpl& t = impl();
  if (!is_leaf() && !requires_grad) {
    const OpInfo* by = op_by_index(t.op);
    fail<AutogradError>(
        "requires_grad_: a tensor computed by {} cannot stop requiring grad; use detach() to get "
        "a copy without history",
        by ? by->name : "an op");
  }
  if (requires_grad && !is_floating(t.dtype))
    fail<DtypeError>(
        "requires_grad_: only floating-point tensors can require grad, and this one is {} {}; gradients of "
        "indices, labels and masks do not exist. Convert it first with .to(tg::kFloat32)",
        dtype_name(t.dtype), t.shape);
  t.requires_grad = requires_grad;
  return *this;
}

Tensor Tensor::grad() const { return impl().meta ? impl().meta->grad : Tensor(); }

void Tensor::set_grad(const Tensor& grad) {
  if (grad.defined() && !(grad.shape() == shape()))
    fail<ShapeError>("set_grad: gradient shape {} does not match tensor shape {}; pass a gradient of shape {}",
                     grad.shape(), shape(), shape());
  if (!grad.defined() && !impl().meta) return;
  impl().autograd_meta().grad = grad;
}

void Tensor::retain_grad() {
  if (!requires_grad())
    fail<AutogradError>(
        "retain_grad: the tensor {} does not require grad, so it never gets one; compute it from a tensor that "
        "requires grad (requires_grad_())",
        shape());
  if (is_leaf()) return;  // a leaf keeps its gradient anyway
  impl().autograd_meta().retains_grad = true;
  Tape::current().watch(impl());
}

bool Tensor::retains_grad() const { return impl().meta && impl().meta->retains_grad; }

void Tensor::backward(const Tensor& seed, bool retain_graph) const {
  Tape::current().backward(*this, seed, retain_graph);
}

void Tensor::backward(const BackwardOptions& options) const { backward(Tensor(), options); }

void Tensor::backward(const Tensor& seed, const BackwardOptions& options) const {
  Tape::current().backward(std::span<const Tensor>(this, 1), std::span<const Tensor>(&seed, 1),
                           options.retain_graph.value_or(options.create_graph), options.create_graph);
}

int Tensor::register_hook(std::function<Tensor(const Tensor&)> hook) {
  TensorImpl& t = impl();
  if (!t.requires_grad)
    fail<AutogradError>(
        "register_hook: the tensor {} does not require grad, so backward() never computes its gradient; call "
        "requires_grad_() first (or register the hook on a tensor computed from one that does)",
        t.shape);
  if (!hook) fail<ValueError>("register_hook: the hook is empty; pass a function Tensor(const Tensor& grad)");
  if (t.history != 0 && t.tape != Tape::current().id()) detail::fail_other_tape("register_hook", "the tensor", t);
  AutogradMeta& meta = t.autograd_meta();
  int handle = meta.next_hook++;
  meta.hooks.emplace_back(handle, std::move(hook));
  detail::live_hooks.fetch_add(1, std::memory_order_relaxed);
  Tape::current().watch(t);
  return handle;
}

int Tensor::register_post_accumulate_grad_hook(std::function<void(Tensor&)> hook) {
  TensorImpl& t = impl();
  if (!is_leaf() || !t.requires_grad)
    fail<AutogradError>(
        "register_post_accumulate_grad_hook: the tensor {} is {}; this hook runs when a leaf's .grad is complete, "
        "so register it on a leaf that requires grad (a parameter)",
        t.shape, is_leaf() ? "a leaf that does not require grad" : "not a leaf");
  if (!hook)
    fail<ValueError>("register_post_accumulate_grad_hook: the hook is empty; pass a function void(tg::Tensor& leaf)");
  AutogradMeta& meta = t.autograd_meta();
  int handle = meta.next_hook++;
  meta.post_accumulate_hooks.emplace_back(handle, std::move(hook));
  detail::live_hooks.fetch_add(1, std::memory_order_relaxed);
  return handle;
}

void Tensor::remove_hook(int handle) {
  TensorImpl& t = impl();
  auto drop = [&](auto& hooks) {
    auto it = std::find_if(hooks.begin(), hooks.end(), [&](const auto& h) { return h.first == handle; });
    if (it == hooks.end()) return false;
    hooks.erase(it);
    detail::live_hooks.fetch_sub(1, std::memory_order_relaxed);
    return true;
  };
  if (!t.meta || (!drop(t.meta->hooks) && !drop(t.meta->post_accumulate_hooks)))
    fail<ValueError>(
        "remove_hook: this tensor has no hook with handle {} (it has {}); use the value register_hook "
        "returned, once",
        handle, t.meta ? t.meta->hooks.size() + t.meta->post_accumulate_hooks.size() : 0);
}

void zero_grad(std::span<Tensor> tensors, bool set_to_none) {
  for (Tensor& t : tensors) {
    if (set_to_none || !t.grad().defined())
      t.set_grad(Tensor());
    else
      t.grad().zero_();
  }
}

Tensor Tensor::detach() const { return Tensor(detail::make_impl(shape(), dtype(), impl().storage)); }

// y = x (a copy)
// dx = dy;  jvp: y' = x'
Tensor Tensor::clone() const {
  kernels::check_defined("clone", *this);
  Tensor y = empty(shape(), {.dtype = dtype()});
  std::memcpy(y.raw_data(), raw_data(), static_cast<std::size_t>(numel()) * itemsize(dtype()));
  if (should_record(*this))
    record(op::clone, {*this}, y, {}, [](BackwardContext& ctx) { ctx.accumulate(0, ctx.grad()); });
  if (has_tangent(*this)) record_jvp(op::clone, y, [&] { return tangent(*this); });
  return y;
}

// y = x converted to another dtype
// dx = dy converted back (done by BackwardContext::accumulate)
// jvp: y' = x' converted to the dtype (a floating one; an integer or bool result has no tangent)
// Note: only a floating result is recorded; an integer or bool one has no gradient, as in PyTorch.
Tensor Tensor::to(Dtype target) const {
  kernels::check_defined("to", *this);
  if (dtype() == target) return *this;
  Tensor y = empty(shape(), {.dtype = target});
  dispatch(dtype(), [&]<class S>() {
    dispatch(target, [&]<class T>() {
      const S* from = data<S>();
      T* to = y.data<T>();
      for (std::int64_t i = 0, n = numel(); i < n; ++i) to[i] = static_cast<T>(from[i]);
    });
  });
  if (is_floating(target) && should_record(*this))
    record(op::to, {*this}, y, {}, [](BackwardContext& ctx) { ctx.accumulate(0, ctx.grad()); });
  if (is_floating(target) && has_tangent(*this)) record_jvp(op::to, y, [&] { return tangent(*this).to(target); });
  return y;
}

// ---- in-place writes that are not recorded ----

Tensor& Tensor::fill_(Scalar value) {
  detail::check_unrecorded_write("fill_", *this);
  dispatch(dtype(), [&]<class T>() {
    T* p = data<T>();
    std::fill(p, p + numel(), value.to<T>());
  });
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  detail::check_unrecorded_write("copy_", *this);
  check_broadcasts_to("copy_", src, *this);
  Tensor s = kernels::cast(expand(src.detach(), shape()), dtype());
  std::memmove(raw_data(), s.raw_data(), static_cast<std::size_t>(numel()) * itemsize(dtype()));
  return *this;
}

Tensor& Tensor::index_put_(std::initializer_list<Slice> index, Scalar value) {
  detail::check_unrecorded_write("index_put_", *this);
  if (static_cast<int>(index.size()) > dim())
    fail<ValueError>("index_put_: {} slices given for a tensor of shape {}; give at most one per dim", index.size(),
                     shape());
  // Resolve each slice to (start, count, step) as Python does, clamping to the dim.
  std::array<std::int64_t, Shape::kMaxRank> start{}, step{};
  Shape counts;
  int d = 0;
  for (const Slice& s : index) {
    std::int64_t n = shape()[d];
    if (s.step <= 0)
      fail<ValueError>("index_put_: slice step must be positive, got {} for dim {} of {}; use a step >= 1", s.step, d,
                       shape());
    auto clamp = [n](std::int64_t i) { return std::clamp<std::int64_t>(i < 0 ? i + n : i, 0, n); };
    std::int64_t lo = s.start ? clamp(*s.start) : 0, hi = s.stop ? clamp(*s.stop) : n;
    start[static_cast<std::size_t>(d)] = lo;
    step[static_cast<std::size_t>(d)] = s.step;
    counts.push_back(hi > lo ? (hi - lo + s.step - 1) / s.step : 0);
    ++d;
  }
  for (; d < dim(); ++d) {  // dims without a slice are taken whole
    step[static_cast<std::size_t>(d)] = 1;
    counts.push_back(shape()[d]);
  }
  auto strides = shape().strides();
  std::array<std::int64_t, Shape::kMaxRank> walk{};  // strides of the selected sub-grid
  std::int64_t base = 0;
  for (int k = 0; k < dim(); ++k) {
    auto ku = static_cast<std::size_t>(k);
    base += start[ku] * strides[ku];
    walk[ku] = step[ku] * strides[ku];
  }
  dispatch(dtype(), [&]<class T>() {
    T* p = data<T>() + base;
    kernels::for_each_row(
        counts, walk, walk,
        [&](std::int64_t, std::int64_t o, std::int64_t, std::int64_t n, std::int64_t s, std::int64_t) {
          for (std::int64_t j = 0; j < n; ++j) p[o + j * s] = value.to<T>();
        });
  });
  return *this;
}

// ---- methods that forward to ops ----

Tensor Tensor::reshape(const Shape& s) const { return tg::reshape(*this, s); }
Tensor Tensor::reshape(std::initializer_list<std::int64_t> sizes) const { return tg::reshape(*this, sizes); }
Tensor Tensor::transpose(int dim0, int dim1) const { return tg::transpose(*this, dim0, dim1); }
Tensor Tensor::permute(std::initializer_list<int> dims) const { return tg::permute(*this, dims); }
Tensor Tensor::sum() const { return tg::sum(*this); }
Tensor Tensor::sum(int d, bool keepdim) const { return tg::sum(*this, d, keepdim); }
Tensor Tensor::mean() const { return tg::mean(*this); }
Tensor Tensor::mean(int d, bool keepdim) const { return tg::mean(*this, d, keepdim); }
Tensor Tensor::logsumexp(int d, bool keepdim) const { return tg::logsumexp(*this, d, keepdim); }
Tensor Tensor::var(int d, bool unbiased, bool keepdim) const { return tg::var(*this, d, unbiased, keepdim); }
Tensor Tensor::var(bool unbiased) const { return tg::var(*this, unbiased); }
Tensor Tensor::std(int d, bool unbiased, bool keepdim) const { return tg::std(*this, d, unbiased, keepdim); }
Tensor Tensor::std(bool unbiased) const { return tg::std(*this, unbiased); }
Tensor Tensor::cumsum(int d) const { return tg::cumsum(*this, d); }
Tensor Tensor::prod() const { return tg::prod(*this); }
Tensor Tensor::prod(int d, bool keepdim) const { return tg::prod(*this, d, keepdim); }
Tensor Tensor::multinomial(std::int64_t num_samples, bool replacement, Generator& gen) const {
  return tg::multinomial(*this, num_samples, replacement, gen);
}
Tensor Tensor::square() const { return tg::square(*this); }
Tensor Tensor::pow(double exponent) const { return tg::pow(*this, exponent); }
Tensor Tensor::exp() const { return tg::exp(*this); }
Tensor Tensor::log() const { return tg::log(*this); }
Tensor Tensor::relu() const { return tg::relu(*this); }
Tensor Tensor::sigmoid() const { return tg::sigmoid(*this); }
Tensor Tensor::tanh() const { return tg::tanh(*this); }
Tensor Tensor::reciprocal() const { return tg::reciprocal(*this); }
Tensor Tensor::sign() const { return tg::sign(*this); }
Tensor Tensor::abs() const { return tg::abs(*this); }
Tensor Tensor::sqrt() const { return tg::sqrt(*this); }
Tensor Tensor::rsqrt() const { return tg::rsqrt(*this); }
Tensor Tensor::log1p() const { return tg::log1p(*this); }
Tensor Tensor::erf() const { return tg::erf(*this); }
Tensor Tensor::clamp(std::optional<Scalar> min, std::optional<Scalar> max) const { return tg::clamp(*this, min, max); }
Tensor Tensor::maximum(const Tensor& other) const { return tg::maximum(*this, other); }
Tensor Tensor::minimum(const Tensor& other) const { return tg::minimum(*this, other); }
Tensor Tensor::masked_fill(const Tensor& mask, Scalar value) const { return tg::masked_fill(*this, mask, value); }
Tensor Tensor::narrow(int dim, std::int64_t start, std::int64_t length) const {
  return tg::narrow(*this, dim, start, length);
}
Tensor Tensor::select(int dim, std::int64_t index) const { return tg::select(*this, dim, index); }
Tensor Tensor::squeeze() const { return tg::squeeze(*this); }
Tensor Tensor::squeeze(int dim) const { return tg::squeeze(*this, dim); }
Tensor Tensor::unsqueeze(int dim) const { return tg::unsqueeze(*this, dim); }
Tensor Tensor::flip(std::initializer_list<int> dims) const { return tg::flip(*this, dims); }
std::vector<Tensor> Tensor::split(std::int64_t split_size, int dim) const { return tg::split(*this, split_size, dim); }
std::vector<Tensor> Tensor::split(std::initializer_list<std::int64_t> sizes, int dim) const {
  return tg::split(*this, sizes, dim);
}
std::vector<Tensor> Tensor::chunk(std::int64_t chunks, int dim) const { return tg::chunk(*this, chunks, dim); }
Tensor Tensor::gather(int dim, const Tensor& index) const { return tg::gather(*this, dim, index); }
Tensor Tensor::index_select(int dim, const Tensor& index) const { return tg::index_select(*this, dim, index); }
Tensor Tensor::argmax(std::optional<int> dim, bool keepdim) const { return tg::argmax(*this, dim, keepdim); }
Tensor Tensor::argmin(std::optional<int> dim, bool keepdim) const { return tg::argmin(*this, dim, keepdim); }
Tensor Tensor::max() const { return tg::max(*this); }
Tensor Tensor::min() const { return tg::min(*this); }
Tensor Tensor::tril(std::int64_t diagonal) const { return tg::tril(*this, diagonal); }
Tensor Tensor::triu(std::int64_t diagonal) const { return tg::triu(*this, diagonal); }
Tensor Tensor::matmul(const Tensor& other) const { return tg::matmul(*this, other); }

// ---- factories ----

namespace {

// The buffer of every factory. `op` names the factory in the errors, so that
// zeros({1 << 40, 1 << 40}) says "zeros: ..." and not the name of a helper.
Tensor allocate(const char* op, const Shape& shape, TensorOptions options) {
  check_factory_grad(op, options);
  auto numel = static_cast<std::size_t>(shape.numel(op));
  if (numel > std::numeric_limits<std::size_t>::max() / itemsize(options.dtype))
    fail<ShapeError>("{}: a {} tensor of shape {} needs more bytes than size_t can count; use smaller dimensions", op,
                     dtype_name(options.dtype), shape);
  Tensor t(detail::make_impl(shape, options.dtype, Storage::make(numel * itemsize(options.dtype))));
  if (options.requires_grad) t.requires_grad_();
  return t;
}

Tensor filled(const char* op, const Shape& shape, Scalar value, TensorOptions options) {
  check_factory_grad(op, options);
  Tensor t = allocate(op, shape, {.dtype = options.dtype});
  dispatch(options.dtype, [&]<class T>() {
    T* p = t.data<T>();
    std::fill(p, p + t.numel(), value.to<T>());
  });
  return options.requires_grad ? t.requires_grad_() : t;
}

}  // namespace

Tensor empty(const Shape& shape, TensorOptions options) { return allocate("empty", shape, options); }
Tensor full(const Shape& shape, Scalar value, TensorOptions options) { return filled("full", shape, value, options); }
Tensor zeros(const Shape& shape, TensorOptions options) { return filled("zeros", shape, 0, options); }
Tensor ones(const Shape& shape, TensorOptions options) { return filled("ones", shape, 1, options); }
Tensor scalar(Scalar value, TensorOptions options) { return full({}, value, options); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), {.dtype = t.dtype()}); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), {.dtype = t.dtype()}); }

Tensor arange(double end, TensorOptions options) { return arange(0, end, 1, options); }

Tensor arange(double start, double end, double step, TensorOptions options) {
  check_factory_grad("arange", options);
  if (options.dtype == kBool)
    fail<DtypeError>("arange: a bool range is not defined (as in PyTorch); make it int64 or floating and compare it");
  if (options.dtype == kInt64 && std::isfinite(start) && std::isfinite(end) && std::isfinite(step)) {
    // As PyTorch: for an integer dtype, start, end and step are converted to integers first.
    if (std::abs(start) >= 0x1p62 || std::abs(end) >= 0x1p62 || std::abs(step) >= 0x1p62)
      fail<ValueError>("arange: ({}, {}, {}) is beyond the int64 range; use values below 2^62", start, end, step);
    start = std::trunc(start), end = std::trunc(end), step = std::trunc(step);
    if (step == 0)
      fail<ValueError>(
          "arange: the step becomes 0 when converted to int64 (the dtype asked for); pass an integer step, or a "
          "floating dtype");
  }
  if (step == 0 || !std::isfinite(start) || !std::isfinite(end) || !std::isfinite(step))
    fail<ValueError>("arange: need finite start, end and a non-zero step, got ({}, {}, {})", start, end, step);
  if ((end - start) * step < 0)
    fail<ValueError>("arange: the step {} points away from end {} (start {}); flip its sign or swap start and end",
                     step, end, start);
  double count = std::ceil((end - start) / step);
  if (!(count < 0x1p62))  // beyond this the cast to int64 is undefined, and no buffer is that large
    fail<ValueError>("arange: ({}, {}, {}) would have {} elements; use a larger step", start, end, step, count);
  Tensor t = allocate("arange", {static_cast<std::int64_t>(count)}, {.dtype = options.dtype});
  dispatch(options.dtype, [&]<class T>() {
    T* p = t.data<T>();
    for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(start + static_cast<double>(i) * step);
  });
  return options.requires_grad ? t.requires_grad_() : t;
}

namespace {

// from_vector for values of type V (double or int64), converted to options.dtype.
template <class V>
Tensor from_values(std::span<const V> values, const Shape& shape, TensorOptions options) {
  check_factory_grad("from_vector", options);
  if (static_cast<std::int64_t>(values.size()) != shape.numel("from_vector"))
    fail<ShapeError>(
        "from_vector: {} values cannot fill shape {} ({} elements); pass {} values or a shape that holds {}",
        values.size(), shape, shape.numel(), shape.numel(), values.size());
  Tensor t = empty(shape, {.dtype = options.dtype});
  dispatch(options.dtype, [&]<class T>() {
    T* p = t.data<T>();
    for (std::size_t i = 0; i < values.size(); ++i) p[i] = static_cast<T>(values[i]);
  });
  return options.requires_grad ? t.requires_grad_() : t;
}

}  // namespace

Tensor from_vector(const std::vector<double>& values, const Shape& shape, TensorOptions options) {
  return from_values(std::span<const double>(values), shape, options);
}

Tensor from_vector(std::span<const std::int64_t> values, const Shape& shape, TensorOptions options) {
  return from_values(values, shape, options);
}

namespace {
template <class Sample>
Tensor sample(const char* op, const Shape& shape, TensorOptions options, Sample draw) {
  if (!is_floating(options.dtype))
    fail<DtypeError>("{}: samples real numbers, so the dtype must be float32 or float64, not {}", op,
                     dtype_name(options.dtype));
  Tensor t = allocate(op, shape, {.dtype = options.dtype});
  dispatch_floating(op, options.dtype, [&]<class T>() {
    T* p = t.data<T>();
    for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(draw());
  });
  return options.requires_grad ? t.requires_grad_() : t;
}
}  // namespace

Tensor randn(const Shape& shape, Generator& gen, TensorOptions options) {
  return sample("randn", shape, options, [&] { return gen.normal(); });
}
Tensor randn(const Shape& shape, TensorOptions options) { return randn(shape, default_generator(), options); }
Tensor rand(const Shape& shape, Generator& gen, TensorOptions options) {
  // A double within 2^-25 of 1 rounds to 1.0f; clamp so that float32 samples stay in [0, 1).
  const double below_one = options.dtype == kFloat32 ? std::nextafter(1.0f, 0.0f) : 1.0;
  return sample("rand", shape, options, [&] { return std::min(gen.uniform(), below_one); });
}
Tensor rand(const Shape& shape, TensorOptions options) { return rand(shape, default_generator(), options); }

}  // namespace tg
