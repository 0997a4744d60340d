// SPDX-License-Identifier: MIT
#pragma once
// Helpers shared by the op tests: random shapes and values, and a matcher for the
// messages of tapegrad's exceptions.
#include <string>
#include <vector>

#include "test_util.hpp"

namespace tg::test {

// Matches an exception whose what() contains every one of `parts`, e.g. the op's name
// and both offending shapes.
class MessageContains : public Catch::MatcherBase<std::exception> {
 public:
  explicit MessageContains(std::vector<std::string> parts) : parts_(std::move(parts)) {}
  bool match(const std::exception& e) const override {
    std::string message = e.what();
    for (const std::string& part : parts_)
      if (message.find(part) == std::string::npos) return false;
    return true;
  }
  std::string describe() const override {
    return fmt::format("has a message containing \"{}\"", fmt::join(parts_, "\", \""));
  }

 private:
  std::vector<std::string> parts_;
};

// gradcheck and gradgradcheck of f at args: first and second derivatives against central
// differences, each failure with its message.
inline void check_first_and_second(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                   const std::vector<Tensor>& args) {
  tg::GradcheckResult first = tg::gradcheck(f, args);
  INFO(first.message);
  CHECK(first.ok);
  tg::GradcheckResult second = tg::gradgradcheck(f, args);
  INFO(second.message);
  CHECK(second.ok);
}

// A column vector [n, 1], from a flat list of values.
inline Tensor column(std::initializer_list<double> values) {
  return tg::from_vector(std::vector<double>(values), {static_cast<std::int64_t>(values.size()), 1});
}

// A uniform integer in [lo, hi].
inline std::int64_t random_int(Generator& gen, std::int64_t lo, std::int64_t hi) {
  return lo + static_cast<std::int64_t>(gen.uniform() * static_cast<double>(hi - lo + 1));
}

// A shape of rank in [min_rank, max_rank] with every size in [1, max_size].
inline Shape random_shape(Generator& gen, int min_rank, int max_rank, std::int64_t max_size = 4) {
  Shape shape;
  for (auto r = random_int(gen, min_rank, max_rank); r > 0; --r) shape.push_back(random_int(gen, 1, max_size));
  return shape;
}

// A shape that broadcasts with `shape` to `shape`: some leading dims dropped, some sizes set to 1.
inline Shape broadcast_partner(Generator& gen, const Shape& shape) {
  Shape partner;
  for (int d = static_cast<int>(random_int(gen, 0, shape.rank())); d < shape.rank(); ++d)
    partner.push_back(gen.uniform() < 0.4 ? 1 : shape[d]);
  return partner;
}

// float64 values uniform in [lo, hi).
inline Tensor uniform(const Shape& shape, Generator& gen, double lo, double hi) {
  return rand(shape, gen, {.dtype = kFloat64}) * (hi - lo) + lo;
}

// float64 values with magnitude in [lo, hi) and a random sign: away from 0 (kinks, poles).
inline Tensor away_from_zero(const Shape& shape, Generator& gen, double lo, double hi) {
  Tensor t = uniform(shape, gen, lo, hi);
  double* p = t.data<double>();
  for (std::int64_t i = 0; i < t.numel(); ++i)
    if (gen.uniform() < 0.5) p[i] = -p[i];
  return t;
}

// A float64 leaf that requires grad, from row-major values.
inline Tensor leaf64(const std::vector<double>& values, const Shape& shape) {
  return from_vector(values, shape, {.dtype = kFloat64, .requires_grad = true});
}

}  // namespace tg::test
