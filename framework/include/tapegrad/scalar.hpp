// SPDX-License-Identifier: MIT
#pragma once
// Scalar: a plain number where a tensor could go (x * 2, x + 0.5, y.masked_fill(m, true)),
// remembering whether it was written as a bool, an integer or a floating-point number: as in
// PyTorch, that decides the result's dtype (an int64 tensor times 2 stays int64, times 2.5 is
// float32), while a float32 tensor times any number stays float32.
#include <concepts>
#include <cstdint>
#include <type_traits>

#include "tapegrad/dtype.hpp"

namespace tg {

class Scalar {
 public:
  enum class Kind : std::uint8_t { Bool, Integral, Floating };

  template <class T>
  requires std::is_arithmetic_v<T> Scalar(T value) {  // NOLINT: implicit, so that x * 2 reads as in PyTorch
    if constexpr (std::is_same_v<T, bool>) {
      kind_ = Kind::Bool;
      integral_ = value ? 1 : 0;
    } else if constexpr (std::is_integral_v<T>) {
      kind_ = Kind::Integral;
      integral_ = static_cast<std::int64_t>(value);
    } else {
      kind_ = Kind::Floating;
      floating_ = static_cast<double>(value);
    }
  }

  Kind kind() const { return kind_; }
  bool is_floating() const { return kind_ == Kind::Floating; }
  double to_double() const { return is_floating() ? floating_ : static_cast<double>(integral_); }
  std::int64_t to_int() const { return is_floating() ? static_cast<std::int64_t>(floating_) : integral_; }
  // The value as T, the element type of the tensor it meets.
  template <class T>
  T to() const {
    if constexpr (std::is_floating_point_v<T>)
      return static_cast<T>(to_double());
    else if constexpr (std::is_same_v<T, bool>)
      return is_floating() ? floating_ != 0 : integral_ != 0;
    else
      return static_cast<T>(to_int());
  }
  // The dtype a number of this kind has on its own in PyTorch's promotion rules: bool, int64,
  // or float32 (the default dtype), as torch.result_type(python_number).
  Dtype dtype() const { return kind_ == Kind::Bool ? kBool : kind_ == Kind::Integral ? kInt64 : kFloat32; }

 private:
  union {
    double floating_ = 0;
    std::int64_t integral_;
  };
  Kind kind_ = Kind::Floating;
};

}  // namespace tg
