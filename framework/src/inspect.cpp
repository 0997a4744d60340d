// SPDX-License-Identifier: MIT
#include "tapegrad/inspect.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include <nlohmann/json.hpp>

#include "tapegrad/error.hpp"
#include "tapegrad/ops.hpp"

namespace tg {

namespace {

std::string bytes_text(std::int64_t bytes) {
  if (bytes < 10'000) return fmt::format("{} B", bytes);
  if (bytes < 10'000'000) return fmt::format("{:.1f} kB", static_cast<double>(bytes) / 1e3);
  return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6);
}

// Names for leaves and constants: a name given by the caller, else the tensor's own name(),
// else "leaf0", "leaf1", ... (or "const0", ...) in the order they are first met, so that two
// unnamed tensors never share a label.
class Namer {
 public:
  explicit Namer(const std::vector<std::pair<std::string, Tensor>>& given = {}) {
    for (const auto& [name, t] : given)
      if (t.defined()) names_.emplace(t.impl_ptr().get(), name);
  }
  std::string operator()(const TensorImpl* t, bool needs_grad) {
    if (auto it = names_.find(t); it != names_.end()) return it->second;
    if (t->meta && !t->meta->name.empty()) return names_.emplace(t, t->meta->name).first->second;
    std::string name = fmt::format("{}{}", needs_grad ? "leaf" : "const", needs_grad ? leaves_++ : constants_++);
    return names_.emplace(t, name).first->second;
  }

 private:
  std::map<const TensorImpl*, std::string> names_;
  int leaves_ = 0, constants_ = 0;
};

}  // namespace

std::string dot_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// ---- the view ----

Tensor TapeView::input(std::size_t i, std::size_t k) const {
  const Edge& in = entry(i).inputs[k];
  if (in.tensor.defined()) return in.tensor;
  if (in.producer != 0) return output(i);  // an in-place op's input: the tensor it writes
  return notes_ ? notes_->constant(entry(i).id, k) : Tensor();
}

std::int64_t TapeView::producer(std::size_t i, std::size_t k) const {
  const Edge& in = entry(i).inputs[k];
  return in.producer == 0 ? -1 : tape_.find(in.producer >> 16, i);
}

std::size_t TapeView::producer_output(std::size_t i, std::size_t k) const {
  return entry(i).inputs[k].producer & 0xffff;
}

std::int64_t TapeView::index_of(const Tensor& t) const {
  if (!t.defined() || t.is_leaf() || t.impl().tape != tape_.id()) return -1;
  std::int64_t p = tape_.find(t.impl().history >> 16);
  return p >= 0 && entry(static_cast<std::size_t>(p)).outputs.size() > (t.impl().history & 0xffff) ? p : -1;
}

std::int64_t TapeView::saved_bytes(std::size_t i) const {
  const TapeEntry& e = entry(i);
  std::vector<const Storage*> seen;
  std::int64_t total = 0;
  for (const SavedTensor& s : e.saved) {
    if (!s.defined()) continue;
    Tensor t = s.output() >= 0  ? Tensor(e.outputs[static_cast<std::size_t>(s.output())].tensor.lock())
               : s.input() >= 0 ? e.inputs[static_cast<std::size_t>(s.input())].tensor
                                : s.tensor();
    if (!t.defined() || std::find(seen.begin(), seen.end(), t.impl().storage.get()) != seen.end()) continue;
    seen.push_back(t.impl().storage.get());
    total += static_cast<std::int64_t>(t.impl().storage->bytes());
  }
  return total;
}

std::int64_t TapeView::saved_bytes() const {
  std::int64_t total = 0;
  for (std::size_t i = 0; i < size(); ++i) total += saved_bytes(i);
  return total;
}

std::int64_t TapeView::made_by(std::size_t i) const {
  const std::uint64_t by = entry(i).made_by;
  if (by == 0) return -1;
  std::int64_t p = tape_.find(by, i);
  return p >= 0 ? p : -2;
}

namespace {
// " (backward of #3)": the mark of an entry that a recording backward added.
std::string made_by_mark(const TapeView& view, std::size_t i) {
  const std::int64_t by = view.made_by(i);
  return by == -1 ? std::string() : by >= 0 ? fmt::format("  (backward of #{})", by) : "  (backward of a freed entry)";
}
}  // namespace

std::vector<char> TapeView::reachable(const Tensor& root, const char* op) const {
  std::vector<char> used;
  std::int64_t top = index_of(root);
  if (top >= 0) tape_.reachable(static_cast<std::size_t>(top), op, used);
  return used;
}

// ---- printing ----

namespace {

// "%3", or "%3.1" for an output of an entry with several.
std::string output_name(const TapeView& view, std::size_t entry, std::size_t output) {
  return view.num_outputs(entry) == 1 ? fmt::format("%{}", entry) : fmt::format("%{}.{}", entry, output);
}

}  // namespace

std::string to_string(const Tape& tape) {
  const TapeView view(tape);
  Namer name;
  std::vector<std::string> ops, ins, outs, saved;
  std::size_t op_width = 0, in_width = 0, out_width = 0, recorded_by_backward = 0, with_tangent = 0;
  for (std::size_t i = 0; i < view.size(); ++i) {
    std::string in;
    for (std::size_t k = 0; k < view.num_inputs(i); ++k) {
      if (k) in += ", ";
      Tensor t = view.input(i, k);
      if (view.needs_grad(i, k)) {
        std::int64_t p = view.producer(i, k);
        std::string who = p >= 0 ? output_name(view, static_cast<std::size_t>(p), view.producer_output(i, k))
                          : view.entry(i).inputs[k].producer != 0 ? "(not on this tape)"
                          : t.defined()                           ? name(t.impl_ptr().get(), true)
                                                                  : "(freed)";
        in += fmt::format("{} {} grad", who, t.defined() ? t.shape().str() : "");
      } else if (t.defined()) {
        in += fmt::format("{} {} no grad", name(t.impl_ptr().get(), false), t.shape());
      } else {
        in += view.notes() && view.notes()->has(view.entry(i).id) ? "none" : "const";
      }
    }
    std::string out;
    for (std::size_t k = 0; k < view.num_outputs(i); ++k) {
      Tensor o = view.output(i, k);
      out += fmt::format("{}{} {}", k ? ", " : "", output_name(view, i, k), o.defined() ? o.shape().str() : "(freed)");
      if (Tensor t = o.defined() ? tangent(o) : Tensor(); t.defined()) {  // forward mode: a dual level is active
        ++with_tangent;
        NoGradGuard no_grad;
        ForwardADSuspend plain;
        out += fmt::format(" tangent |{:.4g}|", t.to(kFloat64).square().sum().sqrt().item());
      }
    }
    std::int64_t bytes = view.saved_bytes(i);
    ops.push_back(fmt::format("#{}  {}{}", i, view.op(i).name, made_by_mark(view, i)));
    recorded_by_backward += view.made_by(i) != -1;
    ins.push_back(std::move(in));
    outs.push_back(std::move(out));
    saved.push_back(bytes ? "saved " + bytes_text(bytes) : "");
    op_width = std::max(op_width, ops.back().size());
    in_width = std::max(in_width, ins.back().size());
    out_width = std::max(out_width, outs.back().size());
  }
  std::string text =
      fmt::format("tape: {} entries, {} saved for backward\n", view.size(), bytes_text(view.saved_bytes()));
  if (recorded_by_backward > 0)
    text += fmt::format("  ({} of them recorded by a backward with create_graph, marked \"backward of #i\")\n",
                        recorded_by_backward);
  if (with_tangent > 0)
    text += fmt::format("  (forward mode: {} outputs carry a tangent at the active dual level, shown as its norm)\n",
                        with_tangent);
  for (std::size_t i = 0; i < view.size(); ++i) {
    std::string line = fmt::format("  {:<{}}  in: {:<{}}  ->  {:<{}}  {}", ops[i], op_width, ins[i], in_width, outs[i],
                                   out_width, saved[i]);
    line.erase(line.find_last_not_of(' ') + 1);
    text += line + '\n';
  }
  return text;
}

std::string to_dot(const Tensor& root, const std::vector<std::pair<std::string, Tensor>>& names) {
  const TapeView view;
  Namer name(names);
  std::string dot =
      "digraph tapegrad {\n  node [fontname=\"Helvetica\", fontsize=11];\n  edge [fontname=\"Helvetica\", "
      "fontsize=9];\n";
  std::map<const TensorImpl*, std::string> drawn;  // leaves and constants, drawn once each
  auto leaf_node = [&](const TensorImpl* t, bool needs_grad, bool is_root) {
    if (auto it = drawn.find(t); it != drawn.end()) return it->second;
    std::string label = dot_escape(name(t, needs_grad));
    std::string id = "\"" + label + "\"";  // names are unique: Namer never hands one out twice
    drawn.emplace(t, id);
    dot += fmt::format("  {} [shape=ellipse, label=\"{}\\n{}\"{}{}];\n", id, label, t->shape,
                       needs_grad ? ", style=filled, fillcolor=\"#cfe2f3\"" : ", style=dashed",
                       is_root ? ", penwidth=2" : "");
    return id;
  };
  std::int64_t top = view.index_of(root);
  if (top < 0) {
    if (!root.is_leaf())
      fail<AutogradError>(
          "to_dot: the tensor {} is not on this thread's tape (the tape was cleared, its graph was freed by "
          "backward(), or it was computed on another thread); draw it before backward(), or pass "
          "retain_graph = true to backward() to keep the graph",
          root.shape());
    leaf_node(root.impl_ptr().get(), root.requires_grad(), true);
    return dot + "}\n";
  }
  std::vector<char> used = view.reachable(root, "to_dot");
  for (std::size_t i = 0; i < used.size(); ++i) {
    if (!used[i]) continue;
    // An entry that a recording backward added is drawn filled, with a dotted edge from the
    // first-order entry whose backward function recorded it (when that one is drawn too).
    if (const std::int64_t by = view.made_by(i); by == -1) {
      dot += fmt::format("  op{} [shape=box, style=rounded, label=\"#{} {}\"];\n", i, i, view.op(i).name);
    } else {
      dot += fmt::format(
          "  op{} [shape=box, style=\"rounded,filled\", fillcolor=\"#fde9c9\", label=\"#{} {}\\n{}\"];\n", i, i,
          view.op(i).name, by >= 0 ? fmt::format("backward of #{}", by) : std::string("backward of a freed entry"));
      if (by >= 0 && static_cast<std::size_t>(by) < used.size() && used[static_cast<std::size_t>(by)])
        dot += fmt::format("  op{} -> op{} [style=dotted, color=\"#b45f06\", label=\"backward\"];\n", by, i);
    }
    for (std::size_t k = 0; k < view.num_outputs(i); ++k) {
      Tensor out = view.output(i, k);
      std::string node = view.num_outputs(i) == 1 ? fmt::format("t{}", i) : fmt::format("t{}_{}", i, k);
      dot += fmt::format("  {} [shape=ellipse, label=\"{}\\n{}\"{}];\n", node, output_name(view, i, k),
                         out.defined() ? out.shape().str() : std::string("(freed)"),
                         static_cast<std::int64_t>(i) == top ? ", penwidth=2" : "");
      dot += fmt::format("  op{} -> {};\n", i, node);
    }
    for (std::size_t k = 0; k < view.num_inputs(i); ++k) {
      Tensor in = view.input(i, k);
      if (!in.defined()) continue;  // an input left out (no bias), or a constant not kept
      std::string from;
      if (std::int64_t p = view.producer(i, k); p >= 0)
        from = view.num_outputs(static_cast<std::size_t>(p)) == 1
                   ? fmt::format("t{}", p)
                   : fmt::format("t{}_{}", p, view.producer_output(i, k));
      else
        from = leaf_node(in.impl_ptr().get(), view.needs_grad(i, k), false);
      dot += fmt::format("  {} -> op{} [label=\"{}\"];\n", from, i, in.shape());
    }
  }
  return dot + "}\n";
}

// ---- backward trace ----

TracedTensor BackwardTrace::traced(const Tensor& t) const {
  TracedTensor out;
  out.shape = t.shape();
  std::vector<double> values = t.tolist();
  double sum = 0;
  for (double v : values) sum += v * v;
  out.norm = std::sqrt(sum);
  if (t.numel() <= max_values_) out.values = std::move(values);
  return out;
}

BackwardTrace::BackwardTrace(std::int64_t max_values) : TapeObserver(kBackward), max_values_(max_values) {
  if (max_values < 0)
    fail<ValueError>("BackwardTrace: max_values must be >= 0 (0 records no values), got {}", max_values);
}

void BackwardTrace::on_backward_entry(const Tape& tape, std::size_t index) {
  const TapeEntry& e = tape.entry(index);
  const Tensor& grad = e.outputs[0].grad;
  steps_.push_back(
      {index, e.op->name, grad.defined() ? traced(grad) : TracedTensor{}, {}, TapeView(tape).made_by(index)});
}

void BackwardTrace::on_backward_input(const Tape& tape, std::size_t index, std::size_t input, const Tensor& grad) {
  const TapeEntry& e = tape.entry(index);
  TapeView view(tape);
  if (steps_.empty() || steps_.back().index != index)
    steps_.push_back({index, e.op->name, {}, {}, view.made_by(index)});
  std::int64_t p = view.producer(index, input);
  const Edge& in = e.inputs[input];
  std::string source = p >= 0 ? output_name(view, static_cast<std::size_t>(p), view.producer_output(index, input))
                       : in.tensor.defined() && !in.tensor.name().empty() ? in.tensor.name()
                                                                          : std::string("leaf");
  steps_.back().inputs.push_back({static_cast<int>(input), std::move(source), traced(grad)});
}

std::string BackwardTrace::to_json(int indent) const {
  auto tensor = [](const TracedTensor& t) {
    nlohmann::json j = {{"shape", std::vector<std::int64_t>(t.shape.begin(), t.shape.end())}, {"norm", t.norm}};
    if (!t.values.empty()) j["values"] = t.values;
    return j;
  };
  nlohmann::json steps = nlohmann::json::array();
  for (const TracedStep& s : steps_) {
    nlohmann::json inputs = nlohmann::json::array();
    for (const TracedInput& in : s.inputs)
      inputs.push_back({{"input", in.input}, {"source", in.source}, {"grad", tensor(in.grad)}});
    nlohmann::json step = {
        {"index", s.index}, {"op", s.op}, {"grad_output", tensor(s.grad_output)}, {"inputs", inputs}};
    if (s.made_by != -1) step["made_by"] = s.made_by;  // an entry a recording backward added
    steps.push_back(std::move(step));
  }
  return nlohmann::json{{"steps", steps}}.dump(indent) + "\n";
}

// ---- gradient paths ----

std::vector<GradientPath> gradient_paths(const Tensor& root, const Tensor& leaf, std::size_t max_paths) {
  Tape& tape = Tape::current();
  const TapeView view(tape);
  if (root.numel() != 1)
    fail<ShapeError>("gradient_paths: the root must have one element (a loss), got shape {}; reduce it with sum()",
                     root.shape());
  if (!leaf.defined() || !leaf.is_leaf())
    fail<ValueError>("gradient_paths: the second tensor must be a leaf (a parameter or an input that requires grad)");
  std::int64_t top = view.index_of(root);
  if (top < 0)
    fail<AutogradError>(
        "gradient_paths: the root {} is not on this thread's tape (a leaf, a cleared tape, or a graph freed by "
        "backward()); call it before backward(), or after a backward() with retain_graph = true",
        root.shape());
  // Depth-first over (entry, the output the gradient arrives at, path so far), with an
  // explicit stack: a path can be as long as the tape, too deep for recursion.
  struct Item {
    std::size_t entry, output;
    std::vector<PathStep> path;
  };
  std::vector<std::vector<PathStep>> found;
  std::vector<Item> stack{{static_cast<std::size_t>(top), root.impl().history & 0xffff, {}}};
  const TensorImpl* target = leaf.impl_ptr().get();
  while (!stack.empty()) {
    Item item = std::move(stack.back());
    stack.pop_back();
    const std::size_t i = item.entry;
    // Inputs in reverse, so that paths come out in input order.
    for (std::size_t k = view.num_inputs(i); k-- > 0;) {
      if (!view.needs_grad(i, k)) continue;
      std::vector<PathStep> next = item.path;
      next.push_back({i, view.op(i).name, static_cast<int>(k), item.output});
      if (view.entry(i).inputs[k].tensor.impl_ptr().get() == target) {
        found.push_back(std::move(next));
        if (found.size() > max_paths)
          fail<ValueError>(
              "gradient_paths: more than {} paths lead from the root to the leaf (paths multiply with every reuse of "
              "a tensor); pass a larger max_paths, or ask about a leaf closer to the root",
              max_paths);
      } else if (std::int64_t p = view.producer(i, k); p >= 0) {
        stack.push_back({static_cast<std::size_t>(p), view.producer_output(i, k), std::move(next)});
      }
    }
  }
  std::vector<GradientPath> paths;
  for (auto& steps : found) {
    Tensor g = ones(root.shape(), {.dtype = root.dtype()});
    for (const PathStep& s : steps) {
      std::vector<Tensor> grads(view.num_outputs(s.entry));
      grads[s.output] = g;
      g = tape.entry_backward(s.entry, grads)[static_cast<std::size_t>(s.input)];
    }
    paths.push_back({std::move(steps), std::move(g)});
  }
  return paths;
}

std::string to_string(const GradientPath& path) {
  std::string text;
  for (const PathStep& s : path.steps)
    text += fmt::format("{}{} #{} (input {})", text.empty() ? "" : " <- ", s.op, s.entry, s.input);
  return text + ": " + tg::to_string(path.contribution);
}

}  // namespace tg
