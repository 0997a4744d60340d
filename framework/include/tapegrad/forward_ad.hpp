// SPDX-License-Identifier: MIT
#pragma once
// Forward mode: dual tensors, as PyTorch's torch.autograd.forward_ad.
//
// A tangent is carried beside a tensor's value. Inside a dual level, every op whose inputs
// carry tangents computes the tangent of its output with its JVP rule, in the same forward
// pass: after
//
//   tg::DualLevel level;
//   tg::Tensor x = tg::make_dual(x0, v);   // x0 moved along v
//   tg::Tensor y = f(x);
//   tg::Tensor jv = tg::unpack_dual(y).tangent;
//
// jv is J v, the directional derivative of f at x0 along v, computed in one forward pass
// (reverse mode gives J^T u, one backward pass per output direction u).
//
// Note [levels]: a level is a scope; the tangents made in it are dropped when it ends, so
// that a tensor that outlives it is a plain tensor again. As in PyTorch, one level is active
// at a time on a thread (nesting one is an AutogradError). Forward mode nests over reverse
// mode instead: tangents are computed with ordinary (recorded) ops, so a backward pass
// differentiates through them, and a backward pass run inside a level computes the tangents
// of the gradients it produces (forward over reverse: tg::hvp with AdMode::Forward).
// Under grad mode the ops that compute tangents are recorded, and no backward consumes those
// entries unless the tangent is differentiated; so a level that ends also prunes this
// thread's tape of the entries its dropped tangents leave dead. (Left to the tape's own
// pruning, which waits for the tape to double, a loop of forward-over-reverse steps held
// about 60 MB more per LeNet step, up to gigabytes.)
//
// Note [JVP rules]: each op computes its output's tangent right after its value, beside the
// record() of its backward (both need the op's arguments: dims, strides, a slope), with
//   if (has_tangent(a, b)) record_jvp(op::mul, y, [&] { return tangent(a) * b + a * tangent(b); });
// The rule runs with forward mode suspended (so its own ops compute no tangents of tangents)
// and with grad mode as it was (so it is recorded when its inputs require grad). The
// registry's OpInfo::jvp states each rule in words; the JVP sweep in the tests checks every
// op's rule against its backward by the dot-product test.
#include <cstdint>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "tapegrad/tensor.hpp"

namespace tg {

struct OpInfo;

namespace detail {
// The active dual level of this thread (0: none), and whether ops compute tangents now (a
// level is active and no JVP rule is running).
inline thread_local std::uint64_t dual_level = 0;
inline thread_local bool forward_ad = false;
const Tensor* find_tangent(const Tensor& t);  // t's tangent at the active level, or nullptr
void attach_tangent(const OpInfo& op, const Tensor& output, Tensor tangent);
}  // namespace detail

// A forward-mode scope, as `with torch.autograd.forward_ad.dual_level():`.
class DualLevel {
 public:
  DualLevel();
  ~DualLevel();
  DualLevel(const DualLevel&) = delete;
  DualLevel& operator=(const DualLevel&) = delete;
  // The active level's id on this thread; 0 outside every level.
  static std::uint64_t current() { return detail::dual_level; }

 private:
  std::uint64_t id_;
};

// A tensor with primal's value and `tangent` as its tangent at the active level (a view of
// primal: the same data, and a backward pass through it reaches primal). The tangent must
// have primal's shape and dtype (a ShapeError or DtypeError otherwise); outside a level it is
// an AutogradError.
Tensor make_dual(const Tensor& primal, const Tensor& tangent);

// Gives t itself `tangent` at the active level, until the level ends (no view): the way to move
// a module's parameters, which the module holds, along a direction without rebuilding it:
//   tg::DualLevel level;
//   for (std::size_t k = 0; k < params.size(); ++k) tg::set_tangent(params[k], v[k]);
//   tg::Tensor jv = tg::tangent(tg::cross_entropy(net(images), labels));  // the loss along v
// The same checks as make_dual.
void set_tangent(const Tensor& t, const Tensor& tangent);

// The value of a dual tensor and its tangent (undefined when it has none at the active level).
struct UnpackedDual {
  Tensor primal;
  Tensor tangent;
};
UnpackedDual unpack_dual(const Tensor& t);

// ---- for op authors (docs/autograd.md, "How to add an op") ----
// True when forward mode is on and some input carries a tangent at the active level.
template <class... Ts>
bool has_tangent(const Ts&... inputs) {
  return detail::forward_ad && ((inputs.defined() && detail::find_tangent(inputs) != nullptr) || ...);
}
bool has_tangent(std::span<const Tensor> inputs);
// The tangent of t at the active level (also inside a JVP rule), or an undefined Tensor.
inline Tensor tangent(const Tensor& t) {
  const Tensor* p = t.defined() ? detail::find_tangent(t) : nullptr;
  return p ? *p : Tensor();
}
// The tangent of t, or zeros of t's shape and dtype when it has none.
Tensor tangent_or_zeros(const Tensor& t);
// a + b where either may be undefined (a term of a rule whose input has no tangent). Taken by
// value: when nothing records and nothing else holds a (pass a temporary, or std::move a
// variable), b is added into a's buffer instead of a new one.
Tensor add_tangents(Tensor a, const Tensor& b);

// Suspends forward mode in its scope: what a JVP rule computes carries no tangent itself.
class ForwardADSuspend {
 public:
  ForwardADSuspend() : previous_(detail::forward_ad) { detail::forward_ad = false; }
  ~ForwardADSuspend() { detail::forward_ad = previous_; }
  ForwardADSuspend(const ForwardADSuspend&) = delete;
  ForwardADSuspend& operator=(const ForwardADSuspend&) = delete;

 private:
  bool previous_;
};

// Runs `rule` (returning the output's tangent) with forward mode suspended and gives its
// result to `output` as its tangent; checked against the output's shape, converted to its
// dtype. Call it only when has_tangent(inputs...) is true.
template <class Rule>
void record_jvp(const OpInfo& op, const Tensor& output, Rule&& rule) {
  Tensor t;
  {
    ForwardADSuspend suspend;
    t = std::forward<Rule>(rule)();
  }
  detail::attach_tangent(op, output, std::move(t));
}
// The same for an op with several outputs: `rule` returns one tangent per output (undefined
// for one that carries none, such as the indices of a max).
template <class Rule>
void record_jvp(const OpInfo& op, std::span<const Tensor> outputs, Rule&& rule) {
  std::vector<Tensor> t;
  {
    ForwardADSuspend suspend;
    t = std::forward<Rule>(rule)();
  }
  for (std::size_t k = 0; k < outputs.size() && k < t.size(); ++k)
    if (t[k].defined()) detail::attach_tangent(op, outputs[k], std::move(t[k]));
}

}  // namespace tg
