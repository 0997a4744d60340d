#pragma once
// tg::Tensor: an N-d, row-major, contiguous array of float32 (or float64) with autograd.
//
// A Tensor is a cheap handle: copying it shares the data, like torch::Tensor. Operations
// on tensors that require grad are recorded on this thread's tape (see tape.hpp), and
// `loss.backward()` replays the tape in reverse to fill in `.grad()` of the leaves.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "tapegrad/dtype.hpp"
#include "tapegrad/generator.hpp"
#include "tapegrad/shape.hpp"
#include "tapegrad/storage.hpp"

namespace tg {

class Tensor;

// What a Tensor handle points at. Op authors read it through Tensor's accessors.
struct TensorImpl {
  Shape shape;
  Dtype dtype = kFloat32;
  std::shared_ptr<Storage> storage;
  std::shared_ptr<TensorImpl> grad;  // accumulated gradient (leaves, and retain_grad())
  std::uint64_t entry = 0;           // id of the tape entry that computed it; 0 = leaf
  const char* op = nullptr;          // that entry's op, shown as grad_fn when printing
  // The id of the tape (one per thread) that holds `entry`; 0 for a leaf. Ops and backward()
  // compare it with their own tape's id, so that a tensor computed on another thread is an
  // error rather than a lookup on the wrong tape.
  std::uint32_t tape = 0;
  bool requires_grad = false;
  bool graph_freed = false;  // its entry was consumed by a backward() without retain_graph
  bool retains_grad = false;
  std::string name;  // optional, shown in error messages and graph dumps
  // Functions called with this tensor's gradient during backward (Tensor::register_hook).
  std::vector<std::pair<int, std::function<Tensor(const Tensor&)>>> hooks;
};

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

// One level of a nested list literal: a number, or a braced list of NestedLists. Every
// brace opens a new dim, as in torch.tensor([[7], [8]]).
class NestedList {
 public:
  NestedList(double value) : value_(value), scalar_(true) {}  // NOLINT: implicit by design
  NestedList(std::initializer_list<NestedList> items) : items_(items) {}
  bool is_scalar() const { return scalar_; }
  double value() const { return value_; }
  const std::initializer_list<NestedList>& items() const { return items_; }

 private:
  std::initializer_list<NestedList> items_;
  double value_ = 0;
  bool scalar_ = false;
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor (no data), like torch::Tensor()
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // Nested lists give float32 tensors: Tensor{{0, 1, 2}, {3, 4, 5}} has shape [2, 3],
  // Tensor{{7}, {8}} has shape [2, 1], Tensor{5} has shape [1] (tg::scalar(5) is 0-d).
  Tensor(std::initializer_list<NestedList> values);

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  int dim() const { return shape().rank(); }
  std::int64_t numel() const { return shape().numel(); }
  std::int64_t size(int dim) const;  // negative dims count from the end
  Dtype dtype() const { return impl().dtype; }
  const std::string& name() const { return impl().name; }
  Tensor& set_name(std::string name);

  // ---- data ----
  // Typed pointer to the first element; throws ValueError if T does not match dtype().
  template <class T>
  T* data() const;
  void* raw_data() const { return impl().storage->data(); }
  // The value of a one-element tensor, converted to T.
  template <class T = float>
  T item() const;
  // Element access with bounds checks; negative indices count from the end.
  template <class T = float>
  T& at(std::initializer_list<std::int64_t> index);
  template <class T = float>
  T at(std::initializer_list<std::int64_t> index) const;
  std::vector<double> tolist() const;  // all elements in row-major order

  // ---- autograd ----
  bool requires_grad() const { return impl().requires_grad; }
  Tensor& requires_grad_(bool requires_grad = true);
  bool is_leaf() const { return impl().entry == 0; }
  Tensor grad() const;                // undefined until a backward() reaches this tensor
  void set_grad(const Tensor& grad);  // set_grad(Tensor()) clears it, like `x.grad = None`
  void retain_grad();                 // keep .grad() of a non-leaf after backward()
  // Reverse-mode sweep from this tensor. A scalar seeds itself with 1; any other shape
  // needs an explicit `seed` of the same shape. The tape entries used are freed unless
  // retain_graph is true.
  void backward(const Tensor& seed = Tensor(), bool retain_graph = false) const;
  // Calls hook(grad) when backward() computes this tensor's gradient: for a leaf, before it
  // is added to .grad; otherwise before it flows on to the inputs. A defined result
  // replaces the gradient (same shape); an undefined one leaves it as it is, as
  // torch.Tensor.register_hook. Hooks run in the order registered. Returns a handle for
  // remove_hook().
  int register_hook(std::function<Tensor(const Tensor&)> hook);
  void remove_hook(int handle);  // ValueError if no hook has that handle
  Tensor detach() const;         // same data, no history, requires_grad = false
  Tensor clone() const;          // a copy of the data (recorded, so gradients flow through it)
  Tensor to(Dtype dtype) const;

  // ---- in-place writes (not recorded; refused on tensors that require grad while
  //      grad mode is on, as in PyTorch) ----
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  Tensor& copy_(const Tensor& src);                     // src broadcast to this shape
  Tensor& add_(const Tensor& other, double alpha = 1);  // this += alpha * other
  Tensor& mul_(double factor);
  // X.index_put_({Slice(), Slice(2, 6)}, 0) is PyTorch's X[:, 2:6] = 0.
  Tensor& index_put_(std::initializer_list<Slice> index, double value);

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
  Tensor square() const;
  Tensor pow(double exponent) const;
  Tensor exp() const;
  Tensor log() const;
  Tensor relu() const;
  Tensor sigmoid() const;
  Tensor tanh() const;
  Tensor matmul(const Tensor& other) const;

  TensorImpl& impl() const {  // throws ValueError on an undefined tensor
    if (!impl_) [[unlikely]]
      throw_undefined();
    return *impl_;
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  [[noreturn]] static void throw_undefined();
  [[noreturn]] void throw_wrong_dtype(Dtype requested) const;
  std::shared_ptr<TensorImpl> impl_;
};

template <class T>
T* Tensor::data() const {
  if (dtype() != dtype_of<T>()) [[unlikely]]
    throw_wrong_dtype(dtype_of<T>());
  return static_cast<T*>(raw_data());
}

// ---- factories ----
Tensor empty(const Shape& shape, TensorOptions options = {});  // uninitialised
Tensor zeros(const Shape& shape, TensorOptions options = {});
Tensor ones(const Shape& shape, TensorOptions options = {});
Tensor full(const Shape& shape, double value, TensorOptions options = {});
Tensor scalar(double value, TensorOptions options = {});  // a 0-d tensor
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
// [start, end) in steps of `step`, as torch.arange.
Tensor arange(double end, TensorOptions options = {});
Tensor arange(double start, double end, double step = 1, TensorOptions options = {});
// Values copied from `values` (row-major); values.size() must equal shape.numel().
Tensor from_vector(const std::vector<double>& values, const Shape& shape, TensorOptions options = {});
// Standard normal and uniform [0, 1) samples, from `gen` or from the default generator.
Tensor randn(const Shape& shape, Generator& gen, TensorOptions options = {});
Tensor randn(const Shape& shape, TensorOptions options = {});
Tensor rand(const Shape& shape, Generator& gen, TensorOptions options = {});
Tensor rand(const Shape& shape, TensorOptions options = {});

// PyTorch's printed form: tensor([[19., 25.],\n        [37., 43.]]).
std::string to_string(const Tensor& t);

// ---- operators (each one is an op in framework/src/ops) ----
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);

}  // namespace tg

template <>
struct fmt::formatter<tg::Tensor> : fmt::formatter<std::string> {
  auto format(const tg::Tensor& t, fmt::format_context& ctx) const {
    return fmt::formatter<std::string>::format(tg::to_string(t), ctx);
  }
};
