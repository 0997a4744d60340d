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
    if (!t->name.empty()) return names_.emplace(t, t->name).first->second;
    std::string name = fmt::format("{}{}", needs_grad ? "leaf" : "const", needs_grad ? leaves_++ : constants_++);
    return names_.emplace(t, name).first->second;
  }

 private:
  std::map<const TensorImpl*, std::string> names_;
  int leaves_ = 0, constants_ = 0;
};

// True for a weak_ptr that never pointed at anything (an input left out, such as a missing
// bias), as opposed to one whose tensor has been freed since.
bool never_set(const std::weak_ptr<TensorImpl>& w) {
  std::weak_ptr<TensorImpl> empty;
  return !w.owner_before(empty) && !empty.owner_before(w);
}

std::string dot_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::string to_string(const Tape& tape) {
  const auto& entries = tape.entries();
  Namer name;
  std::vector<std::string> ops, ins, outs, saved;
  std::size_t op_width = 0, in_width = 0, out_width = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const TapeEntry& e = entries[i];
    std::string in;
    for (std::size_t k = 0; k < e.inputs.size(); ++k) {
      const TapeInput& input = e.inputs[k];
      if (k) in += ", ";
      if (input.tensor) {
        std::int64_t p = tape.producer(i, k);
        std::string who = p >= 0                     ? fmt::format("%{}", p)
                          : input.tensor->entry == 0 ? name(input.tensor.get(), true)
                                                     : "(not on this tape)";
        in += fmt::format("{} {} grad", who, input.tensor->shape);
      } else if (auto c = input.constant.lock()) {
        in += fmt::format("{} {} no grad", name(c.get(), false), c->shape);
      } else {
        in += never_set(input.constant) ? "none" : "(freed constant)";
      }
    }
    auto out = e.output.lock();
    ops.push_back(fmt::format("#{}  {}", i, e.op));
    ins.push_back(std::move(in));
    outs.push_back(out ? fmt::format("%{} {}", i, out->shape) : fmt::format("%{} (freed)", i));
    saved.push_back(e.saved_bytes ? "saved " + bytes_text(e.saved_bytes) : "");
    op_width = std::max(op_width, ops.back().size());
    in_width = std::max(in_width, ins.back().size());
    out_width = std::max(out_width, outs.back().size());
  }
  std::string text =
      fmt::format("tape: {} entries, {} saved for backward\n", entries.size(), bytes_text(tape.saved_bytes()));
  for (std::size_t i = 0; i < entries.size(); ++i) {
    std::string line = fmt::format("  {:<{}}  in: {:<{}}  ->  {:<{}}  {}", ops[i], op_width, ins[i], in_width, outs[i],
                                   out_width, saved[i]);
    line.erase(line.find_last_not_of(' ') + 1);
    text += line + '\n';
  }
  return text;
}

std::string to_dot(const Tensor& root, const std::vector<std::pair<std::string, Tensor>>& names) {
  const Tape& tape = Tape::current();
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
  std::int64_t top = tape.index_of(root);
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
  std::vector<char> used(static_cast<std::size_t>(top) + 1, 0);
  used[static_cast<std::size_t>(top)] = 1;
  for (std::int64_t i = top; i >= 0; --i)
    if (used[static_cast<std::size_t>(i)])
      for (std::size_t k = 0; k < tape.entries()[static_cast<std::size_t>(i)].inputs.size(); ++k)
        if (std::int64_t p = tape.producer(static_cast<std::size_t>(i), k); p >= 0)
          used[static_cast<std::size_t>(p)] = 1;
  for (std::size_t i = 0; i < used.size(); ++i) {
    if (!used[i]) continue;
    const TapeEntry& e = tape.entries()[i];
    auto out = e.output.lock();
    dot += fmt::format("  op{} [shape=box, style=rounded, label=\"#{} {}\"];\n", i, i, e.op);
    dot += fmt::format("  t{} [shape=ellipse, label=\"%{}\\n{}\"{}];\n", i, i,
                       out ? fmt::format("{}", out->shape) : std::string("(freed)"),
                       static_cast<std::int64_t>(i) == top ? ", penwidth=2" : "");
    dot += fmt::format("  op{} -> t{};\n", i, i);
    for (std::size_t k = 0; k < e.inputs.size(); ++k) {
      const TapeInput& in = e.inputs[k];
      std::string from;
      Shape shape;
      if (in.tensor) {
        std::int64_t p = tape.producer(i, k);
        from = p >= 0 ? fmt::format("t{}", p) : leaf_node(in.tensor.get(), true, false);
        shape = in.tensor->shape;
      } else if (auto c = in.constant.lock()) {
        from = leaf_node(c.get(), false, false);
        shape = c->shape;
      } else {
        continue;  // an input left out (no bias), or a constant already freed
      }
      dot += fmt::format("  {} -> op{} [label=\"{}\"];\n", from, i, shape);
    }
  }
  return dot + "}\n";
}

// ---- backward trace ----

BackwardTrace::BackwardTrace(std::int64_t max_values) : max_values_(max_values) {
  if (max_values < 0)
    fail<ValueError>("BackwardTrace: max_values must be >= 0 (0 records no values), got {}", max_values);
}

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

void BackwardTrace::on_entry(std::size_t index, const TapeEntry& entry, const Tensor& grad) {
  steps_.push_back({index, entry.op, traced(grad), {}});
}

void BackwardTrace::on_input(std::size_t index, const TapeEntry& entry, int input, const Tensor& grad) {
  if (steps_.empty() || steps_.back().index != index) steps_.push_back({index, entry.op, {}, {}});
  const TapeInput& in = entry.inputs[static_cast<std::size_t>(input)];
  std::string source = in.producer >= 0          ? fmt::format("%{}", in.producer)
                       : in.tensor->name.empty() ? std::string("leaf")
                                                 : in.tensor->name;
  steps_.back().inputs.push_back({input, std::move(source), traced(grad)});
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
    steps.push_back({{"index", s.index}, {"op", s.op}, {"grad_output", tensor(s.grad_output)}, {"inputs", inputs}});
  }
  return nlohmann::json{{"steps", steps}}.dump(indent) + "\n";
}

// ---- gradient paths ----

std::vector<GradientPath> gradient_paths(const Tensor& root, const Tensor& leaf, std::size_t max_paths) {
  Tape& tape = Tape::current();
  if (root.numel() != 1)
    fail<ShapeError>("gradient_paths: the root must have one element (a loss), got shape {}; reduce it with sum()",
                     root.shape());
  if (!leaf.defined() || !leaf.is_leaf())
    fail<ValueError>("gradient_paths: the second tensor must be a leaf (a parameter or an input that requires grad)");
  std::int64_t top = tape.index_of(root);
  if (top < 0)
    fail<AutogradError>(
        "gradient_paths: the root {} is not on this thread's tape (a leaf, a cleared tape, or a graph freed by "
        "backward()); call it before backward(), or after a backward() with retain_graph = true",
        root.shape());
  // Depth-first over (entry, path so far), with an explicit stack: a path can be as long as
  // the tape, too deep for recursion.
  std::vector<std::vector<PathStep>> found;
  std::vector<std::pair<std::size_t, std::vector<PathStep>>> stack{{static_cast<std::size_t>(top), {}}};
  const TensorImpl* target = leaf.impl_ptr().get();
  while (!stack.empty()) {
    auto [i, path] = std::move(stack.back());
    stack.pop_back();
    const TapeEntry& e = tape.entries()[i];
    // Inputs in reverse, so that paths come out in input order.
    for (std::size_t k = e.inputs.size(); k-- > 0;) {
      const TapeInput& in = e.inputs[k];
      if (!in.tensor) continue;
      std::vector<PathStep> next = path;
      next.push_back({i, e.op, static_cast<int>(k)});
      if (in.tensor.get() == target) {
        found.push_back(std::move(next));
        if (found.size() > max_paths)
          fail<ValueError>(
              "gradient_paths: more than {} paths lead from the root to the leaf (paths multiply with every reuse of "
              "a tensor); pass a larger max_paths, or ask about a leaf closer to the root",
              max_paths);
      } else if (std::int64_t p = tape.producer(i, k); p >= 0) {
        stack.emplace_back(static_cast<std::size_t>(p), std::move(next));
      }
    }
  }
  std::vector<GradientPath> paths;
  for (auto& steps : found) {
    Tensor g = ones(root.shape(), {.dtype = root.dtype()});
    for (const PathStep& s : steps) g = tape.entry_backward(s.entry, g)[static_cast<std::size_t>(s.input)];
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
