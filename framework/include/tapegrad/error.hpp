// SPDX-License-Identifier: MIT
#pragma once
// tapegrad's exceptions. Every message names the operation, the offending shapes or
// values, and what would fix it, e.g.
//   corr2d: kernel [3, 3] is larger than input [2, 5]; the kernel must fit inside the input
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace tg {

// Base of every error tapegrad throws.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Shapes that do not fit together: mismatched dims, non-broadcastable shapes, bad ranks.
class ShapeError : public Error {
 public:
  using Error::Error;
};

// Arguments with bad values: out-of-range indices, negative learning rates, wrong dtypes.
class ValueError : public Error {
 public:
  using Error::Error;
};

// A tensor of a dtype the op does not accept: an int64 tensor given to exp, a float mask.
class DtypeError : public ValueError {
 public:
  using ValueError::ValueError;
};

// Autograd misuse: backward through a freed tape, in-place writes to leaves that need grad.
class AutogradError : public Error {
 public:
  using Error::Error;
};

// A NaN or Inf found by anomaly mode (DetectAnomalyGuard in tape.hpp).
class AnomalyError : public ValueError {
 public:
  using ValueError::ValueError;
};

// Files that cannot be read or written, or whose contents are malformed.
class IoError : public Error {
 public:
  using Error::Error;
};

// Throws E with a message formatted by fmt: fail<ShapeError>("add: {} vs {}", a, b).
template <class E, class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw E(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace tg
