// SPDX-License-Identifier: MIT
// Around the core tape: grad mode, entry and tape ids, where gradients end up (leaves, hooks,
// retained gradients), and running one entry's backward alone for inspection.
#include <algorithm>
#include <atomic>

#include "autograd_detail.hpp"
#include "tapegrad/error.hpp"
#include "tapegrad/ops.hpp"

namespace tg {

namespace {

// True when no other handle or view shares t's data, so writing to it in place is safe.
bool sole_owner(const Tensor& t) { return t.impl_ptr().use_count() == 1 && t.impl().storage.use_count() == 1; }

// sum += g in place: the sums backward() keeps are private, float, and g has their shape
// and dtype almost always (the general case goes through add_).
void add_in_place(Tensor& sum, const Tensor& g) {
  TensorImpl &s = sum.impl(), &p = g.impl();
  if (!(s.shape == p.shape) || s.dtype != p.dtype || s.dtype == kBool || s.dtype == kInt64) {
    sum.add_(g);
    return;
  }
  const std::int64_t n = s.shape.numel();
  if (s.dtype == kFloat32) {
    float* a = static_cast<float*>(s.storage->data());
    const float* b = static_cast<const float*>(p.storage->data());
    for (std::int64_t i = 0; i < n; ++i) a[i] += b[i];
  } else {
    double* a = static_cast<double*>(s.storage->data());
    const double* b = static_cast<const double*>(p.storage->data());
    for (std::int64_t i = 0; i < n; ++i) a[i] += b[i];
  }
  s.storage->bump_version();
}

// A leaf's .grad += g, where .grad may still be empty. A gradient that is shared with
// anything else (an output gradient passed straight through, a user's tensor, another
// leaf's .grad) is copied before it is stored: the user and the optimizer write to
// .grad in place, and that must never reach someone else's data.
// With create_graph (grad mode on) the copy and the sum are recorded and out of place: .grad
// is then a tensor of the new graph, and no tensor that graph saved is written to.
void add_to_grad(Tensor& grad, Tensor g, bool create_graph) {
  if (!grad.defined()) {
    grad = sole_owner(g) ? std::move(g) : g.clone();  // without create_graph, clone() records nothing
    return;
  }
  if (create_graph || has_tangent(grad, g)) {  // recorded, or carrying tangents (forward over reverse)
    grad = grad + g;
    return;
  }
  add_in_place(grad, g);
}

}  // namespace

void TensorArgs::fail_index(std::size_t i) const {
  fail<ValueError>("TensorArgs: index {} is out of range for {} tensors; use an index below {}", i, size(), size());
}

namespace detail {

thread_local constinit DeadOutputs dead_outputs;

// Entry ids are unique across threads, so a tensor recorded on another thread's tape is
// never mistaken for one of ours. Each thread takes ids in blocks, so recording an op does
// not touch a shared atomic. They fit in 48 bits (history_of keeps 16 for the output).
std::uint64_t next_entry_id() {
  constexpr std::uint64_t kBlock = 1 << 16, kLimit = std::uint64_t{1} << 48;
  static std::atomic<std::uint64_t> next_block{1};
  thread_local std::uint64_t next = 0, end = 0;
  if (next == end) {
    next = next_block.fetch_add(kBlock, std::memory_order_relaxed);
    end = next + kBlock;
    if (end > kLimit)
      fail<AutogradError>("record: this process has used up the 2^48 tape entry ids; start a new process");
  }
  return next++;
}

// Tape ids are never reused, not even after a thread exits and a new thread's tape takes
// the old one's address: a tensor of a finished thread must not pass for one of ours.
std::uint32_t next_tape_id() {
  static std::atomic<std::uint32_t> next{1};
  std::uint32_t id = next.fetch_add(1, std::memory_order_relaxed);
  dead_outputs = {id, 0};
  return id;
}

void fail_other_tape(const char* op, const char* what, const TensorImpl& t) {
  const OpInfo* by = op_by_index(t.op);
  fail<AutogradError>(
      "{}: {} {} (computed by {}) was recorded on another thread's tape; a graph belongs to the thread "
      "that computed it. Use t.detach() to pass its values without a gradient, or run the whole forward and "
      "backward on one thread",
      op, what, t.shape, by ? by->name : "an op");
}

void fail_freed(const char* op, const std::string& what) {
  fail<AutogradError>(
      "{}: {}: the tape entries that computed it are not on this thread's tape any more. Either an earlier "
      "backward() freed them (pass retain_graph = true to the first backward() to go through the same graph twice) "
      "or the tape was cleared (recompute it)",
      op, what);
}

void fail_arity(const OpInfo& op, std::size_t inputs, std::size_t outputs) {
  if (inputs > Tape::kMaxArity || outputs > Tape::kMaxArity)
    fail<ValueError>(
        "{}: {} inputs and {} outputs in one tape entry, but an entry takes at most {} of each; split the "
        "op into several",
        op.name, inputs, outputs, Tape::kMaxArity);
  fail<AutogradError>("record: {} declares {} input(s) and {} output(s) but recorded {} and {}; fix its OpInfo",
                      op.name, op.num_inputs, op.num_outputs, inputs, outputs);
}

void fail_no_grad_input(const OpInfo& op, std::size_t k, const Tensor& t) {
  fail<AutogradError>(
      "{}: input {} ({} {}) requires grad, but {} gives it no gradient (it takes it as a constant: indices, a "
      "mask, weights or running statistics); pass it .detach() to use it as a constant",
      op.name, k, dtype_name(t.dtype()), t.shape(), op.name);
}

void fail_saved(const TapeEntry& e, std::size_t index, std::size_t k, const Tensor& t) {
  const SavedTensor& s = e.saved[k];
  if (!t.defined())
    fail<AutogradError>("backward: {} (tape entry #{}) saved its output {}, which is gone; recompute the graph",
                        e.op->name, index, s.output());
  std::string which = s.output() >= 0  ? fmt::format("its output {}", s.output())
                      : s.input() >= 0 ? fmt::format("its input {}", s.input())
                                       : fmt::format("the tensor at position {} of those it saved", k);
  if (!t.name().empty()) which += fmt::format(" ('{}')", t.name());
  fail<AutogradError>(
      "backward: one of the variables needed for gradient computation has been modified by an inplace operation: "
      "{} (tape entry #{}) saved {}, a {} tensor {}, at version {}, and it is at version {} now. Hint: find the "
      "in-place write (+=, add_, mul_, relu_, copy_, fill_, at(), an optimizer's step()) between the forward pass "
      "and backward(), and make it out of place (y = y + x) or do it after backward()",
      e.op->name, index, which, dtype_name(t.dtype()), t.shape(), s.version(), t.version());
}

Tensor seed_gradient(const Tensor& root, const Tensor& seed, bool create_graph) {
  // The usual seed, a 0-d one, is shared rather than made anew at every backward(): the
  // sums it may reach copy a shared gradient before they write to it (add_to, add_to_grad).
  thread_local const Tensor one32 = ones({}), one64 = ones({}, {.dtype = kFloat64});
  const TensorImpl& r = root.impl();
  if (!r.requires_grad)
    fail<AutogradError>(
        "backward: the tensor {} does not require grad and was not computed from one that does; call "
        "requires_grad_() on the leaves (parameters) before computing it, outside NoGradGuard",
        r.shape);
  if (seed.defined()) {
    if (!(seed.shape() == r.shape))
      fail<ShapeError>("backward: seed gradient has shape {} but the tensor has shape {}; pass a seed of shape {}",
                       seed.shape(), r.shape, r.shape);
    if (create_graph) return seed.dtype() == r.dtype ? seed : seed.to(r.dtype);
    return seed.detach().to(r.dtype);
  }
  if (r.shape.numel() != 1)
    fail<AutogradError>(
        "backward: grad can be implicitly created only for a one-element tensor, but this one has shape {}; "
        "pass a seed gradient of that shape, e.g. y.backward(tg::ones_like(y)), or reduce it with sum()",
        r.shape);
  if (r.shape.rank() == 0 && r.dtype == kFloat32) return one32;
  if (r.shape.rank() == 0 && r.dtype == kFloat64) return one64;
  return ones(r.shape, {.dtype = r.dtype});
}

void add_to(Tensor& sum, Tensor g) {
  if (!sum.defined()) {
    sum = std::move(g);
  } else if (has_tangent(sum, g)) {  // forward over reverse: the sum's tangent is the tangents' sum
    sum = sum + g;
  } else if (sole_owner(sum)) {
    add_in_place(sum, g);
  } else if (sole_owner(g) && g.shape() == sum.shape() && g.dtype() == sum.dtype()) {
    add_in_place(g, sum);  // the new gradient is backward's own: the sum moves into it
    sum = std::move(g);
  } else {
    sum = sum + g;
  }
}

bool has_leaf_hooks(const TensorImpl& leaf) {
  return leaf.meta && (!leaf.meta->hooks.empty() || !leaf.meta->post_accumulate_hooks.empty());
}

Tensor run_hooks(TensorImpl& t, Tensor g) {
  if (!t.meta) return g;
  for (const auto& [handle, hook] : t.meta->hooks) {
    Tensor r = hook(g);
    if (!r.defined()) continue;
    if (!(r.shape() == g.shape()))
      fail<ShapeError>(
          "backward: hook {} of a tensor {} returned a gradient of shape {}; a hook must return a tensor of the "
          "gradient's shape {} (or an undefined Tensor() to keep it)",
          handle, t.shape, r.shape(), g.shape());
    g = r.dtype() == t.dtype ? std::move(r) : r.to(t.dtype);
  }
  return g;
}

void retain(TensorImpl& t, const Tensor& g, bool create_graph) {
  if (t.meta && t.meta->retains_grad) add_to_grad(t.meta->grad, g, create_graph);
}

void deliver_to_leaf(const ImplPtr& leaf, Tensor g, bool create_graph) {
  add_to_grad(leaf->autograd_meta().grad, run_hooks(*leaf, std::move(g)), create_graph);
  if (leaf->meta->post_accumulate_hooks.empty()) return;
  Tensor handle(leaf);
  for (const auto& [id, hook] : leaf->meta->post_accumulate_hooks) hook(handle);
}

std::uint64_t take_dead_outputs(std::uint32_t tape) {
  if (tape != dead_outputs.tape) return 1;  // unknown: assume the walk may find something
  return std::exchange(dead_outputs.count, 0);
}

}  // namespace detail

// ---- leaves ----

// Leaves with hooks get their gradient of one backward() whole, as in PyTorch: it is summed
// here until the entry that uses the leaf last (the lowest index) has run.
void Tape::hold_leaves(std::size_t top, const std::vector<char>& used) {
  pending_.clear();
  if (detail::live_hooks.load(std::memory_order_relaxed) == 0) return;  // no leaf can have one
  for (std::size_t i = top + 1; i-- > 0;) {
    if (!used[i]) continue;
    for (const Edge& in : at(i).inputs) {
      if (!in.tensor.defined() || in.producer != 0 || !detail::has_leaf_hooks(in.tensor.impl())) continue;
      auto it = std::find_if(pending_.begin(), pending_.end(),
                             [&](const PendingLeaf& p) { return p.leaf == in.tensor.impl_ptr(); });
      if (it == pending_.end())
        pending_.push_back({in.tensor.impl_ptr(), Tensor(), i});
      else
        it->last_use = i;
    }
  }
  std::sort(pending_.begin(), pending_.end(),
            [](const PendingLeaf& a, const PendingLeaf& b) { return a.last_use < b.last_use; });
}

GradTarget* Tape::target_leaf(const TensorImpl* leaf) const {
  for (GradTarget& t : targets_)
    if (t.leaf.get() == leaf) return &t;
  return nullptr;
}

void Tape::send_to_leaf(const ImplPtr& leaf, Tensor grad) {
  if (!targets_.empty()) {  // tg::grad: a leaf it asked for captures its gradient; no .grad changes
    if (GradTarget* t = target_leaf(leaf.get())) add_grad(t->grad, std::move(grad));
    return;
  }
  for (PendingLeaf& p : pending_)
    if (p.leaf == leaf)
      return create_graph_ ? add_grad(p.grad, std::move(grad)) : detail::add_to(p.grad, std::move(grad));
  for (auto it = leaf_sums_.rbegin(); it != leaf_sums_.rend(); ++it)
    if (it->leaf == leaf)
      return create_graph_ ? add_grad(it->grad, std::move(grad)) : detail::add_to(it->grad, std::move(grad));
  // Note: a linear search, so the sums are kept for a few leaves only (models have tens of
  // parameter tensors); beyond them a gradient goes to .grad at once.
  if (leaf_sums_.size() < 64) return leaf_sums_.push_back({leaf, std::move(grad)});
  detail::deliver_to_leaf(leaf, std::move(grad), create_graph_);
}

void Tape::deliver_leaf_sums() {
  for (LeafSum& s : leaf_sums_) detail::deliver_to_leaf(s.leaf, std::move(s.grad), create_graph_);
  leaf_sums_.clear();
}

void Tape::release_leaves(std::size_t index) {
  while (!pending_.empty() && pending_.back().last_use == index) {
    PendingLeaf p = std::move(pending_.back());
    pending_.pop_back();
    if (p.grad.defined()) detail::deliver_to_leaf(p.leaf, std::move(p.grad), create_graph_);
  }
}

const Shape& BackwardContext::input_shape(std::size_t input) const {
  const Edge& in = entry_.inputs[input];
  if (in.tensor.defined()) return in.tensor.shape();
  auto out = entry_.outputs[0].tensor.lock();  // an in-place op's input: shaped as its output
  if (!in.needs_grad() || !out)
    fail<AutogradError>("backward: input {} of {} needs no gradient, so its shape was not kept", input,
                        entry_.op->name);
  return out->shape;  // the entry's output outlives the call: whoever consumed it holds it
}

// ---- inspection ----

const TapeEntry& Tape::entry(std::size_t index) const {
  if (index >= size_)
    fail<ValueError>("Tape::entry: no entry #{}; the tape has {} entries (0 to {})", index, size_,
                     static_cast<std::int64_t>(size_) - 1);
  return at(index);
}

void Tape::watch(const TensorImpl& t) {
  if (t.history == 0 || t.tape != id_) return;
  if (std::int64_t p = find(detail::entry_id(t.history)); p >= 0) at(static_cast<std::size_t>(p)).watched = true;
}

std::vector<Tensor> Tape::entry_backward(std::size_t index, std::span<const Tensor> grads) {
  if (index >= size_)
    fail<ValueError>("Tape::entry_backward: no entry #{}; the tape has {} entries (0 to {})", index, size_,
                     static_cast<std::int64_t>(size_) - 1);
  TapeEntry& e = at(index);
  if (!e.backward)
    fail<AutogradError>("Tape::entry_backward: entry #{} ({}) has no backward function left (its graph was freed)",
                        index, e.op->name);
  if (grads.size() != e.outputs.size())
    fail<ValueError>("Tape::entry_backward: entry #{} ({}) has {} output(s) but {} gradient(s) were given", index,
                     e.op->name, e.outputs.size(), grads.size());
  for (std::size_t k = 0; k < grads.size(); ++k)
    if (auto out = e.outputs[k].tensor.lock(); out && grads[k].defined() && !(out->shape == grads[k].shape()))
      fail<ShapeError>("Tape::entry_backward: entry #{} ({}) has output shape {} but the gradient given has shape {}",
                       index, e.op->name, out->shape, grads[k].shape());
  std::vector<Tensor> results(e.inputs.size());
  NoGradGuard no_grad;
  for (std::size_t k = 0; k < grads.size(); ++k) e.outputs[k].grad = grads[k];
  BackwardContext ctx(*this, e, index, results.data());
  try {
    e.backward(ctx);
  } catch (...) {
    for (EntryOutput& o : e.outputs) o.grad = Tensor();
    throw;
  }
  for (EntryOutput& o : e.outputs) o.grad = Tensor();
  return results;
}

}  // namespace tg
