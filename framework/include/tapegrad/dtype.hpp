#pragma once
// Element types. float32 is the default; float64 exists so that gradcheck can compare
// analytic gradients with finite differences in double precision, as PyTorch's does.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tg {

enum class Dtype : std::uint8_t { Float32, Float64 };

inline constexpr Dtype kFloat32 = Dtype::Float32;
inline constexpr Dtype kFloat64 = Dtype::Float64;

constexpr std::size_t itemsize(Dtype d) { return d == Dtype::Float32 ? 4 : 8; }
constexpr std::string_view dtype_name(Dtype d) { return d == Dtype::Float32 ? "float32" : "float64"; }

template <class T>
constexpr Dtype dtype_of();
template <>
constexpr Dtype dtype_of<float>() {
  return Dtype::Float32;
}
template <>
constexpr Dtype dtype_of<double>() {
  return Dtype::Float64;
}

// Calls f.template operator()<T>() with T the C++ type of `d`: the one place where a
// runtime dtype becomes a compile-time type. Kernels are written once, as templates.
template <class F>
decltype(auto) dispatch(Dtype d, F&& f) {
  if (d == Dtype::Float64) return f.template operator()<double>();
  return f.template operator()<float>();
}

}  // namespace tg
