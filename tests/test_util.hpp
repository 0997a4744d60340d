#pragma once
// Helpers shared by the tests.
#include <cmath>
#include <string>

#include <catch2/catch.hpp>

#include "tapegrad/tapegrad.hpp"

namespace tg::test {

inline std::string fixture(const std::string& name) { return std::string(TAPEGRAD_FIXTURES_DIR) + "/" + name; }

// True when a and b have the same shape and |a - b| <= atol + rtol |b| elementwise, as
// torch.allclose: infinities must match exactly, and NaN matches nothing.
inline bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-6) {
  if (!(a.shape() == b.shape())) return false;
  auto x = a.tolist(), y = b.tolist();
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (std::isinf(y[i]) ? x[i] != y[i] : !(std::abs(x[i] - y[i]) <= atol + rtol * std::abs(y[i]))) return false;
  }
  return true;
}

}  // namespace tg::test

// Lets Catch print tensors in failure messages.
namespace Catch {
template <>
struct StringMaker<tg::Tensor> {
  static std::string convert(const tg::Tensor& t) { return tg::to_string(t); }
};
}  // namespace Catch
