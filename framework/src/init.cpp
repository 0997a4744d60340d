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

Tensor& uniform_(Tensor& t, Generator& gen, double bound) {
  return assign(t, rand(t.shape(), gen, {.dtype = kFloat64}) * (2 * bound) - bound);
}

Tensor& normal_(Tensor& t, Generator& gen, double std) {
  return assign(t, randn(t.shape(), gen, {.dtype = kFloat64}) * std);
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

Fans fan_in_and_fan_out(const Tensor& t) { return fans("fan_in_and_fan_out", t); }

Tensor& xavier_uniform_(Tensor& t, Generator& gen, double gain) {
  return uniform_(t, gen, std::sqrt(3.0) * xavier_std("xavier_uniform_", t, gain));
}

Tensor& xavier_normal_(Tensor& t, Generator& gen, double gain) {
  return normal_(t, gen, xavier_std("xavier_normal_", t, gain));
}

Tensor& kaiming_uniform_(Tensor& t, Generator& gen, double a, FanMode mode) {
  return uniform_(t, gen, std::sqrt(3.0) * kaiming_std("kaiming_uniform_", t, a, mode));
}

Tensor& kaiming_normal_(Tensor& t, Generator& gen, double a, FanMode mode) {
  return normal_(t, gen, kaiming_std("kaiming_normal_", t, a, mode));
}

}  // namespace tg
