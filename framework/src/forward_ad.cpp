// SPDX-License-Identifier: MIT
// Forward mode: dual levels, make_dual, unpack_dual and the tangents ops attach (forward_ad.hpp).
#include "tapegrad/forward_ad.hpp"

#include <algorithm>
#include <atomic>

#include "tapegrad/error.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/registry.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace {

std::atomic<std::uint64_t> next_level{1};

// The tensors given a tangent at this thread's active level: their tangents are dropped when
// it ends (Note [levels]), so that nothing outlives the level holding a tangent.
thread_local std::vector<WeakImplPtr> duals;
thread_local std::size_t compact_duals_at = 1024;

// Remembers t as holding a tangent of the active level. A long level (a training loop run
// inside one) would grow the list without bound, so it drops the tensors that are gone
// whenever it has doubled.
void remember(const ImplPtr& t) {
  if (duals.size() >= compact_duals_at) {
    std::erase_if(duals, [](const WeakImplPtr& w) { return w.expired(); });
    compact_duals_at = std::max<std::size_t>(1024, 2 * duals.size());
  }
  duals.emplace_back(t);
}

}  // namespace

namespace detail {

const Tensor* find_tangent(const Tensor& t) {
  const TensorImpl& impl = t.impl();
  if (!impl.meta || dual_level == 0 || impl.meta->tangent_level != dual_level) return nullptr;
  return &impl.meta->tangent;
}

void attach_tangent(const OpInfo& op, const Tensor& output, Tensor tangent) {
  if (!tangent.defined()) return;
  if (tangent.shape() != output.shape())
    fail<AutogradError>(
        "{}: its JVP rule computed a tangent of shape {} for an output of shape {}; the rule must return one "
        "tangent per output, shaped like it",
        op.name, tangent.shape(), output.shape());
  if (!is_floating(output.dtype())) return;  // integer and bool outputs carry no tangent
  if (tangent.dtype() != output.dtype()) tangent = tangent.to(output.dtype());
  TensorImpl& impl = output.impl();
  AutogradMeta& meta = impl.autograd_meta();
  if (meta.tangent_level != dual_level) remember(output.impl_ptr());
  meta.tangent = std::move(tangent);
  meta.tangent_level = dual_level;
}

}  // namespace detail

DualLevel::DualLevel() {
  if (detail::dual_level != 0)
    fail<AutogradError>(
        "DualLevel: a dual level is active on this thread already; nested forward-mode levels are not supported "
        "(as in PyTorch's forward_ad): end the first level before entering another");
  id_ = next_level.fetch_add(1, std::memory_order_relaxed);
  detail::dual_level = id_;
  detail::forward_ad = true;
}

DualLevel::~DualLevel() {
  for (WeakImplPtr& w : duals)
    if (ImplPtr p = w.lock(); p && p->meta && p->meta->tangent_level == id_) {
      p->meta->tangent = Tensor();
      p->meta->tangent_level = 0;
    }
  duals.clear();
  compact_duals_at = 1024;
  detail::dual_level = 0;
  detail::forward_ad = false;
  // Note [levels]: the entries that computed the tangents just dropped are dead now.
  if (Tape& tape = Tape::current(); !tape.in_backward()) tape.prune();
}

namespace {

void check_dual(const char* op, const Tensor& primal, const Tensor& tangent) {
  if (!primal.defined() || !tangent.defined())
    fail<ValueError>("{}: got an undefined {}; pass a defined primal and tangent", op,
                     primal.defined() ? "tangent" : "primal");
  if (detail::dual_level == 0)
    fail<AutogradError>(
        "{}: no dual level is active; create a tg::DualLevel first (as `with forward_ad.dual_level():`)", op);
  if (!is_floating(primal.dtype()))
    fail<DtypeError>("{}: the primal is {}; only float32 and float64 tensors carry tangents", op,
                     dtype_name(primal.dtype()));
  if (tangent.shape() != primal.shape())
    fail<ShapeError>("{}: the tangent has shape {} but the primal {}; give a tangent shaped like the primal", op,
                     tangent.shape(), primal.shape());
  if (tangent.dtype() != primal.dtype())
    fail<DtypeError>("{}: the tangent is {} but the primal {}; convert it with .to({})", op,
                     dtype_name(tangent.dtype()), dtype_name(primal.dtype()), dtype_name(primal.dtype()));
}

}  // namespace

Tensor make_dual(const Tensor& primal, const Tensor& tangent) {
  check_dual("make_dual", primal, tangent);
  Tensor dual = alias(primal);
  detail::attach_tangent(op::alias, dual, tangent);
  return dual;
}

void set_tangent(const Tensor& t, const Tensor& tangent) {
  check_dual("set_tangent", t, tangent);
  detail::attach_tangent(op::alias, t, tangent);
}

UnpackedDual unpack_dual(const Tensor& t) {
  if (!t.defined()) return {};
  Tensor tan = tg::tangent(t);
  if (!tan.defined()) return {t, Tensor()};
  ForwardADSuspend suspend;
  return {alias(t), tan};  // the primal as a view without the tangent, as PyTorch's unpack_dual
}

bool has_tangent(std::span<const Tensor> inputs) {
  if (!detail::forward_ad) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && detail::find_tangent(t)) return true;
  return false;
}

Tensor tangent_or_zeros(const Tensor& t) {
  Tensor tan = tangent(t);
  return tan.defined() ? tan : zeros_like(t);
}

Tensor add_tangents(Tensor a, const Tensor& b) {
  if (!a.defined()) return b;
  if (!b.defined()) return a;
  // In place when a is ours alone (no other handle, no view of its storage), already the sum's
  // shape and dtype, and nothing records: one pass and no new buffer, the common case of a JVP
  // rule's two terms (conv2d(x', W) + conv2d(x, W')).
  const bool sole = a.impl_ptr().use_count() == 1 && a.impl().storage.use_count() == 1;
  if (sole && !should_record(a, b) && !has_tangent(a, b) && a.dtype() == b.dtype() && a.shape() == b.shape()) {
    a.add_(b);
    return a;
  }
  return a + b;
}

}  // namespace tg
