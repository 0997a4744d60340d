// SPDX-License-Identifier: MIT
#pragma once
// What the core tape (tape.cpp) uses from around it (gradients.cpp): ids, the sums that
// gradients go into, hooks, and the errors for a tape that is not ours.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "tapegrad/tape.hpp"

namespace tg::detail {

// TensorImpl::history and Edge::producer: an entry id and an output index in one word.
constexpr std::uint64_t history_of(std::uint64_t id, std::size_t output) { return id << 16 | output; }
constexpr std::uint64_t entry_id(std::uint64_t history) { return history >> 16; }
constexpr std::size_t output_index(std::uint64_t history) { return history & 0xffff; }

// Entry ids increase along every tape and are unique across tapes; tape ids are never reused.
std::uint64_t next_entry_id();
std::uint32_t next_tape_id();

// The error for a tensor that requires grad and was computed on another thread's tape.
[[noreturn]] void fail_other_tape(const char* op, const char* what, const TensorImpl& t);
// The error for a record() whose numbers of inputs and outputs are not its OpInfo's.
[[noreturn]] void fail_arity(const OpInfo& op, std::size_t inputs, std::size_t outputs);
// An input that requires grad where the op declares it gets none (OpInfo::no_grad_inputs):
// refused rather than silently left without a gradient.
[[noreturn]] void fail_no_grad_input(const OpInfo& op, std::size_t k, const Tensor& t);
// The error for an entry of the root's graph that is no longer on the tape.
[[noreturn]] void fail_freed(const char* op, const std::string& what);

// The error for saved tensor k of entry #index: gone (`t` undefined), or written in place
// since it was saved.
[[noreturn]] void fail_saved(const TapeEntry& e, std::size_t index, std::size_t k, const Tensor& t);

// The gradient backward() starts from: `seed` checked against the root, or 1 for a scalar.
// With create_graph the seed keeps its own history (a gradient of a gradient may be seeded
// by a tensor that requires grad); otherwise it is detached.
Tensor seed_gradient(const Tensor& root, const Tensor& seed, bool create_graph = false);

// sum += g for backward()'s private sums: g is kept as it is (shared or not); a second
// contribution is added in place only when nothing else holds the sum's buffer.
void add_to(Tensor& sum, Tensor g);
// The leaf's hooks on g, g into its .grad, then its post-accumulate hooks. With
// create_graph the sum is out of place and recorded, as PyTorch's AccumulateGrad does in grad
// mode, so that .grad is itself differentiable.
void deliver_to_leaf(const ImplPtr& leaf, Tensor g, bool create_graph = false);
bool has_leaf_hooks(const TensorImpl& leaf);
// g after each of t's hooks (a defined result replaces it).
Tensor run_hooks(TensorImpl& t, Tensor g);
// .grad += g for a non-leaf that retains its gradient.
void retain(TensorImpl& t, const Tensor& g, bool create_graph = false);

// ~TensorImpl tells its thread's tape that an output died, so that pruning walks the tape
// only when it can find something to drop.
struct DeadOutputs {
  std::uint32_t tape = 0;  // this thread's tape
  std::uint64_t count = 0;
};
extern thread_local constinit DeadOutputs dead_outputs;  // trivially destructible: usable during thread exit
inline void note_dead_output(std::uint32_t tape) {
  if (tape == dead_outputs.tape) ++dead_outputs.count;
}
std::uint64_t take_dead_outputs(std::uint32_t tape);

}  // namespace tg::detail
