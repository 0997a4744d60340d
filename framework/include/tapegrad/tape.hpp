// SPDX-License-Identifier: MIT
#pragma once
// The tape: a Wengert list of the operations that need gradients, in the order they ran.
//
// Note [why a tape and not a graph sort]: an op can only use tensors that already exist, so
// the order in which entries are appended is already a topological order of the computation.
// backward() is therefore one loop over the entries in reverse, and every entry runs after
// all the entries that consume its outputs, so their gradients are complete when its turn
// comes. No visited sets, no recursion, no sort.
//
// This header is the core: the entry, record(), backward() and what op authors use. What
// watches the tape (anomaly mode, traces, the growth warning, module paths) is in
// observer.hpp; what reads it (printing, graphs, gradient paths) in inspect.hpp.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tapegrad/forward_ad.hpp"
#include "tapegrad/inline_function.hpp"
#include "tapegrad/op_info.hpp"
#include "tapegrad/small_vector.hpp"
#include "tapegrad/tensor.hpp"

namespace tg {

class BackwardContext;
class Tape;
class TapeObserver;

// Maps the gradients of an entry's outputs to gradients of its inputs, through the
// BackwardContext. It keeps small captures (a dim, a number) inline; tensors it needs are
// declared as saved tensors when the op records, never captured.
using BackwardFn = InlineFunction<void(BackwardContext&), 24>;

// The tensors an op hands to record(): a braced list at the call site, record(op, {a, b}, ...),
// or a span for a list of any length. Nothing is copied (a Tensor copy is an atomic update).
class TensorArgs {
 public:
  TensorArgs(std::initializer_list<std::reference_wrapper<const Tensor>> list) : list_(list) {}  // NOLINT: braced lists
  TensorArgs(std::span<const Tensor> tensors) : span_(tensors) {}                                // NOLINT
  TensorArgs(const std::vector<Tensor>& tensors) : span_(tensors) {}                             // NOLINT
  std::size_t size() const { return list_.size() + span_.size(); }
  const Tensor& operator[](std::size_t i) const {
    if (i >= size()) fail_index(i);
    return span_.empty() ? list_.begin()[i].get() : span_[i];
  }

 private:
  [[noreturn]] void fail_index(std::size_t i) const;
  std::initializer_list<std::reference_wrapper<const Tensor>> list_;
  std::span<const Tensor> span_;
};

// An input of an entry, as backward needs it.
struct Edge {
  // The input itself when it needs a gradient; undefined for one that needs none (a constant)
  // and for the entry's own output (an in-place op's input: holding it would keep it alive
  // forever).
  Tensor tensor;
  // The entry (and output) that computed it, as TensorImpl::history when recorded; 0: a leaf.
  std::uint64_t producer = 0;
  bool needs_grad() const { return tensor.defined() || producer != 0; }
};

// An output of an entry.
struct EntryOutput {
  // Weak: an output nobody holds can never get a gradient, so its entry can be dropped.
  WeakImplPtr tensor;
  Tensor grad;  // backward()'s sum of the gradients that reached it
};

// Note [saved tensors]: an op declares the tensors its backward reads when it records, and
// backward unpacks them through BackwardContext::saved(). Each remembers its version
// (storage.hpp), so that backward refuses one written in place since. A saved output of the
// entry is not held (that would be a cycle that keeps discarded results alive forever): it
// is unpacked from the entry's own output, which backward can always reach, since whoever
// consumed the output holds it. The printed tape's saved bytes come from this list.
class SavedTensor {
 public:
  SavedTensor() = default;  // nothing saved (an undefined tensor: a gradient that is not needed)
  // t, which is the entry's output `output` or its input `input` (held by the input's edge)
  // when either is >= 0, and is held here otherwise.
  SavedTensor(const Tensor& t, int output, int input)
      : tensor_(output < 0 && input < 0 ? t : Tensor()),
        version_(t.defined() ? t.version() : 0),
        output_(static_cast<std::int16_t>(t.defined() ? output : -1)),
        input_(static_cast<std::int16_t>(t.defined() ? input : -1)) {}
  bool defined() const { return tensor_.defined() || output_ >= 0 || input_ >= 0; }
  int output() const { return output_; }  // -1: not an output of the entry
  int input() const { return input_; }    // -1: not held by an input's edge
  std::uint32_t version() const { return version_; }
  const Tensor& tensor() const { return tensor_; }  // when held here

 private:
  Tensor tensor_;
  std::uint32_t version_ = 0;
  std::int16_t output_ = -1, input_ = -1;
};

struct TapeEntry {
  std::uint64_t id = 0;  // increasing along the tape; unique among every tape of the process
  const OpInfo* op = nullptr;
  SmallVector<Edge, 2> inputs;  // in the op's argument order
  SmallVector<EntryOutput, 1> outputs;
  SmallVector<SavedTensor, 2> saved;
  BackwardFn backward;
  // Some output has a hook or retain_grad(): backward() looks at the outputs only then.
  bool watched = false;
  // Note [recording backward]: 0 for an entry the forward pass recorded; for one that a
  // backward with create_graph recorded, the id of the entry whose backward function ran
  // (the printed tape, the DOT graph and the trace mark it, so that the double-backward
  // graph can be seen growing).
  std::uint64_t made_by = 0;
};

// What tg::grad asks a backward sweep for: the gradient of each of these tensors, captured
// instead of added to any .grad (autograd.hpp).
struct GradTarget {
  ImplPtr leaf;               // a leaf input
  std::uint64_t history = 0;  // a non-leaf input: the entry output that computed it
  Tensor grad;                // the sum of what reached it; undefined if nothing did
};

// What a backward function reads and writes: the gradients of the entry's outputs, its saved
// tensors, and one accumulate() per input that needs a gradient.
class BackwardContext {
 public:
  BackwardContext(Tape& tape, TapeEntry& entry, std::size_t index, Tensor* results = nullptr)
      : tape_(tape), entry_(entry), index_(index), results_(results) {}
  // dL/d(output k); undefined when no gradient reached that output.
  const Tensor& grad(std::size_t output = 0) const { return entry_.outputs[output].grad; }
  // Saved tensor k (Note [saved tensors]); AutogradError if it was written in place since.
  const Tensor& saved(std::size_t k) const;
  bool needs(std::size_t input) const { return entry_.inputs[input].needs_grad(); }
  // The shape of an input that needs a gradient (what its gradient must have).
  const Shape& input_shape(std::size_t input) const;
  // Adds `grad` to the gradient of input `input`, after summing it to the input's shape
  // (undoing broadcasting) and converting it to the input's dtype, so no op has to.
  void accumulate(std::size_t input, Tensor grad);
  const TapeEntry& entry() const { return entry_; }
  std::size_t index() const { return index_; }
  // True when this backward records itself (create_graph): the gradients must then be
  // computed with registry ops (or kernel ops with their own entry), so that a second backward
  // can differentiate them; otherwise a fused kernel may compute them directly.
  bool create_graph() const;

 private:
  Tape& tape_;
  TapeEntry& entry_;
  std::size_t index_;
  Tensor* results_;                         // Tape::entry_backward: gradients go here, one per input, and nowhere else
  mutable SmallVector<Tensor, 1> outputs_;  // the entry's outputs, when saved() unpacks one
};

// Note [one tape per thread]: two threads can train independent models at the same time
// without locks, because each records on, and backward() replays, its own tape. A tensor
// computed on one thread belongs to that thread's tape: an op on another thread that takes
// it as an input requiring grad, or a backward() from it on another thread, throws
// AutogradError instead of reading entries that the first thread may be freeing. Leaves
// (parameters, data) can be shared for reading; see docs/reliability.md.
class Tape {
 public:
  Tape();
  ~Tape();
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;
  static Tape& current() { return current_ ? *current_ : make_current(); }  // this thread's tape
  std::uint32_t id() const { return id_; }  // unique among the tapes of the process, never 0

  static constexpr std::size_t kMaxArity = 0x7fff;  // inputs or outputs of one entry (SavedTensor's indices)

  std::size_t size() const { return size_; }
  const TapeEntry& entry(std::size_t index) const;  // ValueError beyond size()
  // Drops every entry; tensors computed so far can no longer be backpropagated through.
  void clear();
  // Drops the entries whose outputs are all gone. record() does it whenever the tape has
  // doubled; a DualLevel does it as it ends, since the entries that computed the tangents it
  // drops are consumed by no backward (Note [levels] in forward_ad.hpp). Not during a sweep.
  void prune();

  void record(const OpInfo& op, TensorArgs inputs, std::span<Tensor> outputs, std::span<const Tensor> saved,
              BackwardFn&& backward, std::uint32_t no_grad_outputs = 0);
  void backward(const Tensor& root, const Tensor& seed, bool retain_graph);
  // The general sweep: from several roots, each with its seed (undefined: 1 for a scalar);
  // with create_graph, the backward functions run with recording on, so the gradients are
  // new entries of this tape (Note [recording backward]); with targets, the gradients of
  // those tensors are captured into them and no .grad changes (tg::grad).
  void backward(std::span<const Tensor> roots, std::span<const Tensor> seeds, bool retain_graph, bool create_graph,
                std::span<GradTarget> targets = {});
  // True while a backward sweep of this tape runs (and records, with create_graph).
  bool in_backward() const { return sweeping_; }
  // From a hook during backward(): runs f once this backward() has delivered every leaf's
  // gradient, before it returns, as PyTorch's engine queue_callback. Callbacks run in the
  // order queued; one that throws ends backward() with its exception (the others are dropped).
  // A data-parallel wrapper waits there for the gradients it is still sending.
  // AutogradError outside a backward.
  void queue_callback(std::function<void()> f);

  // The index of the entry with this id, searching below `below`; -1 if it is not there.
  std::int64_t find(std::uint64_t id, std::size_t below) const;
  std::int64_t find(std::uint64_t id) const { return find(id, size_); }
  // used[i] = 1 for the entries that entry `top` depends on, `top` included; AutogradError,
  // naming `op`, if one of them is gone. The one walk over the tape from a root: backward(),
  // printing, graphs, gradient paths and adjoint_check all take it.
  void reachable(std::size_t top, const char* op, std::vector<char>& used) const;
  // Runs entry `index`'s backward alone on the given output gradients and returns each
  // input's gradient (undefined where none). Nothing accumulates, no hook runs, the entry
  // stays. For inspection: gradient_paths, adjoint_check.
  std::vector<Tensor> entry_backward(std::size_t index, std::span<const Tensor> grads);
  // Marks the entry that computed t (on this tape) as having an output with a hook or a
  // retained gradient, so that backward() looks at its outputs (Tensor::register_hook).
  void watch(const TensorImpl& t);

  // Observers (observer.hpp) of this tape; each is called for the events it asked for.
  void add_observer(TapeObserver& observer);
  void remove_observer(TapeObserver& observer);
  const std::vector<TapeObserver*>& observers() const { return observers_; }

 private:
  friend class BackwardContext;
  // current() without the guard a thread_local with a constructor needs on every access:
  // set when this thread's tape is made, cleared when it is destroyed.
  static inline thread_local Tape* current_ = nullptr;
  static Tape& make_current();
  TapeEntry& at(std::size_t index) { return chunks_[index >> kChunkBits][index & (kChunkSize - 1)]; }
  const TapeEntry& at(std::size_t index) const { return chunks_[index >> kChunkBits][index & (kChunkSize - 1)]; }
  TapeEntry& append();
  void compact(const std::vector<char>& drop);  // drops entry i where drop[i] is set
  void run_entry(std::size_t index, bool propagate = true);
  void sweep(std::size_t top);
  [[noreturn]] static void fail_nested();
  void mark_needed(std::size_t top);
  void walk(std::size_t top, const char* op, std::vector<char>& used)
      const;  // reachable() from the marks in used  // needed_: the entries through which a target is reached
  void add_grad(Tensor& sum, Tensor g) const;
  GradTarget* target_leaf(const TensorImpl* leaf) const;
  void hold_leaves(std::size_t top, const std::vector<char>& used);
  void send_to_leaf(const ImplPtr& leaf, Tensor grad);
  void release_leaves(std::size_t index);

  // Note [a tape in chunks]: entries live in chunks of 1024 that never move, so that a long
  // tape grows without copying itself; chunks emptied by backward() are kept for the next
  // graph, as a vector keeps its capacity.
  static constexpr std::size_t kChunkBits = 10, kChunkSize = std::size_t{1} << kChunkBits;
  std::vector<TapeEntry*> chunks_;
  std::size_t size_ = 0;
  std::uint32_t id_;
  std::size_t prune_at_;
  std::size_t since_backward_ = 0;  // entries recorded since the last backward()
  std::vector<TapeObserver*> observers_;
  std::unique_ptr<TapeObserver> growth_warning_;  // installed by default (observer.hpp)
  bool watch_records_ = false, watch_backward_ = false;
  std::vector<char> used_;  // backward()'s scratch, kept between calls
  // The sweep in progress: it records with create_graph (pruning waits until it is over, so
  // that entries do not move under it), and captures into targets_ for tg::grad.
  bool sweeping_ = false, create_graph_ = false;
  // queue_callback(): open from the start of a backward() until its callbacks have run.
  bool callbacks_open_ = false;
  std::vector<std::function<void()>> callbacks_;
  void run_callbacks();
  struct CallbackScope;
  std::uint64_t recording_for_ = 0;  // the entry whose backward function is recording
  std::span<GradTarget> targets_;
  std::vector<char> needed_;
  // Leaves with hooks get their gradient of this backward() whole, once its last user has run.
  struct PendingLeaf {
    ImplPtr leaf;
    Tensor grad;
    std::size_t last_use;
  };
  std::vector<PendingLeaf> pending_;  // sorted by last_use, the first to finish last
  // Note [leaf sums]: the other leaves' gradients of this backward() are summed here and
  // stored in .grad once the sweep is over, as PyTorch's input buffers sum them before
  // AccumulateGrad: the sum is then backward's own, so it becomes .grad without a copy.
  struct LeafSum {
    ImplPtr leaf;
    Tensor grad;
  };
  std::vector<LeafSum> leaf_sums_;
  void deliver_leaf_sums();
};

// ---- grad mode ----
// Per thread, as in PyTorch. Inline: every op asks, and a constant-initialised thread_local
// is one load.
namespace detail {
inline thread_local bool grad_enabled = true;
}  // namespace detail
inline bool is_grad_enabled() { return detail::grad_enabled; }
inline void set_grad_enabled(bool enabled) { detail::grad_enabled = enabled; }

// Disables recording in its scope, like torch.no_grad(): for evaluation and optimizer steps.
class NoGradGuard {
 public:
  NoGradGuard() : previous_(is_grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Also inside a dual level: the gradients are then computed with registry ops, whose JVP
// rules carry the tangents of the saved tensors into them (forward over reverse).
inline bool BackwardContext::create_graph() const { return is_grad_enabled() || detail::forward_ad; }

// Enables recording in its scope even inside NoGradGuard, like torch.enable_grad().
class EnableGradGuard {
 public:
  EnableGradGuard() : previous_(is_grad_enabled()) { set_grad_enabled(true); }
  ~EnableGradGuard() { set_grad_enabled(previous_); }
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool previous_;
};

// ---- for op authors (docs/autograd.md, "How to add an op") ----
// True when grad mode is on and at least one input requires a gradient.
template <class... Ts>
bool should_record(const Ts&... inputs) {
  return is_grad_enabled() && ((inputs.defined() && inputs.requires_grad()) || ...);
}

// t, if the gradient of `input` will be computed, else an undefined tensor: an op saves what
// the gradients it computes read, and nothing more. mul saves b only if a needs a gradient:
//   record(op::mul, {a, b}, y, {saved_for(b, a), saved_for(a, b)}, ...)
inline Tensor saved_for(const Tensor& t, const Tensor& input) { return input.requires_grad() ? t : Tensor(); }

// Appends an entry for `output` = op(inputs) to this thread's tape: `saved` are the tensors
// its backward reads (in order, through BackwardContext::saved; one of them may be `output`
// itself), and `backward` computes the inputs' gradients. Marks `output` as requiring grad
// and computed by the entry. Call it only when should_record(inputs...) is true.
inline void record(const OpInfo& op, TensorArgs inputs, Tensor& output, std::initializer_list<Tensor> saved,
                   BackwardFn&& backward) {
  Tape::current().record(op, inputs, std::span<Tensor>(&output, 1),
                         std::span<const Tensor>(saved.begin(), saved.size()), std::move(backward));
}
// The same for an op with several outputs; those marked in no_grad_outputs (or the op's
// OpInfo::no_grad_outputs) get no history and no gradient.
inline void record(const OpInfo& op, TensorArgs inputs, std::span<Tensor> outputs, std::span<const Tensor> saved,
                   BackwardFn&& backward, std::uint32_t no_grad_outputs = 0) {
  Tape::current().record(op, inputs, outputs, saved, std::move(backward), no_grad_outputs);
}

}  // namespace tg
