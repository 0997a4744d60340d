// SPDX-License-Identifier: MIT
#pragma once
// tg::Tensor: an N-d, row-major, contiguous array of float32, float64, int64 or bool, with
// autograd.
//
// A Tensor is a cheap handle: copying it shares the data, like torch::Tensor. Operations
// on tensors that require grad are recorded on this thread's tape (see tape.hpp), and
// `loss.backward()` replays the tape in reverse to fill in `.grad()` of the leaves.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "tapegrad/dtype.hpp"
#include "tapegrad/generator.hpp"
#include "tapegrad/scalar.hpp"
#include "tapegrad/shape.hpp"
#include "tapegrad/storage.hpp"

namespace tg {

class Tensor;
struct TensorImpl;
struct AutogradMeta;  // below Tensor

// What a Tensor handle points at. Op authors read it through Tensor's accessors.
// Note: kept to 112 bytes: a chain of scalar ops allocates one per tape entry, and the
// engine's memory target is 400 bytes per entry.
struct TensorImpl {
  TensorImpl() = default;
  TensorImpl(const Shape& shape_, Dtype dtype_, StoragePtr storage_)
      : shape(shape_), storage(std::move(storage_)), dtype(dtype_) {}
  TensorImpl(const TensorImpl&) = delete;
  TensorImpl& operator=(const TensorImpl&) = delete;
  ~TensorImpl();

  Shape shape;
  StoragePtr storage;
  std::unique_ptr<AutogradMeta> meta;  // null until needed
  // The tape entry that computed this tensor and which of its outputs it is, as
  // (entry id << 16 | output index); 0 for a leaf. Recorded in-place ops move it forward.
  std::uint64_t history = 0;
  // The id of the tape (one per thread) that holds the entry; 0 for a leaf. Ops and backward()
  // compare it with their own tape's id, so that a tensor computed on another thread is an
  // error rather than a lookup on the wrong tape.
  std::uint32_t tape = 0;
  std::uint16_t op = 0;  // that entry's op (OpInfo::index), shown as grad_fn when printing
  Dtype dtype = kFloat32;
  bool requires_grad = false;
  // Note [tensor handles]: the handles that point here are counted in the object itself
  // (intrusively, as PyTorch's intrusive_ptr): `strong` counts the Tensors (ImplPtr), `weak`
  // the WeakImplPtrs (a tape entry's outputs) plus one for all the strong ones together.
  // When the last Tensor goes, the data and autograd fields go with it; the object itself
  // stays for as long as a weak reference can still ask whether it is alive.
  std::atomic<std::uint32_t> strong{1};
  std::atomic<std::uint32_t> weak{1};

  AutogradMeta& autograd_meta();  // allocated the first time it is asked for
  void drop() noexcept;           // one strong reference fewer (ImplPtr's destructor)
  // A fresh object (strong = 1) from the small-object pool.
  static TensorImpl* make(const Shape& shape, Dtype dtype, StoragePtr storage);
  static void destroy(TensorImpl* p) noexcept;

 private:
  void expire() noexcept;  // the last strong reference went while weak ones remain
};

// A counted (strong) reference to a TensorImpl: what a Tensor holds (Note [tensor handles]).
class ImplPtr {
 public:
  ImplPtr() = default;
  ImplPtr(std::nullptr_t) {}             // NOLINT: as a null pointer
  static ImplPtr adopt(TensorImpl* p) {  // takes over a reference already counted
    ImplPtr r;
    r.p_ = p;
    return r;
  }
  ImplPtr(const ImplPtr& other) noexcept : p_(other.p_) {
    if (p_) detail::count_up(p_->strong);
  }
  ImplPtr(ImplPtr&& other) noexcept : p_(std::exchange(other.p_, nullptr)) {}
  ImplPtr& operator=(const ImplPtr& other) noexcept {
    ImplPtr(other).swap(*this);
    return *this;
  }
  ImplPtr& operator=(ImplPtr&& other) noexcept {
    ImplPtr(std::move(other)).swap(*this);
    return *this;
  }
  ~ImplPtr() {
    if (p_) p_->drop();
  }
  void swap(ImplPtr& other) noexcept { std::swap(p_, other.p_); }

  TensorImpl* get() const { return p_; }
  TensorImpl* operator->() const { return p_; }
  TensorImpl& operator*() const { return *p_; }
  explicit operator bool() const { return p_ != nullptr; }
  long use_count() const { return p_ ? p_->strong.load(std::memory_order_relaxed) : 0; }
  friend bool operator==(const ImplPtr& a, const ImplPtr& b) { return a.p_ == b.p_; }
  friend bool operator==(const ImplPtr& a, std::nullptr_t) { return a.p_ == nullptr; }

 private:
  TensorImpl* p_ = nullptr;
};

// A weak reference: it keeps the object, not the tensor, and tells whether the tensor is
// still alive (lock() gives a strong reference if it is).
class WeakImplPtr {
 public:
  WeakImplPtr() = default;
  explicit WeakImplPtr(const ImplPtr& p) : p_(p.get()) {
    if (p_) detail::count_up(p_->weak);
  }
  WeakImplPtr(const WeakImplPtr& other) : p_(other.p_) {
    if (p_) detail::count_up(p_->weak);
  }
  WeakImplPtr(WeakImplPtr&& other) noexcept : p_(std::exchange(other.p_, nullptr)) {}
  WeakImplPtr& operator=(WeakImplPtr other) noexcept {
    std::swap(p_, other.p_);
    return *this;
  }
  WeakImplPtr& operator=(const ImplPtr& p) { return *this = WeakImplPtr(p); }
  ~WeakImplPtr() {
    if (p_ && detail::count_down(p_->weak)) TensorImpl::destroy(p_);
  }

  bool expired() const { return !p_ || p_->strong.load(std::memory_order_acquire) == 0; }
  ImplPtr lock() const;
  TensorImpl* get() const { return p_; }  // for comparing identities only: the tensor may be gone

 private:
  TensorImpl* p_ = nullptr;
};

inline void TensorImpl::drop() noexcept {
  // The only handle of any kind: nobody else can be copying it, so no atomic operation.
  if (strong.load(std::memory_order_acquire) == 1 && weak.load(std::memory_order_relaxed) == 1) return destroy(this);
  if (detail::count_down(strong)) expire();
}

inline ImplPtr WeakImplPtr::lock() const {
  if (!p_) return {};
  std::uint32_t n = p_->strong.load(std::memory_order_relaxed);
  while (n != 0)
    if (p_->strong.compare_exchange_weak(n, n + 1, std::memory_order_acq_rel, std::memory_order_relaxed))
      return ImplPtr::adopt(p_);
  return {};
}

// Options for the factories: tg::zeros({2, 3}, {.dtype = tg::kFloat64, .requires_grad = true}).
struct TensorOptions {
  Dtype dtype = kFloat32;
  bool requires_grad = false;
};

// One index of index_put_: Slice() is `:`, Slice(2, 6) is `2:6`, Slice(0, std::nullopt, 2) is `::2`.
// Note: the constructors make Slice(2, 6) work on compilers without C++20's parenthesised
// aggregate initialisation (clang before 16).
struct Slice {
  std::optional<std::int64_t> start;
  std::optional<std::int64_t> stop;
  std::int64_t step = 1;

  Slice() = default;
  Slice(std::optional<std::int64_t> start_, std::optional<std::int64_t> stop_ = std::nullopt, std::int64_t step_ = 1)
      : start(start_), stop(stop_), step(step_) {}
};

// One level of a nested list literal: a number (remembering whether it was written as a
// bool, an integer or a floating-point number), or a braced list of NestedLists. Every brace
// opens a new dim, as in torch.tensor([[7], [8]]).
class NestedList {
 public:
  template <class T>
  requires std::is_arithmetic_v<T> NestedList(T value) : value_(value), scalar_(true) {}  // NOLINT: implicit by design
  NestedList(std::initializer_list<NestedList> items) : items_(items) {}
  bool is_scalar() const { return scalar_; }
  const Scalar& value() const { return value_; }
  const std::initializer_list<NestedList>& items() const { return items_; }

 private:
  std::initializer_list<NestedList> items_;
  Scalar value_ = 0.0;
  bool scalar_ = false;
};

// What a non-const Tensor::at() returns: reads convert to T; a write (=, +=, ...) is an
// in-place write, so it counts in the tensor's version and is refused on a tensor that
// requires grad while grad mode is on (no tape entry could record it).
template <class T>
class ElementRef {
 public:
  ElementRef(const Tensor& t, T* p) : t_(&t), p_(p) {}
  operator T() const { return *p_; }  // NOLINT: reads as the element itself
  ElementRef& operator=(T value) {
    *writable() = value;
    return *this;
  }
  ElementRef& operator=(const ElementRef& other) { return *this = static_cast<T>(other); }
  ElementRef& operator+=(T value) { return *this = static_cast<T>(*p_ + value); }
  ElementRef& operator-=(T value) { return *this = static_cast<T>(*p_ - value); }
  ElementRef& operator*=(T value) { return *this = static_cast<T>(*p_ * value); }
  ElementRef& operator/=(T value) { return *this = static_cast<T>(*p_ / value); }

 private:
  T* writable() const;
  const Tensor* t_;
  T* p_;
};

// The options of Tensor::backward, as torch.Tensor.backward's keywords.
struct BackwardOptions {
  // Keep the tape entries for another backward through the same graph. Unset: as
  // create_graph, as in PyTorch (a graph of gradients refers to the forward graph).
  std::optional<bool> retain_graph = std::nullopt;
  // Record the backward pass itself (Note [recording backward] in tape.hpp): the gradients
  // it puts in .grad are tensors of a new graph, which a second backward differentiates.
  bool create_graph = false;
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor (no data), like torch::Tensor()
  explicit Tensor(ImplPtr impl) : impl_(std::move(impl)) {}

  // Nested lists give float32 tensors, whatever the numbers: Tensor{{0, 1, 2}, {3, 4, 5}} has
  // shape [2, 3], Tensor{{7}, {8}} has shape [2, 1], Tensor{5} has shape [1] (tg::scalar(5)
  // is 0-d). tg::tensor() infers the dtype from the numbers, as torch.tensor does.
  Tensor(std::initializer_list<NestedList> values);

  // ---- metadata ----
  bool defined() const { return impl_.get() != nullptr; }
  const Shape& shape() const { return impl().shape; }
  int dim() const { return shape().rank(); }
  std::int64_t numel() const { return shape().numel(); }
  std::int64_t size(int dim) const;  // negative dims count from the end
  Dtype dtype() const { return impl().dtype; }
  bool is_floating_point() const { return is_floating(dtype()); }
  const std::string& name() const;
  Tensor& set_name(std::string name);

  // ---- data ----
  // Typed pointer to the first element; throws ValueError if T does not match dtype().
  // Note: writing through it bypasses the version counter (storage.hpp): call bump_version()
  // afterwards, as the optimizers do, so that backward notices.
  template <class T>
  T* data() const;
  void* raw_data() const { return impl().storage->data(); }
  // The value of a one-element tensor, converted to T.
  template <class T = float>
  T item() const;
  // Element access with bounds checks; negative indices count from the end. A write through
  // at() is an in-place write (see ElementRef).
  template <class T = float>
  ElementRef<T> at(std::initializer_list<std::int64_t> index);
  template <class T = float>
  T at(std::initializer_list<std::int64_t> index) const;
  std::vector<double> tolist() const;  // all elements in row-major order (int64 beyond 2^53 rounds)
  // How many in-place writes the data has seen (Note [version counters] in storage.hpp).
  std::uint32_t version() const { return impl().storage->version(); }
  const Tensor& bump_version() const;

  // ---- autograd ----
  bool requires_grad() const { return impl().requires_grad; }
  Tensor& requires_grad_(bool requires_grad = true);
  bool is_leaf() const { return impl().history == 0; }
  Tensor grad() const;                // undefined until a backward() reaches this tensor
  void set_grad(const Tensor& grad);  // set_grad(Tensor()) clears it, like `x.grad = None`
  void retain_grad();                 // keep .grad() of a non-leaf after backward()
  bool retains_grad() const;
  // Reverse-mode sweep from this tensor. A scalar seeds itself with 1; any other shape
  // needs an explicit `seed` of the same shape. The tape entries used are freed unless
  // retain_graph is true.
  void backward(const Tensor& seed = Tensor(), bool retain_graph = false) const;
  // The same with options, as torch.Tensor.backward's keywords:
  //   loss.backward({.create_graph = true});      // .grad becomes differentiable
  //   y.backward(seed, {.retain_graph = true});
  // (A braced list of options is never taken for a seed: only a designated or empty list
  // fits BackwardOptions, and `{}` alone is refused as ambiguous.)
  void backward(const BackwardOptions& options) const;
  void backward(const Tensor& seed, const BackwardOptions& options) const;
  // Calls hook(grad) when backward() computes this tensor's gradient: for a leaf, with the
  // whole gradient of one backward(), before it is added to .grad; otherwise before it flows
  // on to the inputs. A defined result replaces the gradient (same shape); an undefined one
  // leaves it as it is, as torch.Tensor.register_hook. Hooks run in the order registered.
  // Returns a handle for remove_hook().
  int register_hook(std::function<Tensor(const Tensor&)> hook);
  // On a leaf: calls hook(leaf) as soon as this backward() has finished adding to its .grad,
  // during the sweep (not after it), as torch.Tensor.register_post_accumulate_grad_hook. A
  // data-parallel wrapper starts sending a gradient while backward computes the others.
  int register_post_accumulate_grad_hook(std::function<void(Tensor&)> hook);
  void remove_hook(int handle);  // either kind; ValueError if no hook has that handle
  Tensor detach() const;         // same data (and version counter), no history, requires_grad = false
  Tensor clone() const;          // a copy of the data (recorded, so gradients flow through it)
  Tensor to(Dtype dtype) const;  // recorded between floating dtypes; integer results need no grad

  // ---- in-place writes ----
  // Each counts in the version (storage.hpp). The arithmetic ones (add_, sub_, mul_, div_,
  // relu_ and the compound operators) follow PyTorch in grad mode: on a tensor that is not a
  // leaf they are recorded, and the tensor's history moves onto the in-place op, so that
  // `Y += X` in a residual block is differentiated; on a leaf that requires grad they are
  // refused, since its .grad would no longer match its values. fill_, zero_, copy_,
  // index_put_ and at() writes are not recorded: they are refused on any tensor that requires
  // grad while grad mode is on.
  Tensor& fill_(Scalar value);
  Tensor& zero_() { return fill_(0); }
  Tensor& copy_(const Tensor& src);                     // src broadcast to this shape, converted to this dtype
  Tensor& add_(const Tensor& other, Scalar alpha = 1);  // this += alpha * other
  Tensor& add_(Scalar other);
  Tensor& sub_(const Tensor& other, Scalar alpha = 1);  // this -= alpha * other
  Tensor& sub_(Scalar other);
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(Scalar other);
  Tensor& div_(const Tensor& other);
  Tensor& div_(Scalar other);
  Tensor& relu_();
  Tensor& operator+=(const Tensor& other) { return add_(other); }
  Tensor& operator+=(Scalar other) { return add_(other); }
  Tensor& operator-=(const Tensor& other) { return sub_(other); }
  Tensor& operator-=(Scalar other) { return sub_(other); }
  Tensor& operator*=(const Tensor& other) { return mul_(other); }
  Tensor& operator*=(Scalar other) { return mul_(other); }
  Tensor& operator/=(const Tensor& other) { return div_(other); }
  Tensor& operator/=(Scalar other) { return div_(other); }
  // X.index_put_({Slice(), Slice(2, 6)}, 0) is PyTorch's X[:, 2:6] = 0.
  Tensor& index_put_(std::initializer_list<Slice> index, Scalar value);

  // ---- ops as methods, for PyTorch-like chains: (y_hat - y).square().sum() ----
  Tensor reshape(const Shape& shape) const;
  Tensor reshape(std::initializer_list<std::int64_t> sizes) const;  // one size may be -1
  Tensor transpose(int dim0, int dim1) const;
  Tensor permute(std::initializer_list<int> dims) const;
  Tensor t() const { return transpose(0, 1); }
  Tensor sum() const;
  Tensor sum(int dim, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(int dim, bool keepdim = false) const;
  Tensor logsumexp(int dim, bool keepdim = false) const;
  Tensor var(int dim, bool unbiased = true, bool keepdim = false) const;
  Tensor var(bool unbiased = true) const;
  Tensor std(int dim, bool unbiased = true, bool keepdim = false) const;
  Tensor std(bool unbiased = true) const;
  Tensor cumsum(int dim) const;
  Tensor prod() const;
  Tensor prod(int dim, bool keepdim = false) const;
  Tensor multinomial(std::int64_t num_samples, bool replacement = false, Generator& gen = default_generator()) const;
  Tensor square() const;
  Tensor pow(double exponent) const;
  Tensor exp() const;
  Tensor log() const;
  Tensor relu() const;
  Tensor sigmoid() const;
  Tensor tanh() const;
  Tensor reciprocal() const;
  Tensor sign() const;
  Tensor abs() const;
  Tensor sqrt() const;
  Tensor rsqrt() const;
  Tensor log1p() const;
  Tensor erf() const;
  Tensor clamp(std::optional<Scalar> min, std::optional<Scalar> max = std::nullopt) const;
  Tensor clamp_min(Scalar min) const { return clamp(min, std::nullopt); }
  Tensor clamp_max(Scalar max) const { return clamp(std::nullopt, max); }
  Tensor maximum(const Tensor& other) const;
  Tensor minimum(const Tensor& other) const;
  Tensor masked_fill(const Tensor& mask, Scalar value) const;
  // x.index({Slice(1, 5, 2), Slice(2, 7)}) is PyTorch's x[1:5:2, 2:7], recorded (a slice per dim).
  Tensor index(std::initializer_list<Slice> index) const;
  Tensor narrow(int dim, std::int64_t start, std::int64_t length) const;
  Tensor select(int dim, std::int64_t index) const;
  Tensor squeeze() const;
  Tensor squeeze(int dim) const;
  Tensor unsqueeze(int dim) const;
  Tensor flip(std::initializer_list<int> dims) const;
  std::vector<Tensor> split(std::int64_t split_size, int dim = 0) const;
  std::vector<Tensor> split(std::initializer_list<std::int64_t> sizes, int dim = 0) const;
  std::vector<Tensor> chunk(std::int64_t chunks, int dim = 0) const;
  Tensor gather(int dim, const Tensor& index) const;
  Tensor index_select(int dim, const Tensor& index) const;
  Tensor argmax(std::optional<int> dim = std::nullopt, bool keepdim = false) const;
  Tensor argmin(std::optional<int> dim = std::nullopt, bool keepdim = false) const;
  Tensor max() const;
  Tensor min() const;
  Tensor tril(std::int64_t diagonal = 0) const;
  Tensor triu(std::int64_t diagonal = 0) const;
  Tensor matmul(const Tensor& other) const;

  TensorImpl& impl() const {  // throws ValueError on an undefined tensor
    if (!impl_) [[unlikely]]
      throw_undefined();
    return *impl_;
  }
  const ImplPtr& impl_ptr() const { return impl_; }

 private:
  [[noreturn]] static void throw_undefined();
  [[noreturn]] void throw_wrong_dtype(Dtype requested) const;
  ImplPtr impl_;
};

// The autograd fields that most tensors never use (a name, a gradient, hooks), allocated the
// first time one is set, as PyTorch's AutogradMeta: a result of an op carries none of them.
namespace detail {
// The number of hooks (of both kinds) on live tensors in the process: while it is 0,
// backward() skips looking for leaves with hooks.
inline std::atomic<std::int64_t> live_hooks{0};
}  // namespace detail

struct AutogradMeta {
  AutogradMeta() = default;
  AutogradMeta(const AutogradMeta&) = delete;
  AutogradMeta& operator=(const AutogradMeta&) = delete;
  ~AutogradMeta() {
    if (std::size_t n = hooks.size() + post_accumulate_hooks.size())
      detail::live_hooks.fetch_sub(static_cast<std::int64_t>(n), std::memory_order_relaxed);
  }

  std::string name;  // shown in error messages and graph dumps
  Tensor grad;       // accumulated gradient (leaves, and retain_grad())
  bool retains_grad = false;
  int next_hook = 0;  // handles are unique per tensor, across both kinds of hook
  // Functions called with this tensor's gradient during backward (Tensor::register_hook).
  std::vector<std::pair<int, std::function<Tensor(const Tensor&)>>> hooks;
  // Functions called with the leaf once its .grad is complete (register_post_accumulate_grad_hook).
  std::vector<std::pair<int, std::function<void(Tensor&)>>> post_accumulate_hooks;
  // Forward mode (forward_ad.hpp): the tangent and the dual level it belongs to (0: none).
  Tensor tangent;
  std::uint64_t tangent_level = 0;
};

inline AutogradMeta& TensorImpl::autograd_meta() {
  if (!meta) meta = std::make_unique<AutogradMeta>();
  return *meta;
}

template <class T>
T* Tensor::data() const {
  if (dtype() != dtype_of<T>()) [[unlikely]]
    throw_wrong_dtype(dtype_of<T>());
  return static_cast<T*>(raw_data());
}

namespace detail {
// Refuses an in-place write that no tape entry records, to a tensor that requires grad while
// grad mode is on (fill_, copy_, index_put_, at()), naming `op`; otherwise bumps t's version.
void check_unrecorded_write(const char* op, const Tensor& t);
}  // namespace detail

template <class T>
T* ElementRef<T>::writable() const {
  detail::check_unrecorded_write("at", *t_);
  return p_;
}

// ---- factories ----
Tensor empty(const Shape& shape, TensorOptions options = {});  // uninitialised
Tensor zeros(const Shape& shape, TensorOptions options = {});
Tensor ones(const Shape& shape, TensorOptions options = {});
Tensor full(const Shape& shape, Scalar value, TensorOptions options = {});
Tensor scalar(Scalar value, TensorOptions options = {});  // a 0-d tensor
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
// A nested list, its dtype inferred from the numbers as torch.tensor does: int64 when every
// number is an integer (tg::tensor({0, 3, 1})), bool when every one is a bool, float32 when
// any is floating-point (tg::tensor({0, 0.5})).
Tensor tensor(std::initializer_list<NestedList> values);
// A nested list in the dtype the options give: tg::tensor({{0, 1}, {2, 3}}, {.dtype = tg::kFloat64}).
Tensor tensor(std::initializer_list<NestedList> values, TensorOptions options);
// [start, end) in steps of `step`, as torch.arange.
Tensor arange(double end, TensorOptions options = {});
Tensor arange(double start, double end, double step = 1, TensorOptions options = {});
// Values copied from `values` (row-major); values.size() must equal shape.numel().
Tensor from_vector(const std::vector<double>& values, const Shape& shape, TensorOptions options = {});
// Integers (class labels, indices) keep every digit: an int64 tensor unless options say otherwise.
Tensor from_vector(std::span<const std::int64_t> values, const Shape& shape, TensorOptions options = {.dtype = kInt64});
// Standard normal and uniform [0, 1) samples, from `gen` or from the default generator.
Tensor randn(const Shape& shape, Generator& gen, TensorOptions options = {});
Tensor randn(const Shape& shape, TensorOptions options = {});
Tensor rand(const Shape& shape, Generator& gen, TensorOptions options = {});
Tensor rand(const Shape& shape, TensorOptions options = {});

// Clears the gradients of `tensors` (zero_grad(set_to_none=True) in PyTorch); with set_to_none =
// false, fills them with zeros instead. What Module::zero_grad and Optimizer::zero_grad do.
void zero_grad(std::span<Tensor> tensors, bool set_to_none = true);

// PyTorch's printed form: tensor([[19., 25.],\n        [37., 43.]]).
std::string to_string(const Tensor& t);
// std::cout << t prints the same; fmt::print("{}", t) too.
std::ostream& operator<<(std::ostream& out, const Tensor& t);
std::ostream& operator<<(std::ostream& out, const Shape& shape);  // [2, 3]
std::ostream& operator<<(std::ostream& out, Dtype dtype);         // float32

// ---- operators (each one is an op in framework/src/ops) ----
// A number next to a tensor follows PyTorch's promotion: a float32 tensor stays float32 with
// any number, an int64 one stays int64 with an integer and becomes float32 with 2.5.
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, Scalar b);
Tensor operator-(const Tensor& a, Scalar b);
Tensor operator*(const Tensor& a, Scalar b);
Tensor operator/(const Tensor& a, Scalar b);
Tensor operator+(Scalar a, const Tensor& b);
Tensor operator-(Scalar a, const Tensor& b);
Tensor operator*(Scalar a, const Tensor& b);
Tensor operator/(Scalar a, const Tensor& b);
// Comparisons, elementwise with broadcasting: bool tensors, never differentiated.
Tensor operator<(const Tensor& a, const Tensor& b);
Tensor operator<=(const Tensor& a, const Tensor& b);
Tensor operator>(const Tensor& a, const Tensor& b);
Tensor operator>=(const Tensor& a, const Tensor& b);
Tensor operator==(const Tensor& a, const Tensor& b);
Tensor operator!=(const Tensor& a, const Tensor& b);
Tensor operator<(const Tensor& a, Scalar b);
Tensor operator<=(const Tensor& a, Scalar b);
Tensor operator>(const Tensor& a, Scalar b);
Tensor operator>=(const Tensor& a, Scalar b);
Tensor operator==(const Tensor& a, Scalar b);
Tensor operator!=(const Tensor& a, Scalar b);

}  // namespace tg

template <>
struct fmt::formatter<tg::Tensor> : fmt::formatter<std::string> {
  auto format(const tg::Tensor& t, fmt::format_context& ctx) const {
    return fmt::formatter<std::string>::format(tg::to_string(t), ctx);
  }
};
