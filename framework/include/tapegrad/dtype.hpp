// SPDX-License-Identifier: MIT
#pragma once
// Element types, as PyTorch's: float32 (the default), float64 (gradient checks in double
// precision), int64 (indices, class labels) and bool (masks, the results of comparisons).
// Only the floating types carry gradients.
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

namespace tg {

enum class Dtype : std::uint8_t { Float32, Float64, Int64, Bool };

inline constexpr Dtype kFloat32 = Dtype::Float32;
inline constexpr Dtype kFloat64 = Dtype::Float64;
inline constexpr Dtype kInt64 = Dtype::Int64;
inline constexpr Dtype kBool = Dtype::Bool;

constexpr std::size_t itemsize(Dtype d) {
  switch (d) {
    case Dtype::Float32:
      return 4;
    case Dtype::Float64:
      return 8;
    case Dtype::Int64:
      return 8;
    case Dtype::Bool:
      return 1;
  }
  return 0;
}

constexpr std::string_view dtype_name(Dtype d) {
  switch (d) {
    case Dtype::Float32:
      return "float32";
    case Dtype::Float64:
      return "float64";
    case Dtype::Int64:
      return "int64";
    case Dtype::Bool:
      return "bool";
  }
  return "unknown";
}

constexpr bool is_floating(Dtype d) { return d == Dtype::Float32 || d == Dtype::Float64; }

// PyTorch's type promotion for two dtypes. Ours are ordered bool < int64 < float32 < float64,
// and the promoted type is the larger: int64 with float32 gives float32, as in torch.promote_types.
constexpr Dtype promote_types(Dtype a, Dtype b) {
  auto rank = [](Dtype d) {
    switch (d) {
      case Dtype::Bool:
        return 0;
      case Dtype::Int64:
        return 1;
      case Dtype::Float32:
        return 2;
      case Dtype::Float64:
        return 3;
    }
    return 0;
  };
  return rank(a) >= rank(b) ? a : b;
}

// A set of dtypes: those an op accepts.
class DtypeSet {
 public:
  constexpr DtypeSet() = default;
  constexpr DtypeSet(std::initializer_list<Dtype> dtypes) {
    for (Dtype d : dtypes) bits_ = static_cast<std::uint8_t>(bits_ | bit(d));
  }
  constexpr bool contains(Dtype d) const { return (bits_ & bit(d)) != 0; }
  constexpr bool empty() const { return bits_ == 0; }
  std::string str() const;  // "float32, float64"

 private:
  static constexpr std::uint8_t bit(Dtype d) { return static_cast<std::uint8_t>(1u << static_cast<unsigned>(d)); }
  std::uint8_t bits_ = 0;
};

inline constexpr DtypeSet kFloatingTypes{kFloat32, kFloat64};
inline constexpr DtypeSet kNumericTypes{kFloat32, kFloat64, kInt64};
inline constexpr DtypeSet kAllTypes{kFloat32, kFloat64, kInt64, kBool};

template <class T>
constexpr Dtype dtype_of() {
  if constexpr (std::is_same_v<T, float>)
    return Dtype::Float32;
  else if constexpr (std::is_same_v<T, double>)
    return Dtype::Float64;
  else if constexpr (std::is_same_v<T, std::int64_t>)
    return Dtype::Int64;
  else {
    static_assert(std::is_same_v<T, bool>, "tapegrad's element types are float, double, std::int64_t and bool");
    return Dtype::Bool;
  }
}

namespace detail {
[[noreturn]] void fail_dtype(const char* op, Dtype d, DtypeSet accepted);
}  // namespace detail

// Calls f.template operator()<T>() with T the C++ type of `d`: the one place where a runtime
// dtype becomes a compile-time type, so kernels are written once, as templates. Every dtype is
// handled; a kernel that makes sense only for some uses dispatch_floating (or dispatch_numeric),
// which refuse the others with a DtypeError naming `op`.
template <class F>
decltype(auto) dispatch(Dtype d, F&& f) {
  switch (d) {
    case Dtype::Float64:
      return f.template operator()<double>();
    case Dtype::Int64:
      return f.template operator()<std::int64_t>();
    case Dtype::Bool:
      return f.template operator()<bool>();
    case Dtype::Float32:
      break;
  }
  return f.template operator()<float>();
}

template <class F>
decltype(auto) dispatch_floating(const char* op, Dtype d, F&& f) {
  if (d == Dtype::Float64) return f.template operator()<double>();
  if (d != Dtype::Float32) detail::fail_dtype(op, d, kFloatingTypes);
  return f.template operator()<float>();
}

template <class F>
decltype(auto) dispatch_numeric(const char* op, Dtype d, F&& f) {
  if (d == Dtype::Float64) return f.template operator()<double>();
  if (d == Dtype::Int64) return f.template operator()<std::int64_t>();
  if (d != Dtype::Float32) detail::fail_dtype(op, d, kNumericTypes);
  return f.template operator()<float>();
}

}  // namespace tg
