// SPDX-License-Identifier: MIT
// Printing tensors exactly as PyTorch does (torch/_tensor_str.py, default print options:
// precision 4, linewidth 80, threshold 1000, edgeitems 3), so the seed's outputs read the
// same here: tensor([[19., 25.],
//                    [37., 43.]])
#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "tapegrad/op_info.hpp"
#include "tapegrad/tensor.hpp"

namespace tg {

namespace {

constexpr int kPrecision = 4;
constexpr int kLinewidth = 80;
constexpr std::int64_t kThreshold = 1000;
constexpr std::int64_t kEdgeItems = 3;

// Chooses one format for all elements, from the finite non-zero values, as PyTorch's
// _Formatter: integers print as "19.", others with 4 decimals, and scientific notation
// when the magnitudes span more than 1000x or leave [1e-4, 1e8].
class Formatter {
 public:
  explicit Formatter(const std::vector<double>& values) {
    std::vector<double> finite;
    for (double v : values)
      if (std::isfinite(v) && v != 0) finite.push_back(v);
    if (finite.empty()) return;
    double lo = std::abs(finite[0]), hi = lo;
    for (double v : finite) {
      lo = std::min(lo, std::abs(v));
      hi = std::max(hi, std::abs(v));
      if (v != std::ceil(v)) int_mode_ = false;
    }
    sci_mode_ = hi / lo > 1000.0 || hi > 1e8 || (!int_mode_ && lo < 1e-4);
    for (double v : finite) {
      std::size_t len = sci_mode_   ? fmt::format("{:.{}e}", v, kPrecision).size()
                        : int_mode_ ? fmt::format("{:.0f}", v).size() + 1
                                    : fmt::format("{:.{}f}", v, kPrecision).size();
      width_ = std::max(width_, len);
    }
  }

  std::size_t width() const { return width_; }

  std::string format(double v) const {
    std::string s;
    if (sci_mode_) {
      s = fmt::format("{:{}.{}e}", v, width_, kPrecision);
    } else if (int_mode_) {
      s = fmt::format("{:.0f}", v);
      if (std::isfinite(v)) s += '.';
    } else {
      s = fmt::format("{:.{}f}", v, kPrecision);
    }
    if (std::isnan(v)) s = "nan";
    if (std::isinf(v)) s = v > 0 ? "inf" : "-inf";
    return s.size() < width_ ? std::string(width_ - s.size(), ' ') + s : s;
  }

 private:
  bool int_mode_ = true;
  bool sci_mode_ = false;
  std::size_t width_ = 1;
};

// How each element prints, right-aligned to a common width: floats through a Formatter,
// integers as themselves, bools as True and False (PyTorch's _Formatter for each kind).
struct Elements {
  std::function<std::string(std::int64_t)> text;  // element i, padded to width
  std::size_t width;
};

struct Printer {
  const Shape& shape;
  const Elements& elements;
  bool summarize;

  // Elements [offset, offset + count) of dim `d`, as PyTorch's _tensor_str_with_formatter.
  std::string str(int d, std::int64_t offset, int indent) const {
    std::int64_t n = shape[d];
    std::int64_t stride = 1;
    for (int k = d + 1; k < shape.rank(); ++k) stride *= shape[k];
    bool cut = summarize && n > 2 * kEdgeItems;
    std::vector<std::string> parts;
    for (std::int64_t i = 0; i < n; ++i) {
      if (cut && i == kEdgeItems) {
        parts.emplace_back(d == shape.rank() - 1 ? " ..." : "...");
        i = n - kEdgeItems;
      }
      parts.push_back(d == shape.rank() - 1 ? elements.text(offset + i) : str(d + 1, offset + i * stride, indent + 1));
    }
    if (d == shape.rank() - 1) {  // a row: wrap at the line width
      auto per_line = std::max<std::size_t>(
          1, static_cast<std::size_t>((kLinewidth - indent) / static_cast<int>(elements.width + 2)));
      std::string out = "[";
      for (std::size_t i = 0; i < parts.size(); ++i) {
        if (i > 0) out += i % per_line == 0 ? ",\n" + std::string(static_cast<std::size_t>(indent + 1), ' ') : ", ";
        out += parts[i];
      }
      return out + "]";
    }
    std::string sep = "," + std::string(static_cast<std::size_t>(shape.rank() - d - 1), '\n') +
                      std::string(static_cast<std::size_t>(indent + 1), ' ');
    std::string out = "[";
    for (std::size_t i = 0; i < parts.size(); ++i) out += (i > 0 ? sep : "") + parts[i];
    return out + "]";
  }
};

// The elements a summarised print shows (the first and last kEdgeItems of every dim),
// so that the format is chosen from them alone, as in PyTorch.
void shown_values(const std::vector<double>& values, const Shape& shape, int d, std::int64_t offset,
                  std::vector<double>& out) {
  if (shape.rank() == 0) {
    out.push_back(values[0]);
    return;
  }
  std::int64_t n = shape[d], stride = 1;
  for (int k = d + 1; k < shape.rank(); ++k) stride *= shape[k];
  for (std::int64_t i = 0; i < n; ++i) {
    if (n > 2 * kEdgeItems && i == kEdgeItems) i = n - kEdgeItems;
    if (d == shape.rank() - 1)
      out.push_back(values[static_cast<std::size_t>(offset + i)]);
    else
      shown_values(values, shape, d + 1, offset + i * stride, out);
  }
}

// The indices of the elements a print shows, in order (all, or the edges when summarised).
void shown_indices(const Shape& shape, int d, std::int64_t offset, bool summarize, std::vector<std::int64_t>& out) {
  if (shape.rank() == 0) {
    out.push_back(0);
    return;
  }
  std::int64_t n = shape[d], stride = 1;
  for (int k = d + 1; k < shape.rank(); ++k) stride *= shape[k];
  for (std::int64_t i = 0; i < n; ++i) {
    if (summarize && n > 2 * kEdgeItems && i == kEdgeItems) i = n - kEdgeItems;
    if (d == shape.rank() - 1)
      out.push_back(offset + i);
    else
      shown_indices(shape, d + 1, offset + i * stride, summarize, out);
  }
}

// Integers and bools: each element as str() prints it, right-aligned to the widest shown.
template <class T>
Elements exact_elements(const Tensor& t, bool summarize) {
  const T* p = t.data<T>();
  auto plain = [p](std::int64_t i) -> std::string {
    if constexpr (std::is_same_v<T, bool>)
      return p[i] ? "True" : "False";
    else
      return std::to_string(p[i]);
  };
  std::vector<std::int64_t> shown;
  shown_indices(t.shape(), 0, 0, summarize, shown);
  std::size_t width = 1;
  for (std::int64_t i : shown) width = std::max(width, plain(i).size());
  return {[plain, width](std::int64_t i) {
            std::string s = plain(i);
            return std::string(width > s.size() ? width - s.size() : 0, ' ') + s;
          },
          width};
}

// "mul" -> "MulBackward0", PyTorch's name for the node that an op records.
std::string grad_fn_name(const char* op) {
  std::string name;
  bool upper = true;
  for (const char* c = op; *c; ++c) {
    if (*c == '_') {
      upper = true;
      continue;
    }
    name += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(*c))) : *c;
    upper = false;
  }
  return name + "Backward0";
}

}  // namespace

std::string to_string(const Tensor& t) {
  if (!t.defined()) return "tensor(undefined)";
  const std::string prefix = "tensor(";
  const int indent = static_cast<int>(prefix.size());
  const Shape& shape = t.shape();
  std::vector<std::string> suffixes;

  std::string body;
  if (t.numel() == 0) {
    body = "[]";
    if (shape.rank() != 1) suffixes.push_back(fmt::format("size=({})", fmt::join(shape.begin(), shape.end(), ", ")));
  } else {
    bool summarize = t.numel() > kThreshold;
    Elements elements;
    if (t.is_floating_point()) {
      std::vector<double> values = t.tolist();
      std::vector<double> shown;
      if (summarize) shown_values(values, shape, 0, 0, shown);
      auto formatter = std::make_shared<Formatter>(summarize ? shown : values);
      elements = {[values = std::move(values), formatter](std::int64_t i) {
                    return formatter->format(values[static_cast<std::size_t>(i)]);
                  },
                  formatter->width()};
    } else if (t.dtype() == kInt64) {
      elements = exact_elements<std::int64_t>(t, summarize);
    } else {
      elements = exact_elements<bool>(t, summarize);
    }
    body = shape.rank() == 0 ? elements.text(0) : Printer{shape, elements, summarize}.str(0, 0, indent);
  }
  // PyTorch names the dtype unless it is the default float32, or int64 or bool (which it infers
  // from the elements): an empty tensor has no elements to infer it from, so it names any other.
  if (t.dtype() == kFloat64 || (t.numel() == 0 && t.dtype() != kFloat32))
    suffixes.push_back(fmt::format("dtype=tg.{}", dtype_name(t.dtype())));
  if (t.requires_grad() && t.is_leaf()) suffixes.emplace_back("requires_grad=True");
  if (!t.is_leaf()) {
    const OpInfo* op = op_by_index(t.impl().op);
    suffixes.push_back(
        fmt::format("grad_fn=<{}>", op && op->grad_fn ? op->grad_fn : grad_fn_name(op ? op->name : "unknown")));
  }

  // Suffixes go on the last line if they fit in the line width, else on their own lines.
  std::string out = prefix + body;
  std::size_t last_newline = out.rfind('\n');
  std::size_t last_line_len = last_newline == std::string::npos ? out.size() + 2 : out.size() - last_newline + 1;
  for (const std::string& s : suffixes) {
    if (last_line_len + s.size() + 2 > static_cast<std::size_t>(kLinewidth)) {
      out += ",\n" + std::string(static_cast<std::size_t>(indent), ' ') + s;
      last_line_len = static_cast<std::size_t>(indent) + s.size();
    } else {
      out += ", " + s;
      last_line_len += s.size() + 2;
    }
  }
  return out + ")";
}

std::ostream& operator<<(std::ostream& out, const Tensor& t) { return out << to_string(t); }
std::ostream& operator<<(std::ostream& out, const Shape& shape) { return out << shape.str(); }
std::ostream& operator<<(std::ostream& out, Dtype dtype) { return out << dtype_name(dtype); }

}  // namespace tg
