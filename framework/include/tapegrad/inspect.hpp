// SPDX-License-Identifier: MIT
#pragma once
// Tools for looking inside autograd: the tape printed, the graph as Graphviz DOT, a trace of
// what backward() computed, and a leaf's gradient split into the paths it came along.
// docs/autograd.md (section 8) describes them; tests/framework/test_inspect.cpp uses each one.
//
//   tg::TapeNotes notes;                               // constants and module paths (observer.hpp)
//   fmt::print("{}", tg::Tape::current());             // every entry, in order
//   std::string dot = tg::to_dot(loss, model.named_parameters());
//   tg::BackwardTrace trace;
//   { tg::ObserveTape watch(trace); loss.backward(); }
//   tg::write_file_atomic("trace.json", trace.to_json());
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "tapegrad/observer.hpp"
#include "tapegrad/tape.hpp"
#include "tapegrad/tensor.hpp"

namespace tg {

// ---- the view ----
// The tape as inspection reads it: entries by index, their inputs and outputs as tensors, the
// producer of each input, and the one walk from a root (Tape::reachable). Read-only.
class TapeView {
 public:
  explicit TapeView(const Tape& tape = Tape::current()) : tape_(tape), notes_(notes_of(tape)) {}
  std::size_t size() const { return tape_.size(); }
  const TapeEntry& entry(std::size_t i) const { return tape_.entry(i); }
  const OpInfo& op(std::size_t i) const { return *entry(i).op; }
  std::size_t num_inputs(std::size_t i) const { return entry(i).inputs.size(); }
  std::size_t num_outputs(std::size_t i) const { return entry(i).outputs.size(); }
  // Output k of entry i, or an undefined tensor once nothing else holds it.
  Tensor output(std::size_t i, std::size_t k = 0) const { return Tensor(entry(i).outputs[k].tensor.lock()); }
  bool needs_grad(std::size_t i, std::size_t k) const { return entry(i).inputs[k].needs_grad(); }
  // Input k of entry i: the tensor, when it needs a gradient (the tape holds it), or the constant
  // the notes kept (while it lives); else undefined. An in-place op's input is its output.
  Tensor input(std::size_t i, std::size_t k) const;
  // The index of the entry that computed input k of entry i, and which of its outputs it is
  // (as "%j" or "%j.o" in the printed tape); -1: a leaf, a constant, or an entry gone.
  std::int64_t producer(std::size_t i, std::size_t k) const;
  std::size_t producer_output(std::size_t i, std::size_t k) const;
  // The index of the entry that computed t, or -1 (a leaf, or not on this tape).
  std::int64_t index_of(const Tensor& t) const;
  // Bytes held for backward by entry i (each saved buffer once), and by all entries.
  std::int64_t saved_bytes(std::size_t i) const;
  std::int64_t saved_bytes() const;
  // The module that recorded entry i ("features.0"), when notes were kept; "" otherwise.
  std::string scope(std::size_t i) const { return notes_ ? notes_->scope(entry(i).id) : std::string(); }
  const TapeNotes* notes() const { return notes_; }
  // used[i] = 1 for the entries that the entry computing `root` depends on.
  std::vector<char> reachable(const Tensor& root, const char* op) const;
  // For an entry that a backward with create_graph recorded (Note [recording backward]): the
  // index of the entry whose backward function recorded it, or -2 when that entry is gone;
  // -1 for an entry of a forward pass.
  std::int64_t made_by(std::size_t i) const;

 private:
  const Tape& tape_;
  const TapeNotes* notes_;
};

// ---- printing the tape ----
// One line per entry:
//   #3  square  in: %2 [6, 7] grad  ->  %3 [6, 7]  saved 168 B
// %k is the output of entry k (%k.o its output o when it has several); a leaf shows its name
// ("weight") or "leaf0"; an input that needs no gradient shows "no grad", with its name and shape
// when a TapeNotes kept it ("const0 [6, 8] no grad"), else "const". The first line gives the
// entry count and the bytes saved for backward.
std::string to_string(const Tape& tape);

// ---- graph export ----
// The graph that computed `root`, in Graphviz DOT: ellipses for tensors (leaves that need a
// gradient filled, constants dashed, the root bold), boxes for ops ("#3 square"), and the
// shape of each tensor on the edge that carries it. `names` labels leaves (pass
// Module::named_parameters() to see "features.0.weight"); a leaf not in it shows its own
// name(), or "leaf". The output is deterministic: node ids come from tape positions.
// Render it with `dot -Tsvg graph.dot -o graph.svg` (Debian's graphviz).
std::string to_dot(const Tensor& root, const std::vector<std::pair<std::string, Tensor>>& names = {});
// `s` escaped for a quoted DOT string ('"' and '\\' get a backslash): what to_dot() uses for
// its labels, for programs that write DOT of their own.
std::string dot_escape(const std::string& s);

// ---- backward trace ----
// A tensor as the trace shows it: its shape, L2 norm, and its values when it has at most
// BackwardTrace's value limit of elements.
struct TracedTensor {
  Shape shape;
  double norm = 0;
  std::vector<double> values;  // empty when the tensor is larger than the limit
};

// One input's gradient from a backward step. `source` is where it goes: "%k" (entry k's
// output) or the leaf's name ("leaf" if it has none).
struct TracedInput {
  int input = 0;
  std::string source;
  TracedTensor grad;
};

// One entry of the tape, as backward() ran it: the gradient of its output, and what its
// closure gave each input that needs a gradient, in the order it gave them.
struct TracedStep {
  std::size_t index = 0;
  std::string op;
  TracedTensor grad_output;
  std::vector<TracedInput> inputs;
  // For an entry that a recording backward added: the index of the first-order entry whose
  // backward function recorded it (-2 if that entry is gone); -1 for a forward entry.
  std::int64_t made_by = -1;
};

// Records every step of the backward() calls made while an ObserveTape guard holds it.
class BackwardTrace : public TapeObserver {
 public:
  explicit BackwardTrace(std::int64_t max_values = 16);  // values kept for tensors this small
  const std::vector<TracedStep>& steps() const { return steps_; }
  void clear() { steps_.clear(); }
  // {"steps": [{"index": 4, "op": "sum", "grad_output": {"shape": [], "norm": 1, "values":
  // [1]}, "inputs": [{"input": 0, "source": "%3", "grad": {...}}]}, ...]}
  std::string to_json(int indent = 2) const;

  void on_backward_entry(const Tape& tape, std::size_t index) override;
  void on_backward_input(const Tape& tape, std::size_t index, std::size_t input, const Tensor& grad) override;

 private:
  TracedTensor traced(const Tensor& t) const;
  std::int64_t max_values_;
  std::vector<TracedStep> steps_;
};

// ---- gradient paths ----
// One step of a path: the gradient went through input `input` of tape entry `entry`.
struct PathStep {
  std::size_t entry = 0;
  std::string op;
  int input = 0;
  std::size_t output = 0;  // the entry's output that the gradient arrived at
};

// A path from the root down to the leaf, and the part of the leaf's gradient that came
// along it: the chain rule along this path alone.
struct GradientPath {
  std::vector<PathStep> steps;  // from the root's entry to the entry that read the leaf
  Tensor contribution;          // shaped like the leaf
};

// Every path from `root` (a one-element tensor, seeded with 1) to `leaf` through the tape,
// with its contribution. The contributions add up to the gradient backward() gives the
// leaf, because the chain rule is a sum over paths. It runs each entry's backward function
// (Tape::entry_backward), so call it before backward(), or after backward(retain_graph =
// true). Paths multiply with every reuse of a tensor: more than max_paths throws.
std::vector<GradientPath> gradient_paths(const Tensor& root, const Tensor& leaf, std::size_t max_paths = 10000);
std::string to_string(const GradientPath& path);  // "sum #4 <- square #3 <- ... : [[...]]"

}  // namespace tg

template <>
struct fmt::formatter<tg::Tape> : fmt::formatter<std::string> {
  auto format(const tg::Tape& tape, fmt::format_context& ctx) const {
    return fmt::formatter<std::string>::format(tg::to_string(tape), ctx);
  }
};
