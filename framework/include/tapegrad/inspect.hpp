#pragma once
// Tools for looking inside autograd: the tape printed, the graph as Graphviz DOT, a trace of
// what backward() computed, and a leaf's gradient split into the paths it came along.
// docs/autograd.md (section 8) describes them; tests/framework/test_inspect.cpp uses each one.
//
//   fmt::print("{}", tg::Tape::current());             // every entry, in order
//   std::string dot = tg::to_dot(loss, model.named_parameters());
//   tg::BackwardTrace trace;
//   { tg::ObserveBackward watch(trace); loss.backward(); }
//   tg::write_file_atomic("trace.json", trace.to_json());
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "tapegrad/tape.hpp"
#include "tapegrad/tensor.hpp"

namespace tg {

// ---- printing the tape ----
// One line per entry:
//   #3  square  in: %2 [6, 7] grad  ->  %3 [6, 7]  saved 168 B
// %k is the output of entry k; a leaf shows its name ("weight") or "leaf"; an input that
// needs no gradient shows "const" and the words "no grad". The first line gives the entry
// count and the bytes saved for backward.
std::string to_string(const Tape& tape);

// ---- graph export ----
// The graph that computed `root`, in Graphviz DOT: ellipses for tensors (leaves that need a
// gradient filled, constants dashed, the root bold), boxes for ops ("#3 square"), and the
// shape of each tensor on the edge that carries it. `names` labels leaves (pass
// Module::named_parameters() to see "features.0.weight"); a leaf not in it shows its own
// name(), or "leaf". The output is deterministic: node ids come from tape positions.
// Render it with `dot -Tsvg graph.dot -o graph.svg` (Debian's graphviz).
std::string to_dot(const Tensor& root, const std::vector<std::pair<std::string, Tensor>>& names = {});

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
};

// Records every step of the backward() calls made while an ObserveBackward guard holds it.
class BackwardTrace : public BackwardObserver {
 public:
  explicit BackwardTrace(std::int64_t max_values = 16);  // values kept for tensors this small
  const std::vector<TracedStep>& steps() const { return steps_; }
  void clear() { steps_.clear(); }
  // {"steps": [{"index": 4, "op": "sum", "grad_output": {"shape": [], "norm": 1, "values":
  // [1]}, "inputs": [{"input": 0, "source": "%3", "grad": {...}}]}, ...]}
  std::string to_json(int indent = 2) const;

  void on_entry(std::size_t index, const TapeEntry& entry, const Tensor& grad) override;
  void on_input(std::size_t index, const TapeEntry& entry, int input, const Tensor& grad) override;

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
};

// A path from the root down to the leaf, and the part of the leaf's gradient that came
// along it: the chain rule along this path alone.
struct GradientPath {
  std::vector<PathStep> steps;  // from the root's entry to the entry that read the leaf
  Tensor contribution;          // shaped like the leaf
};

// Every path from `root` (a one-element tensor, seeded with 1) to `leaf` through the tape,
// with its contribution. The contributions add up to the gradient backward() gives the
// leaf, because the chain rule is a sum over paths. It runs each entry's backward closure
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
