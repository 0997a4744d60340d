// SPDX-License-Identifier: MIT
// In-place arithmetic: y += x, y -= x, y *= x, y /= x (tensors or numbers) and relu_, as
// PyTorch records them. The derivatives are those of the out-of-place ops; what differs is
// where the gradient goes. The entry's input is the tensor's previous value (its history
// before the write) and its output is the tensor itself, whose history moves onto the entry:
//   y = bn(conv(x));  y += x;   // entries: conv2d, batch_norm, add_; y's history is add_
// so backward reaches batch_norm through add_. The write counts in y's version, so an entry
// that saved y before it (to compute its own gradient) refuses to use the new values.
#include "ops/kernels.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace {

// Checks an in-place write of `op` to `self` (with the tensor `other`, or a number) and returns
// whether it is to be recorded. A division's result is floating whatever its operands.
bool check_inplace(const OpInfo& op, const Tensor& self, const Tensor* other, const Scalar* number,
                   bool division = false) {
  kernels::check_input(op, self, "the tensor written");
  if (other) kernels::check_input(op, *other, "the other operand");
  Dtype result = other    ? kernels::result_type(self, *other)
                 : number ? kernels::result_type(self, *number)
                          : self.dtype();
  if (division && !is_floating(result)) result = kFloat32;
  if ((is_floating(result) && !is_floating(self.dtype())) || (result != kBool && self.dtype() == kBool))
    fail<DtypeError>(
        "{}: the result is {} and cannot be stored in place in {} tensor {}; compute a new tensor, "
        "or convert the tensor first with .to(tg::k{})",
        op.name, dtype_name(result), self.dtype() == kInt64 ? "an int64" : "a bool", self.shape(),
        result == kFloat64 ? "Float64" : "Float32");
  if (!is_grad_enabled()) return false;
  if (self.requires_grad() && self.is_leaf())
    fail<AutogradError>(
        "{}: a leaf tensor {} that requires grad cannot be written in place while grad mode is on, since its .grad "
        "would no longer belong to its values. An update that is not part of the model (initialisation, an "
        "optimizer's step) goes inside a tg::NoGradGuard scope; in the model, compute a new tensor (y = x + ...)",
        op.name, self.shape());
  bool record = self.requires_grad() || (other && other->requires_grad());
  if (record && self.impl().storage.use_count() > 1)
    fail<AutogradError>(
        "{}: the tensor {} shares its data with another tensor (a view from reshape or flatten, or a detach()), and "
        "an in-place op that is recorded would change that one behind autograd's back; compute a new tensor "
        "(y = y + x), or write to a clone()",
        op.name, self.shape());
  return record;
}

// An integer tensor cannot be scaled by a fractional alpha (PyTorch: "For integral input
// tensors, argument alpha must not be a floating point number").
void check_alpha(const char* op, const Tensor& self, Scalar alpha) {
  if (alpha.is_floating() && !is_floating(self.dtype()))
    fail<ValueError>(
        "{}: alpha {} is a floating-point number but the tensor written is {} {}; pass an integer alpha, or "
        "convert the tensor first with .to(tg::kFloat32)",
        op, alpha.to_double(), self.dtype() == kInt64 ? "an int64 tensor" : "a bool tensor", self.shape());
}

// self = f(self, other) elementwise, other broadcast to self's shape, in self's dtype.
template <class F>
void write_binary(const char* op, Tensor& self, const Tensor& other, F f) {
  if (!(other.shape() == self.shape()) && !(broadcast_shapes(op, other.shape(), self.shape()) == self.shape()))
    fail<ShapeError>(
        "{}: the other operand of shape {} does not broadcast to the tensor written, of shape {}; only its dims of "
        "size 1 can be stretched (reshape it)",
        op, other.shape(), self.shape());
  Tensor holder;
  const Tensor& o = other.shape() == self.shape()
                        ? kernels::cast(other, self.dtype(), holder)
                        : (holder = kernels::cast(expand(other.detach(), self.shape()), self.dtype()));
  dispatch(self.dtype(), [&]<class T>() {
    T* p = self.data<T>();
    const T* q = o.data<T>();
    for (std::int64_t i = 0, n = self.numel(); i < n; ++i) p[i] = static_cast<T>(f(p[i], q[i]));
  });
}

// Note [y_before]: mul_ and div_ keep a copy of y's values before the write, which x's
// gradient reads (as PyTorch: a later write to y then leaves the entry valid). Under
// create_graph x's gradient is differentiated again, also with respect to y_before, so the
// copy carries y_before's history: the entry and output that computed y until the write moved
// it on, as PyTorch's SavedVariable keeps a saved tensor's grad_fn. The double backward then
// reaches y_before's producer through it; the first-order path is unchanged (no entry, one
// copy). Not a recorded clone(): its entry would hold y, whose entry holds the copy, a cycle
// that keeps every entry of a graph that is never backpropagated on the tape.
// In a dual level the copy also carries y_before's tangent: the JVP rule reads it, and a
// backward run in the level (forward over reverse) differentiates x's gradient along it.
Tensor copy_before_write(const OpInfo& op, const Tensor& self) {
  Tensor before = self.detach().clone();
  if (self.requires_grad()) {
    const TensorImpl& from = self.impl();
    TensorImpl& to = before.impl();
    to.requires_grad = true;
    to.history = from.history;
    to.tape = from.tape;
    to.op = from.op;
  }
  if (has_tangent(self)) detail::attach_tangent(op, before, tangent(self));
  return before;
}

// The tangent term of the other operand of an in-place write, stretched to the shape of the
// tensor written when it broadcasts (record_jvp wants the output's shape).
Tensor expanded(const Tensor& t, const Shape& shape) { return t.shape() == shape ? t : expand(t, shape); }

// self = f(self, c) elementwise, in self's dtype.
template <class F>
void write_scalar(Tensor& self, Scalar c, F f) {
  dispatch(self.dtype(), [&]<class T>() {
    T* p = self.data<T>();
    const T v = c.to<T>();
    for (std::int64_t i = 0, n = self.numel(); i < n; ++i) p[i] = static_cast<T>(f(p[i], v));
  });
}

}  // namespace

// y += alpha x
// dy_before = dy,  dx = alpha dy
// jvp: y' = y_before' + alpha x'
Tensor& Tensor::add_(const Tensor& other, Scalar alpha) {
  bool recorded = check_inplace(op::add_, *this, &other, nullptr);
  check_alpha("add_", *this, alpha);
  const double a = alpha.to_double();
  if (a == 1)
    write_binary("add_", *this, other, [](auto u, auto v) { return u + v; });
  else
    write_binary("add_", *this, other, [a](auto u, auto v) { return u + static_cast<decltype(u)>(a) * v; });
  bump_version();
  if (recorded)
    record(op::add_, {*this, other}, *this, {}, [alpha](BackwardContext& ctx) {
      ctx.accumulate(0, ctx.grad());
      if (ctx.needs(1)) ctx.accumulate(1, ctx.grad() * alpha);
    });
  if (has_tangent(*this, other))
    record_jvp(op::add_, *this, [&] {
      Tensor ts = tangent(*this), to = tangent(other);  // ts: y_before's (attached after the rule)
      if (!to.defined()) return ts;
      if (a != 1) to = to * alpha;
      return ts.defined() ? ts + to : expanded(to, shape());
    });
  return *this;
}

// y -= alpha x
// dy_before = dy,  dx = -alpha dy
// jvp: y' = y_before' - alpha x'
Tensor& Tensor::sub_(const Tensor& other, Scalar alpha) {
  bool recorded = check_inplace(op::sub_, *this, &other, nullptr);
  check_alpha("sub_", *this, alpha);
  const double a = alpha.to_double();
  write_binary("sub_", *this, other, [a](auto u, auto v) { return u - static_cast<decltype(u)>(a) * v; });
  bump_version();
  if (recorded)
    record(op::sub_, {*this, other}, *this, {}, [a](BackwardContext& ctx) {
      ctx.accumulate(0, ctx.grad());
      if (ctx.needs(1)) ctx.accumulate(1, ctx.grad() * -a);
    });
  if (has_tangent(*this, other))
    record_jvp(op::sub_, *this, [&] {
      Tensor ts = tangent(*this), to = tangent(other);
      if (!to.defined()) return ts;
      if (a != 1) to = to * alpha;
      return ts.defined() ? ts - to : expanded(-to, shape());
    });
  return *this;
}

// y *= x
// dy_before = dy * x,  dx = dy * y_before   (y_before: Note [y_before])
// jvp: y' = y_before' * x + y_before * x'
Tensor& Tensor::mul_(const Tensor& other) {
  bool recorded = check_inplace(op::mul_, *this, &other, nullptr);
  // x *= x writes x too: the rule reads its value before the write.
  const bool aliased = other.impl().storage == impl().storage;
  Tensor before = (recorded && other.requires_grad()) || has_tangent(other) || (aliased && has_tangent(*this))
                      ? copy_before_write(op::mul_, *this)
                      : Tensor();
  write_binary("mul_", *this, other, [](auto u, auto v) { return u * v; });
  bump_version();
  if (recorded)
    record(op::mul_, {*this, other}, *this, {saved_for(other, *this), before}, [](BackwardContext& ctx) {
      if (ctx.needs(0)) ctx.accumulate(0, ctx.grad() * ctx.saved(0));
      if (ctx.needs(1)) ctx.accumulate(1, ctx.grad() * ctx.saved(1));
    });
  if (has_tangent(*this, other))
    record_jvp(op::mul_, *this, [&] {
      Tensor ts = tangent(*this), to = tangent(other);
      return add_tangents(ts.defined() ? ts * (aliased ? before : other) : Tensor(),
                          to.defined() ? before * to : Tensor());
    });
  return *this;
}

// y /= x
// dy_before = dy / x,  dx = -dy * y_before / x^2
// jvp: y' = (y_before' - y * x') / x   (y the result)
// As PyTorch, x's gradient reads a copy of y_before rather than the result, so that a later
// in-place write to y (y /= x; y *= 3) does not invalidate this entry (Note [y_before]).
Tensor& Tensor::div_(const Tensor& other) {
  bool recorded = check_inplace(op::div_, *this, &other, nullptr, true);
  const bool aliased = other.impl().storage == impl().storage;  // x /= x: as in mul_
  Tensor before = (recorded && other.requires_grad()) || (aliased && has_tangent(*this))
                      ? copy_before_write(op::div_, *this)
                      : Tensor();
  write_binary("div_", *this, other, [](auto u, auto v) { return u / v; });
  bump_version();
  if (recorded)
    record(op::div_, {*this, other}, *this, {other, before}, [](BackwardContext& ctx) {
      if (ctx.needs(0)) ctx.accumulate(0, ctx.grad() / ctx.saved(0));
      if (ctx.needs(1)) ctx.accumulate(1, -(ctx.grad() * ctx.saved(1)) / (ctx.saved(0) * ctx.saved(0)));
    });
  if (has_tangent(*this, other))
    record_jvp(op::div_, *this, [&] {
      Tensor ts = tangent(*this), to = tangent(other);
      const Tensor& x = aliased ? before : other;
      if (!to.defined()) return ts / x;
      return (ts.defined() ? ts - *this * to : -(*this * to)) / x;
    });
  return *this;
}

// y += c,  y -= c:  dy_before = dy
// jvp: y' = y_before'
Tensor& Tensor::add_(Scalar other) {
  bool recorded = check_inplace(op::add_scalar_, *this, nullptr, &other);
  write_scalar(*this, other, [](auto u, auto v) { return u + v; });
  bump_version();
  if (recorded)
    record(op::add_scalar_, {*this}, *this, {}, [](BackwardContext& ctx) { ctx.accumulate(0, ctx.grad()); });
  if (has_tangent(*this)) record_jvp(op::add_scalar_, *this, [&] { return tangent(*this); });
  return *this;
}

Tensor& Tensor::sub_(Scalar other) {
  bool recorded = check_inplace(op::sub_scalar_, *this, nullptr, &other);
  write_scalar(*this, other, [](auto u, auto v) { return u - v; });
  bump_version();
  if (recorded)
    record(op::sub_scalar_, {*this}, *this, {}, [](BackwardContext& ctx) { ctx.accumulate(0, ctx.grad()); });
  if (has_tangent(*this)) record_jvp(op::sub_scalar_, *this, [&] { return tangent(*this); });
  return *this;
}

// y *= c:  dy_before = dy * c
// jvp: y' = y_before' * c
Tensor& Tensor::mul_(Scalar other) {
  bool recorded = check_inplace(op::mul_scalar_, *this, nullptr, &other);
  write_scalar(*this, other, [](auto u, auto v) { return u * v; });
  bump_version();
  if (recorded)
    record(op::mul_scalar_, {*this}, *this, {},
           [other](BackwardContext& ctx) { ctx.accumulate(0, ctx.grad() * other); });
  if (has_tangent(*this)) record_jvp(op::mul_scalar_, *this, [&] { return tangent(*this) * other; });
  return *this;
}

// y /= c:  dy_before = dy / c
// jvp: y' = y_before' / c
Tensor& Tensor::div_(Scalar other) {
  bool recorded = check_inplace(op::div_scalar_, *this, nullptr, &other, true);
  write_scalar(*this, other, [](auto u, auto v) { return u / v; });
  bump_version();
  if (recorded)
    record(op::div_scalar_, {*this}, *this, {},
           [other](BackwardContext& ctx) { ctx.accumulate(0, ctx.grad() / other); });
  if (has_tangent(*this)) record_jvp(op::div_scalar_, *this, [&] { return tangent(*this) / other; });
  return *this;
}

// y = max(y, 0) in place
// dy_before = dy * [y > 0]   (y after the write; see relu in unary.cpp, also for create_graph)
// jvp: y' = y_before' * [y > 0]
Tensor& Tensor::relu_() {
  bool recorded = check_inplace(op::relu_, *this, nullptr, nullptr);
  write_scalar(*this, 0, [](auto u, auto zero) { return u < zero ? zero : u; });  // NaN stays NaN
  bump_version();
  if (recorded)
    record(op::relu_, {*this}, *this, {*this}, [](BackwardContext& ctx) {
      if (ctx.create_graph()) return ctx.accumulate(0, where(ctx.saved(0) <= 0, 0, ctx.grad()));
      ctx.accumulate(0, kernels::zip("relu_", ctx.grad(), ctx.saved(0),
                                     [](auto g, auto r) { return r <= 0 ? decltype(g)(0) : g; }));
    });
  if (has_tangent(*this)) record_jvp(op::relu_, *this, [&] { return where(*this <= 0, 0, tangent(*this)); });
  return *this;
}

}  // namespace tg
