// SPDX-License-Identifier: MIT
#include "tapegrad/init.hpp"

#include <cmath>

#include "tapegrad/error.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace {

// t = values, written in place even if t requires grad: initialisation is not differentiated.
Tensor& assign(Tensor& t, const Tensor& values) {
  NoGradGuard no_grad;
  t.copy_(values);
  return t;
}

// U(low, high) and N(mean, std^2), drawn in float64 and rounded to t's dtype by copy_.
Tensor& fill_uniform(Tensor& t, Generator& gen, double low, double high) {
  return assign(t, rand(t.shape(), gen, {.dtype = kFloat64}) * (high - low) + low);
}

Tensor& fill_normal(Tensor& t, Generator& gen, double mean, double std) {
  return assign(t, randn(t.shape(), gen, {.dtype = kFloat64}) * std + mean);
}

void check_defined(const char* op, const Tensor& t) {
  if (!t.defined())
    fail<ValueError>(
        "{}: the tensor is undefined (a default-constructed Tensor, or the bias of a layer built with bias = "
        "false); pass a tensor that holds values",
        op);
}

void check_floating(const char* op, const Tensor& t) {
  check_defined(op, t);
  if (!t.is_floating_point())
    fail<DtypeError>(
        "{}: the tensor is {}, but random draws need float32 or float64; convert it with .to(tg::kFloat32)", op,
        dtype_name(t.dtype()));
}

Tensor& fill(const char* op, Tensor& t, Scalar value) {
  check_defined(op, t);
  NoGradGuard no_grad;
  return t.fill_(value);
}

void check_finite(const char* op, const char* name, double value) {
  if (!std::isfinite(value)) fail<ValueError>("{}: {} must be finite, got {}; pass a finite number", op, name, value);
}

// fan_in_and_fan_out with `op` naming the initialiser that asked, in the error.
Fans fans(const char* op, const Tensor& t) {
  if (t.dim() < 2)
    fail<ShapeError>(
        "{}: fan in and fan out can not be computed for a tensor with fewer than 2 dims (shape {}); initialise "
        "biases and other vectors with fill_ or rand instead",
        op, t.shape());
  std::int64_t receptive_field = 1;
  for (int d = 2; d < t.dim(); ++d) receptive_field *= t.size(d);
  return {t.size(1) * receptive_field, t.size(0) * receptive_field};
}

double xavier_std(const char* op, const Tensor& t, double gain) {
  Fans f = fans(op, t);
  return gain * std::sqrt(2.0 / static_cast<double>(f.fan_in + f.fan_out));
}

double kaiming_std(const char* op, const Tensor& t, double a, FanMode mode) {
  Fans f = fans(op, t);
  double fan = static_cast<double>(mode == FanMode::FanIn ? f.fan_in : f.fan_out);
  return std::sqrt(2.0 / (1 + a * a)) / std::sqrt(fan);
}

}  // namespace

Tensor& normal_(Tensor& t, double mean, double std, Generator& gen) {
  check_floating("normal_", t);
  check_finite("normal_", "mean", mean);
  check_finite("normal_", "std", std);
  if (std < 0)
    fail<ValueError>("normal_: std must be >= 0, got {}; pass the standard deviation (0 fills with the mean)", std);
  return fill_normal(t, gen, mean, std);
}

Tensor& uniform_(Tensor& t, double a, double b, Generator& gen) {
  check_floating("uniform_", t);
  check_finite("uniform_", "a", a);
  check_finite("uniform_", "b", b);
  if (a > b)
    fail<ValueError>("uniform_: a = {} is greater than b = {}; pass the bounds as uniform_(t, low, high)", a, b);
  return fill_uniform(t, gen, a, b);
}

Tensor& zeros_(Tensor& t) { return fill("zeros_", t, 0); }

Tensor& ones_(Tensor& t) { return fill("ones_", t, 1); }

Tensor& constant_(Tensor& t, Scalar value) { return fill("constant_", t, value); }

Fans fan_in_and_fan_out(const Tensor& t) { return fans("fan_in_and_fan_out", t); }

Tensor& xavier_uniform_(Tensor& t, Generator& gen, double gain) {
  double bound = std::sqrt(3.0) * xavier_std("xavier_uniform_", t, gain);
  return fill_uniform(t, gen, -bound, bound);
}

Tensor& xavier_normal_(Tensor& t, Generator& gen, double gain) {
  return fill_normal(t, gen, 0, xavier_std("xavier_normal_", t, gain));
}

Tensor& kaiming_uniform_(Tensor& t, Generator& gen, double a, FanMode mode) {
  double bound = std::sqrt(3.0) * kaiming_std("kaiming_uniform_", t, a, mode);
  return fill_uniform(t, gen, -bound, bound);
}

Tensor& kaiming_normal_(Tensor& t, Generator& gen, double a, FanMode mode) {
  return fill_normal(t, gen, 0, kaiming_std("kaiming_normal_", t, a, mode));
}

}  // namespace tg
