// SPDX-License-Identifier: MIT
#include "tapegrad/layers/summary.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <set>

#include <fmt/format.h>

#include "tapegrad/dtype.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace {

// The hooks summarize() adds, and the modes it changes, undone when it returns or throws.
class Watch {
 public:
  explicit Watch(const std::vector<std::pair<std::string, Module*>>& modules) {
    for (const auto& [name, m] : modules) modes_.emplace_back(m, m->is_training());
  }
  ~Watch() {
    for (const auto& [m, handle] : hooks_) m->remove_hook(handle);
    // named_modules() lists parents before children: each module gets its own mode back.
    for (const auto& [m, training] : modes_) m->train(training);
  }
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;
  void added(Module* m, int handle) { hooks_.emplace_back(m, handle); }

 private:
  std::vector<std::pair<Module*, int>> hooks_;
  std::vector<std::pair<Module*, bool>> modes_;
};

int depth_of(const std::string& name) {
  return name.empty() ? 0 : 1 + static_cast<int>(std::count(name.begin(), name.end(), '.'));
}

bool inside(const std::string& name, const std::string& ancestor) {
  return ancestor.empty() || name == ancestor || name.rfind(ancestor + ".", 0) == 0;
}

std::int64_t bytes_of(const Tensor& t) { return t.numel() * static_cast<std::int64_t>(itemsize(t.dtype())); }

// 61706 -> "61,706", as torchinfo prints counts.
std::string grouped(std::int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

// Display width of UTF-8 text: its code points (the tree's box-drawing characters are one each).
std::size_t width_of(const std::string& s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

std::string pad(const std::string& s, std::size_t width) {
  std::size_t w = width_of(s);
  return w >= width ? s : s + std::string(width - w, ' ');
}

}  // namespace

ModelSummary detail::summarize(Module& model, const std::function<TensorList()>& forward) {
  const std::vector<std::pair<std::string, Module*>> modules = model.named_modules();
  ModelSummary s;

  // The totals, over distinct parameters.
  std::set<const void*> seen;
  for (const auto& [name, p] : model.named_parameters()) {
    if (!seen.insert(p.impl_ptr().get()).second) continue;
    s.total_params += p.numel();
    if (p.requires_grad()) s.trainable_params += p.numel();
    s.params_bytes += bytes_of(p);
  }
  s.non_trainable_params = s.total_params - s.trainable_params;

  // Each module's own row template: name, type, depth and the parameters registered on it.
  std::map<const Module*, SummaryRow> templates;
  std::map<const Module*, std::size_t> order;  // its index in named_modules()
  for (const auto& [name, m] : modules) {
    SummaryRow row;
    row.name = name;
    row.type = m->type_name();
    row.depth = depth_of(name);
    row.has_children = !m->named_children().empty();
    for (const auto& [pname, p] : m->named_parameters()) {
      if (pname.find('.') != std::string::npos) continue;  // a child's
      row.params += p.numel();
      if (p.requires_grad()) row.trainable_params += p.numel();
    }
    templates.emplace(m, std::move(row));
    order.emplace(m, order.size());
  }

  std::vector<SummaryRow> called;      // in the order the forward pass entered the modules
  std::vector<std::size_t> open;       // rows whose module is running
  std::vector<std::size_t> row_order;  // each called row's module's index in named_modules()
  std::set<const Module*> listed;
  TensorList outputs;
  {
    Watch watch(modules);
    for (const auto& [name, m] : modules) {
      watch.added(m, m->register_forward_pre_hook([&](Module& module, const TensorList& inputs) {
        SummaryRow row = templates.at(&module);
        row.called = true;
        if (!listed.insert(&module).second) row.recursive = true;
        if (&module == &model && called.empty())
          for (const Tensor& t : inputs)
            if (t.defined()) s.input_bytes += bytes_of(t);
        open.push_back(called.size());
        called.push_back(std::move(row));
        row_order.push_back(order.at(&module));
      }));
      watch.added(m, m->register_forward_hook([&](Module&, const TensorList&, const TensorList& out) {
        if (open.empty()) return;
        SummaryRow& row = called[open.back()];
        open.pop_back();
        for (const Tensor& t : out) {
          if (!t.defined()) continue;
          row.output_shapes.push_back(t.shape());
          row.output_bytes += bytes_of(t);
        }
      }));
    }
    model.eval();
    NoGradGuard no_grad;
    outputs = forward();
  }

  // Modules the hooks did not see: each goes before the first row of its subtree that was
  // called, else after the last row of its parent's subtree that comes before it in the tree
  // (else right after its parent). named_modules() lists parents first, so a parent is placed
  // before its children are looked for.
  s.rows = std::move(called);
  for (const auto& [name, m] : modules) {
    if (listed.count(m)) continue;
    const std::size_t index = order.at(m);
    std::size_t at = s.rows.size();
    bool found = false;
    for (std::size_t r = 0; r < s.rows.size() && !found; ++r)
      if (s.rows[r].name != name && inside(s.rows[r].name, name) && !name.empty()) at = r, found = true;
    if (name.empty()) at = 0, found = true;
    if (!found) {
      const std::size_t dot = name.rfind('.');
      const std::string parent = dot == std::string::npos ? std::string() : name.substr(0, dot);
      for (std::size_t r = 0; r < s.rows.size(); ++r)
        if (inside(s.rows[r].name, parent) && (row_order[r] < index || s.rows[r].name == parent)) at = r + 1;
    }
    s.rows.insert(s.rows.begin() + static_cast<std::ptrdiff_t>(at), templates.at(m));
    row_order.insert(row_order.begin() + static_cast<std::ptrdiff_t>(at), index);
    listed.insert(m);
  }
  // The model's own outputs, from what the callable returned, when its call operator did not run.
  for (SummaryRow& row : s.rows)
    if (row.name.empty() && !row.called)
      for (const Tensor& t : outputs)
        if (t.defined()) row.output_shapes.push_back(t.shape());
  for (const SummaryRow& row : s.rows)
    if (row.called && !row.has_children) s.activation_bytes += row.output_bytes;
  return s;
}

ModelSummary summary(Module& model, const Tensor& example_input) {
  return detail::summarize(model, [&] { return TensorList{model(example_input)}; });
}

std::string ModelSummary::str() const {
  std::vector<std::array<std::string, 3>> cells;
  for (const SummaryRow& row : rows) {
    std::string layer;
    if (row.depth == 1) {
      layer = "├─";
    } else if (row.depth > 1) {  // as torchinfo: "│    └─" at depth 2, "│    │    └─" at 3
      for (int d = 1; d < row.depth; ++d) layer += "│    ";
      layer += "└─";
    }
    layer += row.type;
    if (!row.name.empty()) layer += ": " + row.name;
    std::string shape = "--";
    if (!row.output_shapes.empty()) {
      shape = row.output_shapes[0].str();
      if (row.output_shapes.size() > 1) shape += fmt::format(" (+{} more)", row.output_shapes.size() - 1);
    }
    std::string params = "--";
    if (row.params > 0) params = row.recursive ? "(recursive)" : grouped(row.params);
    cells.push_back({layer, shape, params});
  }
  std::array<std::size_t, 3> widths{width_of("Layer (type: name)"), width_of("Output Shape"), width_of("Param #")};
  for (const auto& c : cells)
    for (std::size_t i = 0; i < 3; ++i) widths[i] = std::max(widths[i], width_of(c[i]));
  widths[0] += 4;
  widths[1] += 4;
  const std::size_t total = widths[0] + widths[1] + widths[2];
  const std::string rule(total, '=');
  std::string out = rule + "\n";
  auto line = [&](const std::string& a, const std::string& b, const std::string& c) {
    std::string text = pad(a, widths[0]) + pad(b, widths[1]) + c;
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + "\n";
  };
  line("Layer (type: name)", "Output Shape", "Param #");
  out += rule + "\n";
  for (const auto& c : cells) line(c[0], c[1], c[2]);
  out += rule + "\n";
  out += fmt::format("Total params: {}\nTrainable params: {}\nNon-trainable params: {}\n", grouped(total_params),
                     grouped(trainable_params), grouped(non_trainable_params));
  out += rule + "\n";
  out += fmt::format(
      "Input size (MB): {:.2f}\nForward/backward pass size (MB): {:.2f}\nParams size (MB): {:.2f}\nEstimated Total "
      "Size (MB): {:.2f}\n",
      input_size_mb(), forward_backward_size_mb(), params_size_mb(), total_size_mb());
  out += rule + "\n";
  return out;
}

}  // namespace tg
