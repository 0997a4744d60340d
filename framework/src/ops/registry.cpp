// SPDX-License-Identifier: MIT
// The registry: every differentiable op of tapegrad, one entry each (registry.hpp), with the
// samples the checks call it on and the calls it must refuse.
#include "tapegrad/registry.hpp"

#include <limits>
#include <mutex>
#include <string_view>
#include <vector>

#include "tapegrad/error.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace {

struct Table {
  std::mutex mutex;
  std::vector<const OpInfo*> all{nullptr};  // index 0: no op
  std::vector<const OpInfo*> builtin;
};

Table& table() {
  static Table t;
  return t;
}

}  // namespace

void register_op(OpInfo& op) {
  Table& t = table();
  std::lock_guard lock(t.mutex);
  if (op.index != 0) return;  // registered already
  if (t.all.size() > 0xffff)
    fail<ValueError>("register_op: {} ops are registered already, the most a tensor can name; register {} once",
                     t.all.size() - 1, op.name);
  op.index = static_cast<std::uint16_t>(t.all.size());
  t.all.push_back(&op);
}

const OpInfo* op_by_index(std::uint16_t index) {
  Table& t = table();
  std::lock_guard lock(t.mutex);
  return index < t.all.size() ? t.all[index] : nullptr;
}

BuiltinOp::BuiltinOp(OpInfo info) : OpInfo(std::move(info)) {
  builtin = true;
  register_op(*this);
  std::lock_guard lock(table().mutex);
  table().builtin.push_back(this);
}

std::span<const OpInfo* const> builtin_ops() { return table().builtin; }

const OpInfo* find_builtin_op(std::string_view name) {
  for (const OpInfo* op : builtin_ops())
    if (name == op->name) return op;
  return nullptr;
}

namespace {

using Inputs = std::vector<Tensor>;
using Call = std::function<Tensor(const Inputs&)>;
using Kind = OpErrorSample::Kind;

constexpr std::uint32_t bit(int i) { return std::uint32_t{1} << i; }

// Sample inputs, float64: x(gen, shape) uniform in [-1, 1), x(gen, shape, lo, hi) in [lo, hi);
// away(gen, shape) with magnitude in [0.2, 1.5) and a random sign (away from kinks and poles).
// Both require grad: they are what the checks differentiate.
Tensor x(Generator& gen, const Shape& shape, double lo = -1, double hi = 1) {
  Tensor t = rand(shape, gen, {.dtype = kFloat64});
  NoGradGuard no_grad;
  return (t * (hi - lo) + lo).requires_grad_();
}
Tensor away(Generator& gen, const Shape& shape) {
  Tensor t = x(gen, shape, 0.2, 1.5).detach();
  double* p = t.data<double>();
  for (std::int64_t i = 0; i < t.numel(); ++i)
    if (gen.uniform() < 0.5) p[i] = -p[i];
  return t.requires_grad_();
}

// One sample of one input in [lo, hi), for elementwise ops and the like.
std::function<std::vector<OpSample>(Generator&)> one(Call call, double lo = -1, double hi = 1, Shape shape = {3, 4}) {
  return [=](Generator& gen) { return std::vector<OpSample>{{"", {x(gen, shape, lo, hi)}, call}}; };
}

// Samples of a binary op with broadcasting: equal shapes, and each operand stretched (only the
// second for an op that writes the first in place, which keeps its shape).
std::function<std::vector<OpSample>(Generator&)> binary(Call call, bool positive_second = false,
                                                        bool in_place = false) {
  return [=](Generator& gen) {
    auto second = [&](const Shape& s) { return positive_second ? away(gen, s) : x(gen, s); };
    std::vector<OpSample> out{{"", {x(gen, {2, 3}), second({2, 3})}, call},
                              {"broadcast", {x(gen, {2, 3}), second({3})}, call}};
    if (!in_place) out.push_back({"broadcast first", {x(gen, {2, 1}), second({2, 3})}, call});
    return out;
  };
}

// The tensor an in-place op writes: computed from its input, since a leaf that requires grad
// cannot be written in place (a copy for one that needs no gradient; an undefined one as it is,
// so that the checks reach the op itself).
Tensor written(const Tensor& t) { return !t.defined() ? t : t.is_floating_point() ? t * 1.0 : t.clone(); }

// An error sample: `call` must throw `kind` with a message containing every piece.
OpErrorSample refuse(std::string label, std::function<void()> call, Kind kind, std::vector<std::string> pieces) {
  return {std::move(label), std::move(call), kind, std::move(pieces)};
}

// What the calls to refuse are made of: ones2 is tg::ones (a name the ops' own would shadow).
Tensor ones2(const Shape& shape) { return ones(shape); }
Tensor leaf(const Shape& shape) { return ones(shape, {.requires_grad = true}); }
constexpr std::int64_t kHuge = std::int64_t{1} << 40;  // kHuge * kHuge overflows int64
const double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

namespace op {

// ---- arithmetic (ops/arithmetic.cpp) ----
const BuiltinOp add({.name = "add",
                     .jvp = "y' = a' + b'   (a term of an operand without a tangent is skipped; expanded to y's shape)",
                     .vjp = "da = dy, db = dy   (each summed over the dims it was broadcast along)",
                     .num_inputs = 2,
                     .dtypes = kAllTypes,
                     .samples = binary([](const Inputs& v) { return v[0] + v[1]; }),
                     .errors = [] {
                       return std::vector{refuse("add(ones({2, 3}), ones({4}))",
                                                 [] {
                                                   tg::add(ones2({2, 3}), ones2({4}));
                                                 },
                                                 Kind::Shape, {"add", "[2, 3] and [4]", "reshape one operand"})};
                     }});
const BuiltinOp sub({.name = "sub",
                     .jvp = "y' = a' - b'",
                     .vjp = "da = dy, db = -dy   (each summed over the dims it was broadcast along)",
                     .num_inputs = 2,
                     .dtypes = kNumericTypes,
                     .samples = binary([](const Inputs& v) { return v[0] - v[1]; }),
                     .errors = [] {
                       return std::vector{refuse("ones({2, 3}) - ones({2})",
                                                 [] {
                                                   ones2({2, 3}) - ones2({2});
                                                 },
                                                 Kind::Shape, {"sub", "[2, 3] and [2]", "reshape one operand"})};
                     }});
const BuiltinOp mul({.name = "mul",
                     .jvp = "y' = a' * b + a * b'",
                     .vjp = "da = dy * b, db = dy * a   (summed to each input's shape)",
                     .num_inputs = 2,
                     .dtypes = kAllTypes,
                     .samples = binary([](const Inputs& v) { return v[0] * v[1]; }),
                     .errors = [] {
                       return std::vector{refuse("ones({5}) * ones({3, 4})",
                                                 [] {
                                                   ones2({5}) * ones2({3, 4});
                                                 },
                                                 Kind::Shape, {"mul", "sizes 5 and 4", "reshape one operand"})};
                     }});
const BuiltinOp div({.name = "div",
                     .jvp = "y' = (a' - y * b') / b",
                     .vjp = "da = dy / b, db = -dy * a / b^2   (summed to each input's shape)",
                     .num_inputs = 2,
                     .dtypes = kAllTypes,
                     .samples = binary([](const Inputs& v) { return v[0] / v[1]; }, true),
                     .errors = [] {
                       return std::vector{refuse("ones({3}) / ones({4})", [] { ones2({3}) / ones2({4}); }, Kind::Shape,
                                                 {"div", "[3] and [4]", "reshape one operand"})};
                     }});
const BuiltinOp neg({.name = "neg",
                     .jvp = "y' = -x'",
                     .vjp = "dx = -dy",
                     .dtypes = kNumericTypes,
                     .samples = one([](const Inputs& v) { return -v[0]; })});
const BuiltinOp pow({.name = "pow",
                     .jvp = "y' = x' * p * x^(p-1)   (0 for p = 0)",
                     .vjp = "dx = dy * p * x^(p-1)   (p = 0: dx = 0 everywhere, also at x = 0)",
                     .samples = [](Generator& gen) {
                       return std::vector<OpSample>{
                           {"2.5", {x(gen, {2, 3}, 0.5, 2)}, [](const Inputs& v) { return tg::pow(v[0], 2.5); }},
                           {"-1", {away(gen, {2, 3})}, [](const Inputs& v) { return tg::pow(v[0], -1); }}};
                     }});
const BuiltinOp square({.name = "square",
                        .jvp = "y' = 2 x x'",
                        .vjp = "dx = 2 x dy",
                        .dtypes = kNumericTypes,
                        .samples = one([](const Inputs& v) { return tg::square(v[0]); })});
const BuiltinOp reciprocal({.name = "reciprocal",
                            .jvp = "y' = -x' * y^2",
                            .vjp = "dx = -dy * y^2   (= -dy / x^2)",
                            .samples = [](Generator& gen) {
                              return std::vector<OpSample>{
                                  {"", {away(gen, {3, 4})}, [](const Inputs& v) { return tg::reciprocal(v[0]); }},
                                  {"number over tensor", {away(gen, {3})}, [](const Inputs& v) { return 2.0 / v[0]; }}};
                            }});
const BuiltinOp add_scalar({.name = "add_scalar",
                            .jvp = "y' = x'",
                            .vjp = "dx = dy",
                            .grad_fn = "AddBackward0",
                            .dtypes = kAllTypes,
                            .samples = one([](const Inputs& v) { return v[0] + 2.5; })});
const BuiltinOp sub_scalar({.name = "sub_scalar",
                            .jvp = "y' = x'",
                            .vjp = "dx = dy",
                            .grad_fn = "SubBackward0",
                            .dtypes = kNumericTypes,
                            .samples = one([](const Inputs& v) { return v[0] - 2.5; })});
const BuiltinOp rsub_scalar({.name = "rsub_scalar",
                             .jvp = "y' = -x'",
                             .vjp = "dx = -dy",
                             .grad_fn = "RsubBackward1",
                             .dtypes = kNumericTypes,
                             .samples = one([](const Inputs& v) { return 2.5 - v[0]; })});
const BuiltinOp mul_scalar({.name = "mul_scalar",
                            .jvp = "y' = x' * c",
                            .vjp = "dx = dy * c",
                            .grad_fn = "MulBackward0",
                            .dtypes = kAllTypes,
                            .samples = one([](const Inputs& v) { return v[0] * -1.5; })});
const BuiltinOp div_scalar({.name = "div_scalar",
                            .jvp = "y' = x' / c",
                            .vjp = "dx = dy / c",
                            .grad_fn = "DivBackward0",
                            .dtypes = kAllTypes,
                            .samples = one([](const Inputs& v) { return v[0] / 3; })});

// ---- in place (ops/inplace.cpp), on a tensor computed first: a leaf cannot be written ----
const BuiltinOp add_({.name = "add_",
                      .jvp = "y' = y_before' + alpha x'",
                      .vjp = "dy_before = dy, dx = alpha dy   (dx summed to x's shape)",
                      .grad_fn = "AddBackward0",
                      .num_inputs = 2,
                      .dtypes = kAllTypes,
                      .samples = binary([](const Inputs& v) { return written(v[0]).add_(v[1], 0.5); }, false, true),
                      .errors = [] {
                        return std::vector{refuse("a leaf that requires grad",
                                                  [] { tg::ones({2}, {.requires_grad = true}) += ones2({2}); },
                                                  Kind::Autograd, {"add_", "leaf", "NoGradGuard"}),
                                           refuse("ones({2, 3}).add_(ones({2}))",
                                                  [] {
                                                    ones2({2, 3}).add_(ones2({2}));
                                                  },
                                                  Kind::Shape, {"add_", "[2]", "reshape"})};
                      }});
const BuiltinOp sub_({.name = "sub_",
                      .jvp = "y' = y_before' - alpha x'",
                      .vjp = "dy_before = dy, dx = -alpha dy   (dx summed to x's shape)",
                      .grad_fn = "SubBackward0",
                      .num_inputs = 2,
                      .dtypes = kNumericTypes,
                      .samples = binary([](const Inputs& v) { return written(v[0]) -= v[1]; }, false, true),
                      .errors = [] {
                        return std::vector{refuse("a bool tensor",
                                                  [] {
                                                    Tensor t = tg::ones({2}, {.dtype = kBool});
                                                    t.sub_(t);
                                                  },
                                                  Kind::Dtype, {"sub_", "bool", "to(tg::kFloat32)"}),
                                           refuse("a shape that does not broadcast to the tensor written",
                                                  [] {
                                                    Tensor t = ones2({2});
                                                    t -= ones2({3});
                                                  },
                                                  Kind::Shape, {"sub_", "[3]", "[2]"})};
                      }});
const BuiltinOp mul_({.name = "mul_",
                      .jvp = "y' = y_before' * x + y_before * x'   (y_before: a copy of y's values before the write)",
                      .vjp = "dy_before = dy * x, dx = dy * y_before   (y_before: a copy of y's values before the "
                             "write; dx summed to x's shape)",
                      .grad_fn = "MulBackward0",
                      .num_inputs = 2,
                      .dtypes = kAllTypes,
                      .samples = binary([](const Inputs& v) { return written(v[0]) *= v[1]; }, false, true),
                      .errors = [] {
                        return std::vector{refuse("a float result in an int64 tensor",
                                                  [] {
                                                    Tensor t = tg::zeros({2}, {.dtype = kInt64});
                                                    t *= ones2({2});
                                                  },
                                                  Kind::Dtype, {"mul_", "float32", "int64"}),
                                           refuse("leaf({3}).mul_(2)", [] { leaf({3}).mul_(2); }, Kind::Autograd,
                                                  {"mul_", "[3]", "NoGradGuard"})};
                      }});
const BuiltinOp div_({.name = "div_",
                      .jvp = "y' = (y_before' - y * x') / x   (y: the result)",
                      .vjp = "dy_before = dy / x, dx = -dy * y_before / x^2   (y_before: a copy of y's values before "
                             "the write; dx summed to x's shape)",
                      .grad_fn = "DivBackward0",
                      .num_inputs = 2,
                      .dtypes = kAllTypes,
                      .samples = binary([](const Inputs& v) { return written(v[0]) /= v[1]; }, true, true),
                      .errors = [] {
                        return std::vector{refuse("a quotient written into an int64 tensor",
                                                  [] {
                                                    Tensor t = tg::zeros({2}, {.dtype = kInt64});
                                                    t.div_(t);
                                                  },
                                                  Kind::Dtype,
                                                  {"div_", "float32", "an int64 tensor [2]", "to(tg::kFloat32)"})};
                      }});
const BuiltinOp add_scalar_({.name = "add_scalar_",
                             .jvp = "y' = y_before'",
                             .vjp = "dy_before = dy",
                             .grad_fn = "AddBackward0",
                             .dtypes = kAllTypes,
                             .samples = one([](const Inputs& v) { return written(v[0]) += 2.5; })});
const BuiltinOp sub_scalar_({.name = "sub_scalar_",
                             .jvp = "y' = y_before'",
                             .vjp = "dy_before = dy",
                             .grad_fn = "SubBackward0",
                             .dtypes = kNumericTypes,
                             .samples = one([](const Inputs& v) { return written(v[0]) -= 2.5; })});
const BuiltinOp mul_scalar_({.name = "mul_scalar_",
                             .jvp = "y' = y_before' * c",
                             .vjp = "dy_before = dy * c",
                             .grad_fn = "MulBackward0",
                             .dtypes = kAllTypes,
                             .samples = one([](const Inputs& v) { return written(v[0]) *= -1.5; })});
const BuiltinOp div_scalar_({.name = "div_scalar_",
                             .jvp = "y' = y_before' / c",
                             .vjp = "dy_before = dy / c",
                             .grad_fn = "DivBackward0",
                             .dtypes = kAllTypes,
                             .samples = one([](const Inputs& v) { return written(v[0]) /= 3; })});
const BuiltinOp relu_(
    {.name = "relu_",
     .jvp = "y' = y_before' * [y > 0]",
     .vjp = "dy_before = dy where y > 0, else 0   (y: the values after the write; 0 at y_before = 0, a NaN passes dy)",
     .grad_fn = "ReluBackward0",
     .dtypes = kNumericTypes,
     .samples = [](Generator& gen) {
       return std::vector<OpSample>{{"", {away(gen, {3, 4})}, [](const Inputs& v) { return written(v[0]).relu_(); }}};
     }});

// ---- elementwise functions (ops/unary.cpp) ----
const BuiltinOp exp({.name = "exp",
                     .jvp = "y' = x' * y",
                     .vjp = "dx = dy * y",
                     .samples = one([](const Inputs& v) { return tg::exp(v[0]); }, -2, 2)});
const BuiltinOp log({.name = "log",
                     .jvp = "y' = x' / x",
                     .vjp = "dx = dy / x",
                     .samples = one([](const Inputs& v) { return tg::log(v[0]); }, 0.5, 3)});
const BuiltinOp relu(
    {.name = "relu",
     .jvp = "y' = x' * [not y <= 0]   (0 at x = 0, as the backward)",
     .vjp = "dx = dy where y > 0, else 0   (0 at x = 0; a NaN passes dy)",
     .dtypes = kNumericTypes,
     .samples = [](Generator& gen) {
       return std::vector<OpSample>{{"", {away(gen, {3, 4})}, [](const Inputs& v) { return tg::relu(v[0]); }}};
     }});
const BuiltinOp sigmoid({.name = "sigmoid",
                         .jvp = "y' = sigmoid_backward(x', y) = x' * y * (1 - y)",
                         .vjp = "dx = sigmoid_backward(dy, y) = dy * y * (1 - y)",
                         .samples = one([](const Inputs& v) { return tg::sigmoid(v[0]); }, -3, 3),
                         .backward_op = &sigmoid_backward});
const BuiltinOp tanh({.name = "tanh",
                      .jvp = "y' = x' * (1 - y^2)",
                      .vjp = "dx = dy * (1 - y^2)",
                      .samples = one([](const Inputs& v) { return tg::tanh(v[0]); }, -2, 2)});
const BuiltinOp sign(
    {.name = "sign",
     .jvp = "y' = 0",
     .vjp = "dx = 0   (zeros: sign is flat wherever it is differentiable)",
     .dtypes = kNumericTypes,
     .samples = [](Generator& gen) {
       return std::vector<OpSample>{{"", {away(gen, {3, 4})}, [](const Inputs& v) { return tg::sign(v[0]); }}};
     }});
const BuiltinOp abs(
    {.name = "abs",
     .jvp = "y' = x' * sign(x)",
     .vjp = "dx = dy * sign(x)   (0 at x = 0)",
     .dtypes = kNumericTypes,
     .samples = [](Generator& gen) {
       return std::vector<OpSample>{{"", {away(gen, {3, 4})}, [](const Inputs& v) { return tg::abs(v[0]); }}};
     }});
const BuiltinOp sqrt({.name = "sqrt",
                      .jvp = "y' = x' / (2 y)",
                      .vjp = "dx = dy / (2 y)",
                      .samples = one([](const Inputs& v) { return tg::sqrt(v[0]); }, 0.2, 3)});
const BuiltinOp rsqrt({.name = "rsqrt",
                       .jvp = "y' = -x' * y^3 / 2",
                       .vjp = "dx = -dy * y^3 / 2",
                       .samples = one([](const Inputs& v) { return tg::rsqrt(v[0]); }, 0.2, 3)});
const BuiltinOp log1p({.name = "log1p",
                       .jvp = "y' = x' / (1 + x)",
                       .vjp = "dx = dy / (1 + x)",
                       .samples = one([](const Inputs& v) { return tg::log1p(v[0]); }, -0.5, 2)});
const BuiltinOp erf({.name = "erf",
                     .jvp = "y' = x' * 2 / sqrt(pi) * e^(-x^2)",
                     .vjp = "dx = dy * 2 / sqrt(pi) * e^(-x^2)",
                     .samples = one([](const Inputs& v) { return tg::erf(v[0]); }, -2, 2)});
const BuiltinOp gelu({.name = "gelu",
                      .jvp = "y' = x' * dy/dx   (the backward's factor: Phi(x) + x phi(x), or the tanh form's)",
                      .vjp = "dx = dy * (Phi(x) + x phi(x)); tanh form: dx = dy * ((1 + t) / 2 + x (1 - t^2) "
                             "sqrt(2/pi) (1 + 3 * 0.044715 x^2) / 2), t = tanh(sqrt(2/pi) (x + 0.044715 x^3))",
                      .samples =
                          [](Generator& gen) {
                            return std::vector<OpSample>{
                                {"", {x(gen, {3, 4}, -3, 3)}, [](const Inputs& v) { return tg::gelu(v[0]); }},
                                {"tanh", {x(gen, {3, 4}, -3, 3)}, [](const Inputs& v) {
                                   return tg::gelu(v[0], "tanh");
                                 }}};
                          },
                      .errors =
                          [] {
                            return std::vector{refuse("gelu(x, \"fast\")", [] { tg::gelu(ones2({2}), "fast"); },
                                                      Kind::Value, {"gelu", "\"fast\"", "\"tanh\""})};
                          }});
const BuiltinOp leaky_relu({.name = "leaky_relu",
                            .jvp = "y' = x' where x > 0, else negative_slope * x'",
                            .vjp = "dx = dy where x > 0, else negative_slope * dy   (the slope's side at x = 0)",
                            .samples = [](Generator& gen) {
                              return std::vector<OpSample>{
                                  {"", {away(gen, {3, 4})}, [](const Inputs& v) { return tg::leaky_relu(v[0]); }},
                                  {"slope 0.2", {away(gen, {3, 4})}, [](const Inputs& v) {
                                     return tg::leaky_relu(v[0], 0.2);
                                   }}};
                            }});
const BuiltinOp silu({.name = "silu",
                      .jvp = "y' = x' * s * (1 + x (1 - s)),  s = sigmoid(x)",
                      .vjp = "dx = dy * s * (1 + x (1 - s)),  s = sigmoid(x)",
                      .samples = one([](const Inputs& v) { return tg::silu(v[0]); }, -3, 3)});
const BuiltinOp softplus({.name = "softplus",
                          .jvp = "y' = x' * sigmoid(beta x), and x' where beta x > threshold",
                          .vjp = "dx = dy * sigmoid(beta x), and dx = dy where beta x > threshold",
                          .samples =
                              [](Generator& gen) {
                                return std::vector<OpSample>{
                                    {"", {x(gen, {3, 4}, -3, 3)}, [](const Inputs& v) { return tg::softplus(v[0]); }},
                                    // beta x crosses the threshold 2 (away from it): both branches
                                    {"beta 2, threshold 2", {away(gen, {3, 4})}, [](const Inputs& v) {
                                       return tg::softplus(v[0], 2, 2);
                                     }}};
                              },
                          .errors =
                              [] {
                                return std::vector{refuse("softplus(x, 0)", [] { tg::softplus(ones2({2}), 0); },
                                                          Kind::Value, {"softplus", "beta", "non-zero, got 0"})};
                              }});
const BuiltinOp clamp({.name = "clamp",
                       .jvp = "y' = x' where lo <= x <= hi, else 0",
                       .vjp = "dx = dy where lo <= x <= hi (bounds included), else 0",
                       .dtypes = kNumericTypes,
                       .samples =
                           [](Generator& gen) {
                             return std::vector<OpSample>{
                                 {"min and max",
                                  {x(gen, {3, 4})},
                                  [](const Inputs& v) { return tg::clamp(v[0], -0.5, 0.5); }},
                                 {"min", {x(gen, {3, 4})}, [](const Inputs& v) { return tg::clamp_min(v[0], -0.25); }},
                                 {"max", {x(gen, {3, 4})}, [](const Inputs& v) { return tg::clamp_max(v[0], 0.25); }}};
                           },
                       .errors =
                           [] {
                             return std::vector{refuse("clamp(x, nullopt, nullopt)",
                                                       [] { tg::clamp(ones2({2}), std::nullopt, std::nullopt); },
                                                       Kind::Value, {"clamp", "give min, max or both"}),
                                                refuse("clamp(x, NaN)", [] { tg::clamp(ones2({2}), kNaN); },
                                                       Kind::Value, {"clamp", "NaN", "std::nullopt"})};
                           }});

// ---- elementwise maximum and minimum (ops/arithmetic.cpp) ----
const BuiltinOp maximum({.name = "maximum",
                         .jvp = "y' = a' where a > b, b' where a < b, (a' + b') / 2 where a == b",
                         .vjp = "da = dy where a > b, db = dy where b > a, each dy / 2 where a == b, else 0   (a NaN "
                                "passes dy to both; summed to each input's shape)",
                         .num_inputs = 2,
                         .dtypes = kNumericTypes,
                         .samples = binary([](const Inputs& v) { return tg::maximum(v[0], v[1]); }),
                         .errors = [] {
                           return std::vector{refuse("maximum(ones({2, 3}), ones({2}))",
                                                     [] {
                                                       tg::maximum(ones2({2, 3}), ones2({2}));
                                                     },
                                                     Kind::Shape,
                                                     {"maximum", "[2, 3] and [2]", "reshape one operand"})};
                         }});
const BuiltinOp minimum({.name = "minimum",
                         .jvp = "y' = a' where a < b, b' where a > b, (a' + b') / 2 where a == b",
                         .vjp = "da = dy where a < b, db = dy where b < a, each dy / 2 where a == b, else 0   (a NaN "
                                "passes dy to both; summed to each input's shape)",
                         .num_inputs = 2,
                         .dtypes = kNumericTypes,
                         .samples = binary([](const Inputs& v) { return tg::minimum(v[0], v[1]); }),
                         .errors = [] {
                           return std::vector{refuse("minimum(ones({3}), ones({4}))",
                                                     [] { tg::minimum(ones2({3}), ones2({4})); }, Kind::Shape,
                                                     {"minimum", "[3] and [4]", "reshape one operand"})};
                         }});

// ---- joining and cutting (ops/join.cpp) ----
const BuiltinOp cat({.name = "cat",
                     .jvp = "linear: y' = cat(x_k'), zeros for an input without a tangent",
                     .vjp = "dx_k = slice(dy, dim, offset_k, offset_k + size_k): the part of dy where x_k was placed",
                     .num_inputs = OpInfo::kVariadic,
                     .dtypes = kAllTypes,
                     .samples =
                         [](Generator& gen) {
                           return std::vector<OpSample>{
                               {"dim 1",
                                {x(gen, {2, 3}), x(gen, {2, 1}), x(gen, {2, 4})},
                                [](const Inputs& v) { return tg::cat(v, 1); }},
                               {"dim 0", {x(gen, {1, 3}), x(gen, {2, 3})}, [](const Inputs& v) {
                                  return tg::cat({v[0], v[1]});
                                }}};
                         },
                     .errors =
                         [] {
                           return std::vector{
                               refuse("cat({ones({2, 3}), ones({3, 3})}, 1)",
                                      [] {
                                        tg::cat({ones2({2, 3}), ones2({3, 3})}, 1);
                                      },
                                      Kind::Shape,
                                      {"cat", "tensor 1 has shape [3, 3]", "[2, 3]", "every other dim must be equal"}),
                               refuse("an empty list", [] { tg::cat(std::vector<Tensor>{}); }, Kind::Value,
                                      {"cat", "empty list", "at least one"}),
                               refuse("0-d tensors",
                                      [] {
                                        tg::cat({tg::scalar(1.0), tg::scalar(2.0)});
                                      },
                                      Kind::Shape, {"cat", "0-d", "use stack"})};
                         }});
const BuiltinOp stack({.name = "stack",
                       .jvp = "linear: y' = stack(x_k'), zeros for an input without a tangent",
                       .vjp = "dx_k = select(dy, dim, k)",
                       .num_inputs = OpInfo::kVariadic,
                       .dtypes = kAllTypes,
                       .samples =
                           [](Generator& gen) {
                             return std::vector<OpSample>{{"",
                                                           {x(gen, {2, 3}), x(gen, {2, 3}), x(gen, {2, 3})},
                                                           [](const Inputs& v) { return tg::stack(v); }},
                                                          {"dim -1", {x(gen, {3}), x(gen, {3})}, [](const Inputs& v) {
                                                             return tg::stack({v[0], v[1]}, -1);
                                                           }}};
                           },
                       .errors =
                           [] {
                             return std::vector{refuse("stack({ones({2}), ones({3})})",
                                                       [] {
                                                         tg::stack({ones2({2}), ones2({3})});
                                                       },
                                                       Kind::Shape,
                                                       {"stack", "tensor 1 has shape [3]", "[2]", "one shape"})};
                           }});
const BuiltinOp split({.name = "split",
                       .jvp = "linear: y_k' = split(x', sizes, dim)_k",
                       .vjp = "dx = cat(dy_0, ..., dy_n, dim), zeros for an output that got no gradient",
                       .num_outputs = OpInfo::kVariadic,
                       .dtypes = kAllTypes,
                       .samples =
                           [](Generator& gen) {
                             // Some parts are left unused: their gradient is zeros.
                             return std::vector<OpSample>{{"sizes",
                                                           {x(gen, {5, 3})},
                                                           [](const Inputs& v) {
                                                             auto p = tg::split(v[0], {2, 0, 3});
                                                             return tg::cat({p[2], p[0]});
                                                           }},
                                                          {"split_size", {x(gen, {3, 5})}, [](const Inputs& v) {
                                                             auto p = v[0].split(2, 1);
                                                             return tg::cat({p[0], p[2] * 2}, 1);
                                                           }}};
                           },
                       .errors =
                           [] {
                             return std::vector{refuse("split(ones({4}), {1, 2})",
                                                       [] {
                                                         tg::split(ones2({4}), {1, 2});
                                                       },
                                                       Kind::Shape, {"split", "add up to 3", "size 4"}),
                                                refuse("split(ones({4}), 0)", [] { tg::split(ones2({4}), 0); },
                                                       Kind::Value, {"split", "split_size must be >= 1, got 0"})};
                           }});
const BuiltinOp slice(
    {.name = "slice",
     .jvp = "linear: y' = slice(x', dim, start, stop, step)",
     .vjp = "dx = slice_backward(dy, x.shape, dim, start, step): dy written into zeros at the sliced positions",
     .dtypes = kAllTypes,
     .samples =
         [](Generator& gen) {
           return std::vector<OpSample>{
               {"step 2", {x(gen, {5, 4})}, [](const Inputs& v) { return tg::slice(v[0], 0, 1, 5, 2); }},
               {"negative start",
                {x(gen, {3, 5})},
                [](const Inputs& v) { return tg::slice(v[0], -1, -3, std::nullopt); }},
               {"index", {x(gen, {6, 7})}, [](const Inputs& v) {
                  return v[0].index({tg::Slice(1, 5, 2), tg::Slice(2, 7)});
                }}};
         },
     .errors =
         [] {
           return std::vector{refuse("step 0", [] { tg::slice(ones2({4}), 0, 0, 4, 0); }, Kind::Value,
                                     {"slice", "step must be >= 1, got 0", "flip"})};
         }});
const BuiltinOp slice_backward({.name = "slice_backward",
                                .jvp = "linear: y' = slice_backward(grad', shape, dim, start, step)",
                                .vjp = "dgrad = slice(dy, dim, start, start + n * step, step): dy read back where grad "
                                       "was written   (n: grad's size along dim)",
                                .dtypes = kAllTypes,
                                .samples = one(
                                    [](const Inputs& v) {
                                      return tg::slice_backward(v[0], {5, 3}, 0, 1, 2);
                                    },
                                    -1, 1, {2, 3}),
                                .errors = [] {
                                  return std::vector{refuse("a gradient that does not fit",
                                                            [] {
                                                              tg::slice_backward(ones2({3, 3}), {5, 3}, 0, 1, 2);
                                                            },
                                                            Kind::Shape,
                                                            {"slice_backward", "[3, 3]", "[5, 3]", "start and step"})};
                                }});
const BuiltinOp squeeze({.name = "squeeze",
                         .jvp = "linear: y' = squeeze(x'), the same dims",
                         .vjp = "dx = reshape(dy, x.shape)",
                         .dtypes = kAllTypes,
                         .samples = [](Generator& gen) {
                           return std::vector<OpSample>{
                               {"", {x(gen, {2, 1, 3})}, [](const Inputs& v) { return tg::squeeze(v[0]); }},
                               {"dim", {x(gen, {1, 3})}, [](const Inputs& v) { return v[0].squeeze(0); }}};
                         }});
const BuiltinOp unsqueeze({.name = "unsqueeze",
                           .jvp = "linear: y' = unsqueeze(x', dim)",
                           .vjp = "dx = reshape(dy, x.shape)",
                           .dtypes = kAllTypes,
                           .samples =
                               [](Generator& gen) {
                                 return std::vector<OpSample>{
                                     {"", {x(gen, {2, 3})}, [](const Inputs& v) { return tg::unsqueeze(v[0], 1); }},
                                     {"dim -1", {x(gen, {2, 3})}, [](const Inputs& v) { return v[0].unsqueeze(-1); }}};
                               },
                           .errors =
                               [] {
                                 return std::vector{refuse("unsqueeze(ones({2}), 3)",
                                                           [] { tg::unsqueeze(ones2({2}), 3); }, Kind::Value,
                                                           {"unsqueeze", "dim 3", "[-2, 1]"})};
                               }});
const BuiltinOp flip({.name = "flip",
                      .jvp = "linear: y' = flip(x', dims)",
                      .vjp = "dx = flip(dy, dims)",
                      .dtypes = kAllTypes,
                      .samples =
                          [](Generator& gen) {
                            return std::vector<OpSample>{
                                {"dims 0 and 2",
                                 {x(gen, {2, 3, 4})},
                                 [](const Inputs& v) {
                                   return tg::flip(v[0], {0, 2});
                                 }},
                                {"last", {x(gen, {3, 4})}, [](const Inputs& v) { return v[0].flip({-1}); }}};
                          },
                      .errors =
                          [] {
                            return std::vector{refuse("flip(x, {1, 1})",
                                                      [] {
                                                        tg::flip(ones2({2, 2}), {1, 1});
                                                      },
                                                      Kind::Value, {"flip", "dim 1 appears twice", "once"})};
                          }});

// ---- indexing and picking reductions (ops/index.cpp): indices are int64 inputs with no gradient ----
// A fixed index with a repeated entry, so that backward must add up (gather's along dim 1 of [3, 4]).
Tensor gather_index() { return tg::tensor({{0, 3}, {1, 1}, {2, 0}}); }
Tensor ids() { return tg::tensor({{0, 2, 2}, {4, 0, 1}}); }  // into 5 rows, 2 and 0 repeated

const BuiltinOp gather(
    {.name = "gather",
     .jvp = "linear: y' = gather(x', dim, index)",
     .vjp = "dx = scatter_add(zeros(x.shape), dim, index, dy): dy added at the positions read (repeats add up); no "
            "gradient to index",
     .num_inputs = 2,
     .no_grad_inputs = bit(1),
     .dtypes = kAllTypes,
     .samples =
         [](Generator& gen) {
           return std::vector<OpSample>{
               {"", {x(gen, {3, 4}), gather_index()}, [](const Inputs& v) { return tg::gather(v[0], 1, v[1]); }},
               {"index_select", {x(gen, {4, 3}), tg::tensor({3, 0, 3})}, [](const Inputs& v) {
                  return v[0].index_select(0, v[1]);
                }}};
         },
     .errors =
         [] {
           return std::vector{
               refuse("a float index",
                      [] {
                        tg::gather(ones2({2, 2}), 1, ones2({2, 2}));
                      },
                      Kind::Dtype, {"gather", "the index must be an int64 tensor", "float32", ".to(tg::kInt64)"}),
               refuse("an index of another shape",
                      [] {
                        tg::gather(ones2({2, 3}), 1, gather_index());
                      },
                      Kind::Shape, {"gather", "[3, 2]", "[2, 3]", "except along dim 1"}),
               refuse("an index out of range",
                      [] {
                        tg::gather(ones2({3, 2}), 1, gather_index());
                      },
                      Kind::Value, {"gather", "index 3 is out of range", "[0, 1]"})};
         }});
const BuiltinOp scatter_add({.name = "scatter_add",
                             .jvp = "y' = scatter_add(x', dim, index, src')  (x' alone: x'; src' alone: into zeros)",
                             .vjp = "dx = dy, dsrc = gather(dy, dim, index); no gradient to index",
                             .num_inputs = 3,
                             .no_grad_inputs = bit(1),
                             .dtypes = kNumericTypes,
                             .samples =
                                 [](Generator& gen) {
                                   return std::vector<OpSample>{
                                       {"", {x(gen, {3, 4}), gather_index(), x(gen, {3, 2})}, [](const Inputs& v) {
                                          return tg::scatter_add(v[0], 1, v[1], v[2]);
                                        }}};
                                 },
                             .errors =
                                 [] {
                                   return std::vector{
                                       refuse("a source of another shape",
                                              [] {
                                                tg::scatter_add(ones2({3, 4}), 1, gather_index(), ones2({3, 3}));
                                              },
                                              Kind::Shape, {"scatter_add", "source [3, 3]", "[3, 2]"})};
                                 }});
const BuiltinOp embedding(
    {.name = "embedding",
     .jvp = "linear: y' = embedding(weight', ids)  (as PyTorch: the padding row's tangent is read)",
     .vjp = "dweight = embedding_backward(dy, ids, rows, padding_idx): each row of dy added to its id's row (repeats "
            "add up, the padding row gets none); no gradient to ids",
     .num_inputs = 2,
     .no_grad_inputs = bit(1),
     .samples =
         [](Generator& gen) {
           return std::vector<OpSample>{
               {"", {x(gen, {5, 3}), ids()}, [](const Inputs& v) { return tg::embedding(v[0], v[1]); }},
               // The padding row gets no gradient, which is no derivative: the checks see it only
               // when that row is zero, as nn.Embedding initialises it (the mask zeroes it here).
               {"padding_idx 2", {x(gen, {5, 3}), ids()}, [](const Inputs& v) {
                  return tg::embedding(v[0] * tg::tensor({{1.0}, {1.0}, {0.0}, {1.0}, {1.0}}), v[1], 2);
                }}};
         },
     .errors =
         [] {
           return std::vector{refuse("an id out of range",
                                     [] {
                                       tg::embedding(ones2({3, 2}), tg::tensor({0, 3}));
                                     },
                                     Kind::Value, {"embedding", "index 3 is out of range", "[0, 2]"}),
                              refuse("float ids",
                                     [] {
                                       tg::embedding(ones2({3, 2}), ones2({2}));
                                     },
                                     Kind::Dtype, {"embedding", "the ids must be an int64 tensor", ".to(tg::kInt64)"}),
                              refuse("a 1-D weight", [] { tg::embedding(ones2({3}), tg::tensor({0})); }, Kind::Shape,
                                     {"embedding", "2-D [num_embeddings, embedding_dim]", "[3]"})};
         }});
const BuiltinOp embedding_backward(
    {.name = "embedding_backward",
     .jvp = "linear: y' = embedding_backward(grad', ids, rows, padding_idx)",
     .vjp = "dgrad = embedding(dy, ids): the row of dy at each id, 0 where the id is padding_idx; no gradient to ids",
     .num_inputs = 2,
     .no_grad_inputs = bit(1),
     .samples =
         [](Generator& gen) {
           return std::vector<OpSample>{
               {"", {x(gen, {2, 3, 4}), ids()}, [](const Inputs& v) { return tg::embedding_backward(v[0], v[1], 5); }},
               {"padding_idx 0", {x(gen, {2, 3, 4}), ids()}, [](const Inputs& v) {
                  return tg::embedding_backward(v[0], v[1], 5, 0);
                }}};
         },
     .errors =
         [] {
           return std::vector{refuse("a gradient of another shape",
                                     [] {
                                       tg::embedding_backward(ones2({2, 2, 4}), ids(), 5);
                                     },
                                     Kind::Shape, {"embedding_backward", "[2, 2, 4]", "[2, 3]"})};
         }});
const BuiltinOp max({.name = "max",
                     .jvp = "values' = gather(x', dim, indices): the tangent at the argmax; indices: none",
                     .vjp = "dx = scatter_add(zeros(x.shape), dim, indices, dy0): dy0 at each argmax (the first on a "
                            "tie; dy0 unsqueezed at dim unless keepdim), 0 elsewhere; output 1 (indices) carries none",
                     .grad_fn = "MaxBackward0",
                     .num_outputs = 2,
                     .no_grad_outputs = bit(1),
                     .dtypes = kNumericTypes,
                     .samples =
                         [](Generator& gen) {
                           return std::vector<OpSample>{
                               {"dim 1", {x(gen, {3, 4})}, [](const Inputs& v) { return tg::max(v[0], 1).values; }},
                               {"dim 0, keepdim", {x(gen, {3, 4})}, [](const Inputs& v) {
                                  return tg::max(v[0], 0, true).values;
                                }}};
                         },
                     .errors =
                         [] {
                           return std::vector{refuse("max(ones({2, 0}), 1)",
                                                     [] {
                                                       tg::max(ones2({2, 0}), 1);
                                                     },
                                                     Kind::Value, {"max", "dim 1 of [2, 0] is empty"})};
                         }});
const BuiltinOp min({.name = "min",
                     .jvp = "values' = gather(x', dim, indices): the tangent at the argmin; indices: none",
                     .vjp = "dx = scatter_add(zeros(x.shape), dim, indices, dy0): dy0 at each argmin (the first on a "
                            "tie; dy0 unsqueezed at dim unless keepdim), 0 elsewhere; output 1 (indices) carries none",
                     .grad_fn = "MinBackward0",
                     .num_outputs = 2,
                     .no_grad_outputs = bit(1),
                     .dtypes = kNumericTypes,
                     .samples = [](Generator& gen) {
                       return std::vector<OpSample>{
                           {"dim 1", {x(gen, {3, 4})}, [](const Inputs& v) { return tg::min(v[0], 1).values; }},
                           {"dim -1, keepdim", {x(gen, {2, 3, 4})}, [](const Inputs& v) {
                              return tg::min(v[0], -1, true).values;
                            }}};
                     }});
const BuiltinOp max_all({.name = "max_all",
                         .jvp = "y' = mean of x' over the elements equal to y (ties share, as the backward)",
                         .vjp = "dx = dy / k at each of the k elements equal to y (ties share evenly), 0 elsewhere",
                         .grad_fn = "MaxBackward1",
                         .dtypes = kNumericTypes,
                         .samples = one([](const Inputs& v) { return tg::max(v[0]); }),
                         .errors = [] {
                           return std::vector{refuse("max(ones({0}))", [] { tg::max(ones2({0})); }, Kind::Value,
                                                     {"max_all", "[0] is empty", "no maximum"})};
                         }});
const BuiltinOp min_all({.name = "min_all",
                         .jvp = "y' = mean of x' over the elements equal to y (ties share, as the backward)",
                         .vjp = "dx = dy / k at each of the k elements equal to y (ties share evenly), 0 elsewhere",
                         .grad_fn = "MinBackward1",
                         .dtypes = kNumericTypes,
                         .samples = one([](const Inputs& v) { return v[0].min(); })});

// ---- masking (ops/masking.cpp): the condition or mask is a bool input with no gradient ----
const BuiltinOp where(
    {.name = "where",
     .jvp = "y' = where(cond, a', b'), 0 for an operand without a tangent",
     .vjp = "da = where(cond, dy, 0), db = where(cond, 0, dy)   (summed to each input's shape); no gradient to cond",
     .num_inputs = 3,
     .no_grad_inputs = bit(0),
     .dtypes = kAllTypes,
     .samples =
         [](Generator& gen) {
           auto cond = [&](const Shape& s) { return (x(gen, s) > 0).detach(); };
           return std::vector<OpSample>{{"",
                                         {cond({2, 3}), x(gen, {2, 3}), x(gen, {2, 3})},
                                         [](const Inputs& v) { return tg::where(v[0], v[1], v[2]); }},
                                        {"broadcast",
                                         {cond({2, 1}), x(gen, {3}), x(gen, {2, 3})},
                                         [](const Inputs& v) { return tg::where(v[0], v[1], v[2]); }},
                                        {"number", {cond({2, 3}), x(gen, {2, 3}), Tensor()}, [](const Inputs& v) {
                                           return tg::where(v[0], v[1], -1.5);
                                         }}};  // no tensor b
         },
     .errors =
         [] {
           return std::vector{
               refuse("a float condition", [] { tg::where(ones2({2}), ones2({2}), ones2({2})); }, Kind::Dtype,
                      {"where", "the condition must be a bool tensor", "float32", "x > 0", ".to(tg::kBool)"}),
               refuse("shapes that do not broadcast", [] { tg::where(ones2({2}) > 0, ones2({3}), ones2({2})); },
                      Kind::Shape, {"where", "[2] and [3]"})};
         }});
const BuiltinOp masked_fill(
    {.name = "masked_fill",
     .jvp = "linear: y' = masked_fill(x', mask, 0)",
     .vjp = "dx = masked_fill(dy, mask, 0): 0 where the value was filled in; no gradient to mask",
     .num_inputs = 2,
     .no_grad_inputs = bit(1),
     .dtypes = kAllTypes,
     .samples =
         [](Generator& gen) {
           auto mask = [&](const Shape& s) { return (x(gen, s) > 0).detach(); };
           return std::vector<OpSample>{
               {"", {x(gen, {2, 3}), mask({2, 3})}, [](const Inputs& v) { return tg::masked_fill(v[0], v[1], -2.5); }},
               {"broadcast mask", {x(gen, {2, 3}), mask({3})}, [](const Inputs& v) {
                  return v[0].masked_fill(v[1], 0.5);
                }}};
         },
     .errors =
         [] {
           return std::vector{refuse("a float mask", [] { tg::masked_fill(ones2({2}), ones2({2}), 0); }, Kind::Dtype,
                                     {"masked_fill", "the mask must be a bool tensor", "float32", ".to(tg::kBool)"}),
                              refuse("a mask larger than the input",
                                     [] {
                                       tg::masked_fill(ones2({3}), ones2({2, 3}) > 0, 0);
                                     },
                                     Kind::Shape, {"masked_fill", "mask [2, 3]", "input [3]"}),
                              refuse("0.5 into an int64 tensor",
                                     [] { tg::masked_fill(tg::zeros({2}, {.dtype = kInt64}), ones2({2}) > 0, 0.5); },
                                     Kind::Dtype, {"masked_fill", "0.5", "int64", ".to(tg::kFloat32)"})};
         }});
const BuiltinOp tril({.name = "tril",
                      .jvp = "linear: y' = tril(x', diagonal)",
                      .vjp = "dx = tril(dy, diagonal)",
                      .dtypes = kAllTypes,
                      .samples =
                          [](Generator& gen) {
                            return std::vector<OpSample>{
                                {"", {x(gen, {3, 4})}, [](const Inputs& v) { return tg::tril(v[0]); }},
                                {"batched, diagonal -1", {x(gen, {2, 3, 3})}, [](const Inputs& v) {
                                   return v[0].tril(-1);
                                 }}};
                          },
                      .errors =
                          [] {
                            return std::vector{refuse("tril(ones({4}))", [] { tg::tril(ones2({4})); }, Kind::Shape,
                                                      {"tril", "at least 2 dims", "[4]"})};
                          }});
const BuiltinOp triu({.name = "triu",
                      .jvp = "linear: y' = triu(x', diagonal)",
                      .vjp = "dx = triu(dy, diagonal)",
                      .dtypes = kAllTypes,
                      .samples =
                          [](Generator& gen) {
                            return std::vector<OpSample>{
                                {"", {x(gen, {4, 3})}, [](const Inputs& v) { return tg::triu(v[0]); }},
                                {"batched, diagonal 1", {x(gen, {2, 3, 4})}, [](const Inputs& v) {
                                   return v[0].triu(1);
                                 }}};
                          },
                      .errors =
                          [] {
                            return std::vector{refuse("triu(scalar)", [] { tg::triu(tg::scalar(1.0)); }, Kind::Shape,
                                                      {"triu", "at least 2 dims", "[]"})};
                          }});

// ---- reductions (ops/reduce.cpp) ----
const BuiltinOp sum(
    {.name = "sum",
     .jvp = "linear: y' = sum(x') (along dim, keepdim as the op)",
     .vjp = "dx = dy expanded back to x's shape   (along dim: dy unsqueezed at dim unless keepdim, then expanded)",
     .dtypes = kAllTypes,
     .samples =
         [](Generator& gen) {
           return std::vector<OpSample>{
               {"all", {x(gen, {2, 3, 4})}, [](const Inputs& v) { return tg::sum(v[0]); }},
               {"dim", {x(gen, {2, 3, 4})}, [](const Inputs& v) { return tg::sum(v[0], 1); }},
               {"dim keepdim", {x(gen, {2, 3, 4})}, [](const Inputs& v) { return tg::sum(v[0], -1, true); }}};
         },
     .errors =
         [] {
           return std::vector{refuse("sum(ones({2, 3}), 2)",
                                     [] {
                                       tg::sum(ones2({2, 3}), 2);
                                     },
                                     Kind::Value, {"sum", "dim 2", "use a dim in [-2, 1]"})};
         }});
const BuiltinOp mean({.name = "mean",
                      .jvp = "linear: y' = mean(x') (along dim, keepdim as the op)",
                      .vjp = "dx = dy / n expanded back to x's shape   (n: the elements averaged; along dim: dy "
                             "unsqueezed at dim unless keepdim)",
                      .samples =
                          [](Generator& gen) {
                            return std::vector<OpSample>{
                                {"all", {x(gen, {2, 3, 4})}, [](const Inputs& v) { return tg::mean(v[0]); }},
                                {"dim keepdim", {x(gen, {2, 3, 4})}, [](const Inputs& v) {
                                   return tg::mean(v[0], 0, true);
                                 }}};
                          },
                      .errors =
                          [] {
                            return std::vector{refuse("mean(ones({2, 3}), -3)",
                                                      [] {
                                                        tg::mean(ones2({2, 3}), -3);
                                                      },
                                                      Kind::Value, {"mean", "dim -3", "use a dim in [-2, 1]"})};
                          }});

const BuiltinOp logsumexp(
    {.name = "logsumexp",
     .jvp = "y' = sum(x' * exp(x - y), dim)",
     .vjp = "dx = dy * e^(x - y) = dy * softmax(x) along dim   (dy and y unsqueezed at dim unless keepdim)",
     .samples =
         [](Generator& gen) {
           return std::vector<OpSample>{
               {"dim 1", {x(gen, {3, 4}, -3, 3)}, [](const Inputs& v) { return tg::logsumexp(v[0], 1); }},
               {"dim 0, keepdim", {x(gen, {3, 4}, -3, 3)}, [](const Inputs& v) { return v[0].logsumexp(0, true); }}};
         },
     .errors =
         [] {
           return std::vector{refuse("logsumexp(ones({2, 3}), 2)",
                                     [] {
                                       tg::logsumexp(ones2({2, 3}), 2);
                                     },
                                     Kind::Value, {"logsumexp", "dim 2", "[-2, 1]"})};
         }});
const BuiltinOp var(
    {.name = "var",
     .jvp = "y' = 2 sum((x - mean) * x') / (n - c)",
     .vjp = "dx = dy * 2 (x - mean) / (n - c)   (c = 1 if unbiased, else 0; along dim: dy unsqueezed unless keepdim)",
     .samples = [](Generator& gen) {
       return std::vector<OpSample>{
           {"dim 1", {x(gen, {3, 4})}, [](const Inputs& v) { return tg::var(v[0], 1); }},
           {"dim 0, biased, keepdim", {x(gen, {3, 4})}, [](const Inputs& v) { return v[0].var(0, false, true); }},
           {"all", {x(gen, {3, 4})}, [](const Inputs& v) { return tg::var(v[0]); }}};
     }});
const BuiltinOp std({.name = "std",
                     .jvp = "y' = sum((x - mean) * x') / ((n - c) y)",
                     .vjp = "dx = dy * (x - mean) / ((n - c) y)   (c = 1 if unbiased, else 0; along dim: dy and y "
                            "unsqueezed unless keepdim)",
                     .samples = [](Generator& gen) {
                       return std::vector<OpSample>{
                           {"dim 1", {x(gen, {3, 4})}, [](const Inputs& v) { return tg::std(v[0], 1); }},
                           {"dim -1, biased, keepdim",
                            {x(gen, {2, 3, 4})},
                            [](const Inputs& v) { return v[0].std(-1, false, true); }},
                           {"all", {x(gen, {3, 4})}, [](const Inputs& v) { return tg::std(v[0]); }}};
                     }});
const BuiltinOp cumsum({.name = "cumsum",
                        .jvp = "linear: y' = cumsum(x', dim)",
                        .vjp = "dx = flip(cumsum(flip(dy, dim), dim), dim): dx_j = sum of dy_i over i >= j",
                        .dtypes = kAllTypes,
                        .samples = [](Generator& gen) {
                          return std::vector<OpSample>{
                              {"dim 1", {x(gen, {3, 4})}, [](const Inputs& v) { return tg::cumsum(v[0], 1); }},
                              {"dim 0", {x(gen, {3, 2, 2})}, [](const Inputs& v) { return v[0].cumsum(0); }}};
                        }});

const BuiltinOp prod(
    {.name = "prod",
     .jvp = "y' = sum(x' * prod of the others) (y / x when x has no zero)",
     .vjp = "dx_k = dy * prod_{j != k} x_j   (left and right running products, never y / x: one zero gets the product "
            "of the others, two zeros give 0)",
     .dtypes = kAllTypes,
     .samples =
         [](Generator& gen) {
           // One line with a single zero (its gradient is the product of the others) and one with two.
           Tensor zeros_in =
               from_vector({0.5, 0, -1.5, 2, 0, 0.75, 0, 1.25, 1, -2, 0.5, 3}, {3, 4}, {.dtype = kFloat64});
           return std::vector<OpSample>{
               {"all", {x(gen, {2, 3}, 0.5, 1.5)}, [](const Inputs& v) { return tg::prod(v[0]); }},
               {"dim 1", {x(gen, {3, 4})}, [](const Inputs& v) { return tg::prod(v[0], 1); }},
               {"dim 0, keepdim", {x(gen, {3, 2, 2})}, [](const Inputs& v) { return v[0].prod(0, true); }},
               {"zeros", {zeros_in.requires_grad_()}, [](const Inputs& v) { return tg::prod(v[0], 1); }}};
         },
     .errors =
         [] {
           return std::vector{refuse("prod(ones({2, 3}), 2)",
                                     [] {
                                       tg::prod(ones2({2, 3}), 2);
                                     },
                                     Kind::Value, {"prod", "dim 2", "[-2, 1]"})};
         }});

// ---- broadcasting and shapes (ops/broadcast.cpp, ops/shape_ops.cpp), copies (tensor.cpp) ----
const BuiltinOp expand({.name = "expand",
                        .jvp = "linear: y' = expand(x', shape)",
                        .vjp = "dx = sum_to(dy, x.shape): dy summed over the stretched dims",
                        .dtypes = kAllTypes,
                        .samples = one(
                            [](const Inputs& v) {
                              return tg::expand(v[0], {2, 3, 4});
                            },
                            -1, 1, {3, 1}),
                        .errors = [] {
                          return std::vector{
                              refuse("expand(ones({2, 3}), {4, 3})",
                                     [] {
                                       tg::expand(ones2({2, 3}), {4, 3});
                                     },
                                     Kind::Shape, {"expand", "[2, 3] and [4, 3]", "reshape one operand"}),
                              refuse("expand(ones({1, 1}), {kHuge, kHuge})",
                                     [] {
                                       tg::expand(ones2({1, 1}), {kHuge, kHuge});
                                     },
                                     Kind::Shape, {"expand", "overflows int64", "smaller"})};
                        }});
const BuiltinOp sum_to({.name = "sum_to",
                        .jvp = "linear: y' = sum_to(x', shape)",
                        .vjp = "dx = expand(dy, x.shape)",
                        .dtypes = kNumericTypes,
                        .samples = one(
                            [](const Inputs& v) {
                              return tg::sum_to(v[0], {3, 1});
                            },
                            -1, 1, {2, 3, 4}),
                        .errors = [] {
                          return std::vector{refuse("sum_to(ones({2, 3}), {4})",
                                                    [] {
                                                      tg::sum_to(ones2({2, 3}), {4});
                                                    },
                                                    Kind::Shape, {"sum_to", "[2, 3]", "[4]"})};
                        }});
const BuiltinOp reshape({.name = "reshape",
                         .jvp = "linear: y' = reshape(x', shape)",
                         .vjp = "dx = reshape(dy, x.shape)",
                         .dtypes = kAllTypes,
                         .samples = one(
                             [](const Inputs& v) {
                               return tg::reshape(v[0], {-1, 2});
                             },
                             -1, 1, {2, 3, 2}),
                         .errors = [] {
                           return std::vector{
                               refuse("reshape(ones({2, 3}), Shape{4, 2})",
                                      [] {
                                        tg::reshape(ones2({2, 3}), tg::Shape{4, 2});
                                      },
                                      Kind::Shape, {"reshape", "[2, 3] (6 elements) as [4, 2]", "counts must match"}),
                               refuse("ones({2, 3}).reshape({-1, -1})",
                                      [] {
                                        ones2({2, 3}).reshape({-1, -1});
                                      },
                                      Kind::Shape, {"reshape", "[-1, -1]", "give the other sizes"}),
                               refuse("ones({2, 3}).reshape({-2, 3})",
                                      [] {
                                        ones2({2, 3}).reshape({-2, 3});
                                      },
                                      Kind::Shape, {"reshape", "size -2", "must be >= 0 or -1"}),
                               refuse("ones({2, 3}).reshape({-1, 4})",
                                      [] {
                                        ones2({2, 3}).reshape({-1, 4});
                                      },
                                      Kind::Shape, {"reshape", "[-1, 4]", "cannot be inferred"}),
                               refuse("ones({0}).reshape({kHuge, kHuge, 0, -1})",
                                      [] {
                                        ones2({0}).reshape({kHuge, kHuge, 0, -1});
                                      },
                                      Kind::Shape, {"reshape", "overflows int64", "smaller"}),
                               refuse("ones({2}).reshape({kHuge, kHuge})",
                                      [] {
                                        ones2({2}).reshape({kHuge, kHuge});
                                      },
                                      Kind::Shape, {"reshape", "1099511627776", "smaller"})};
                         }});
const BuiltinOp permute({.name = "permute",
                         .jvp = "linear: y' = permute(x', dims)",
                         .vjp = "dx = permute(dy, inverse(dims))",
                         .dtypes = kAllTypes,
                         .samples =
                             [](Generator& gen) {
                               return std::vector<OpSample>{{"",
                                                             {x(gen, {2, 3, 4})},
                                                             [](const Inputs& v) {
                                                               return tg::permute(v[0], {2, 0, 1});
                                                             }},
                                                            {"transpose", {x(gen, {2, 3, 4})}, [](const Inputs& v) {
                                                               return tg::transpose(v[0], 0, 2);
                                                             }}};
                             },
                         .errors =
                             [] {
                               return std::vector{
                                   refuse("permute(ones({2, 3}), {0})",
                                          [] {
                                            tg::permute(ones2({2, 3}), {0});
                                          },
                                          Kind::Shape, {"permute", "[2, 3]", "give each of its 2 dims once"}),
                                   refuse("permute(ones({2, 3}), {1, 1})",
                                          [] {
                                            tg::permute(ones2({2, 3}), {1, 1});
                                          },
                                          Kind::Value, {"permute", "dim 1 appears twice", "must appear once"})};
                             }});
const BuiltinOp alias({.name = "alias",
                       .jvp = "y' = x' (a view of the tangent)",
                       .vjp = "dx = dy",
                       .dtypes = kAllTypes,
                       .samples = one([](const Inputs& v) { return tg::alias(v[0]); })});
const BuiltinOp clone({.name = "clone",
                       .jvp = "y' = x'",
                       .vjp = "dx = dy",
                       .dtypes = kAllTypes,
                       .samples = one([](const Inputs& v) { return v[0].clone(); })});
const BuiltinOp to({.name = "to",
                    .jvp = "y' = x' converted to the dtype (none for an integer or bool result)",
                    .vjp = "dx = dy converted back to x's dtype   (only a floating result records)",
                    .dtypes = kAllTypes,
                    .samples = [](Generator& gen) {
                      return std::vector<OpSample>{{"float32 and back",
                                                    {x(gen, {2, 3})},
                                                    [](const Inputs& v) { return v[0].to(kFloat32).to(kFloat64); },
                                                    1e-2,
                                                    1e-5}};
                    }});

// ---- matrix product (ops/matmul.cpp) ----
const BuiltinOp matmul(
    {.name = "matmul",
     .jvp = "bilinear: Y' = A' B + A B'",
     .vjp = "dA = dY B^T, dB = A^T dY   (summed over broadcast batch dims; a 1-D operand through its reshape)",
     .num_inputs = 2,
     .samples =
         [](Generator& gen) {
           Call f = [](const Inputs& v) { return tg::matmul(v[0], v[1]); };
           return std::vector<OpSample>{{"2-D", {x(gen, {3, 4}), x(gen, {4, 2})}, f},
                                        {"batched", {x(gen, {2, 3, 4}), x(gen, {2, 4, 5})}, f},
                                        {"broadcast", {x(gen, {2, 3, 4}), x(gen, {4, 5})}, f},
                                        {"vector", {x(gen, {3, 4}), x(gen, {4})}, f}};
         },
     .errors =
         [] {
           return std::vector{refuse("matmul(scalar(2), ones({2}))", [] { tg::matmul(tg::scalar(2), ones2({2})); },
                                     Kind::Shape, {"matmul", "[] and [2]", "use mul for scalars"}),
                              refuse("matmul(ones({2, 3}), ones({4, 5}))",
                                     [] {
                                       tg::matmul(ones2({2, 3}), ones2({4, 5}));
                                     },
                                     Kind::Shape, {"matmul", "[2, 3] and [4, 5]", "transpose or reshape"}),
                              refuse("matmul(ones({2, 2, 3}), ones({3, 3, 4}))",
                                     [] {
                                       tg::matmul(ones2({2, 2, 3}), ones2({3, 3, 4}));
                                     },
                                     Kind::Shape, {"matmul", "[2] and [3]", "equal or one of them 1"})};
         }});

// ---- convolution and pooling (ops/corr2d.cpp, ops/conv2d.cpp, ops/pooling.cpp) ----
const BuiltinOp corr2d({
    .name = "corr2d",
    .jvp = "Y' = corr2d(X', K) + corr2d(X, K')",
    .vjp = "dX = full correlation of dY with K flipped (zero-padded by k-1), dK = corr2d(X, dY)",
    .num_inputs = 2,
    .samples =
        [](Generator& gen) {
          return std::vector<OpSample>{
              {"", {x(gen, {5, 6}), x(gen, {2, 3})}, [](const Inputs& v) { return tg::corr2d(v[0], v[1]); }}};
        },
    .errors =
        [] {
          return std::vector{refuse("corr2d(ones({1, 4, 4}), ones({2, 2}))",
                                    [] {
                                      tg::corr2d(ones2({1, 4, 4}), ones2({2, 2}));
                                    },
                                    Kind::Shape, {"corr2d", "[1, 4, 4]", "batched inputs need conv2d"}),
                             refuse("corr2d(ones({2, 5}), ones({3, 3}))",
                                    [] {
                                      tg::corr2d(ones2({2, 5}), ones2({3, 3}));
                                    },
                                    Kind::Shape, {"corr2d", "[3, 3] is larger than input [2, 5]", "smaller kernel"}),
                             refuse("corr2d(ones({2, 5}), ones({0, 1}))",
                                    [] {
                                      tg::corr2d(ones2({2, 5}), ones2({0, 1}));
                                    },
                                    Kind::Shape, {"corr2d", "[0, 1]", "at least one row"})};
        },
    .backward_op = &corr2d_backward_input,  // and corr2d_backward_kernel
});
const BuiltinOp conv2d({
    .name = "conv2d",
    .jvp = "y' = conv2d(x', W) + conv2d(x, W') + b' (b' broadcast over N, H, W)",
    .vjp = "dx = conv2d_backward_input(dy, W) (col2im(W^T dy)), dW = conv2d_backward_weight(x, dy) (sum_n dy[n] "
           "cols(x[n])^T), db = dy summed over N, H, W",
    .num_inputs = 3,
    .optional_inputs = bit(2),
    .samples =
        [](Generator& gen) {
          return std::vector<OpSample>{{"stride, padding, bias",
                                        {x(gen, {2, 3, 7, 6}), x(gen, {4, 3, 3, 3}), x(gen, {4})},
                                        [](const Inputs& v) {
                                          return tg::conv2d(v[0], v[1], v[2], {.stride = {2, 1}, .padding = {1, 2}});
                                        }},
                                       {"no bias",
                                        {x(gen, {1, 2, 5, 5}), x(gen, {3, 2, 2, 3}), Tensor()},
                                        [](const Inputs& v) { return tg::conv2d(v[0], v[1], v[2]); }}};
        },
    .errors =
        [] {
          return std::vector{
              refuse("conv2d(ones({1, 5, 5}), ones({2, 1, 3, 3}))",
                     [] {
                       tg::conv2d(ones2({1, 5, 5}), ones2({2, 1, 3, 3}));
                     },
                     Kind::Shape, {"conv2d", "[1, 5, 5]", "needs a batch dim"}),
              refuse("conv2d(ones({1, 3, 5, 5}), ones({6, 1, 5, 5}))",
                     [] {
                       tg::conv2d(ones2({1, 3, 5, 5}), ones2({6, 1, 5, 5}));
                     },
                     Kind::Shape, {"conv2d", "input has 3 channels but weight expects 1", "[O=6, C=1, 5, 5]"}),
              refuse("conv2d(ones({1, 1, 5, 5}), ones({2, 1, 3, 3}), ones({3}))",
                     [] {
                       tg::conv2d(ones2({1, 1, 5, 5}), ones2({2, 1, 3, 3}), ones2({3}));
                     },
                     Kind::Shape, {"conv2d", "bias", "[O] = [2]"}),
              refuse("conv2d(ones({1, 1, 5, 5}), ones({2, 1, 3, 3}), Tensor(), {.stride = {0, 1}})",
                     [] {
                       tg::conv2d(ones2({1, 1, 5, 5}), ones2({2, 1, 3, 3}), Tensor(), {.stride = {0, 1}});
                     },
                     Kind::Value, {"conv2d", "(0, 1)", "use strides >= 1"}),
              refuse("conv2d(ones({1, 1, 5, 5}), ones({2, 1, 3, 3}), Tensor(), {.padding = {-1, 0}})",
                     [] {
                       tg::conv2d(ones2({1, 1, 5, 5}), ones2({2, 1, 3, 3}), Tensor(), {.padding = {-1, 0}});
                     },
                     Kind::Value, {"conv2d", "(-1, 0)", "use 0 for no padding"}),
              refuse("conv2d(ones({1, 1, 2, 2}), ones({2, 1, 3, 3}))",
                     [] {
                       tg::conv2d(ones2({1, 1, 2, 2}), ones2({2, 1, 3, 3}));
                     },
                     Kind::Shape, {"conv2d", "[3, 3] is larger", "pad more"})};
        },
    .backward_op = &conv2d_backward_input,  // and conv2d_backward_weight; db is a sum
});
const BuiltinOp max_pool2d({
    .name = "max_pool2d",
    .jvp = "y'[o] = x'[argmax[o]]: the tangent picked at each window's maximum",
    .vjp = "dx = max_pool2d_backward(dy, indices): each dy[o] added at its window's argmax (the first maximum on a "
           "tie), 0 elsewhere",
    .samples =
        [](Generator& gen) {
          return std::vector<OpSample>{
              {"", {x(gen, {2, 2, 6, 6})}, [](const Inputs& v) { return tg::max_pool2d(v[0]); }},
              {"kernel 3, stride 2, padding 1", {x(gen, {1, 2, 7, 7})}, [](const Inputs& v) {
                 return tg::max_pool2d(v[0], {.kernel_size = 3, .stride = 2, .padding = 1});
               }}};
        },
    .errors =
        [] {
          return std::vector{refuse("max_pool2d(ones({1, 4, 4}))",
                                    [] {
                                      tg::max_pool2d(ones2({1, 4, 4}));
                                    },
                                    Kind::Shape, {"max_pool2d", "[1, 4, 4]", "[1, C, H, W]"}),
                             refuse("max_pool2d(ones({1, 1, 4, 4}), {.kernel_size = {0, 2}})",
                                    [] {
                                      tg::max_pool2d(ones2({1, 1, 4, 4}), {.kernel_size = {0, 2}});
                                    },
                                    Kind::Value, {"max_pool2d", "[0, 2]", "use sizes >= 1"}),
                             refuse("max_pool2d(ones({1, 1, 4, 4}), {.stride = {2, 0}})",
                                    [] {
                                      tg::max_pool2d(ones2({1, 1, 4, 4}), {.stride = {2, 0}});
                                    },
                                    Kind::Value, {"max_pool2d", "[2, 0]", "use strides >= 1"}),
                             refuse("max_pool2d(ones({1, 1, 4, 4}), {.padding = {2, 0}})",
                                    [] {
                                      tg::max_pool2d(ones2({1, 1, 4, 4}), {.padding = {2, 0}});
                                    },
                                    Kind::Value, {"max_pool2d", "padding [2, 0]", "at most half of kernel_size"}),
                             refuse("max_pool2d(ones({1, 1, 1, 4}))",
                                    [] {
                                      tg::max_pool2d(ones2({1, 1, 1, 4}));
                                    },
                                    Kind::Shape, {"max_pool2d", "[1, 1, 1, 4]", "smaller kernel"}),
                             refuse("max_pool2d(ones({1, 1, 0, 4}))",
                                    [] {
                                      tg::max_pool2d(ones2({1, 1, 0, 4}));
                                    },
                                    Kind::Shape, {"max_pool2d", "[1, 1, 0, 4]", "at least 1"})};
        },
    .backward_op = &max_pool2d_backward,
});
const BuiltinOp avg_pool2d({
    .name = "avg_pool2d",
    .jvp = "linear: y' = avg_pool2d(x')",
    .vjp = "dx = avg_pool2d_backward(dy): each dy[o] / (kh kw) added to every element of its window (padding counts in "
           "kh kw)",
    .samples =
        [](Generator& gen) {
          return std::vector<OpSample>{
              {"", {x(gen, {2, 2, 6, 6})}, [](const Inputs& v) { return tg::avg_pool2d(v[0]); }},
              {"kernel 3, stride 2, padding 1", {x(gen, {1, 2, 7, 7})}, [](const Inputs& v) {
                 return tg::avg_pool2d(v[0], {.kernel_size = 3, .stride = 2, .padding = 1});
               }}};
        },
    .errors =
        [] {
          return std::vector{refuse("padding over half the kernel",
                                    [] {
                                      tg::avg_pool2d(ones2({1, 1, 4, 4}), {.kernel_size = {2, 2}, .padding = {2, 2}});
                                    },
                                    Kind::Value, {"avg_pool2d", "padding", "half"}),
                             refuse("avg_pool2d(ones({4, 4}))",
                                    [] {
                                      tg::avg_pool2d(ones2({4, 4}));
                                    },
                                    Kind::Shape, {"avg_pool2d", "[4, 4]", "[1, C, H, W]"}),
                             refuse("avg_pool2d(ones({1, 1, 4, 4}), {.padding = {-1, 0}})",
                                    [] {
                                      tg::avg_pool2d(ones2({1, 1, 4, 4}), {.padding = {-1, 0}});
                                    },
                                    Kind::Value, {"avg_pool2d", "[-1, 0]", "use 0 for no padding"})};
        },
    .backward_op = &avg_pool2d_backward,
});

// ---- their backward halves, ops of their own so that a recorded backward can be differentiated ----
// (ops/corr2d.cpp, ops/conv2d.cpp, ops/pooling.cpp). Each is linear in each argument; the
// samples have the shapes of the corr2d, conv2d and pooling samples above.
const BuiltinOp corr2d_backward_input(
    {.name = "corr2d_backward_input",
     .jvp = "dX' = corr2d_backward_input(dY', K) + corr2d_backward_input(dY, K')",
     .vjp = "d(dY) = corr2d(G, K), dK = corr2d_backward_kernel(G, dY) = corr2d(G, dY)   (G: the gradient arriving at "
            "the result dX)",
     .num_inputs = 2,
     .samples =
         [](Generator& gen) {
           return std::vector<OpSample>{{"", {x(gen, {4, 4}), x(gen, {2, 3})}, [](const Inputs& v) {
                                           return tg::corr2d_backward_input(v[0], v[1]);
                                         }}};
         },
     .errors =
         [] {
           return std::vector{refuse("a 3-D dY",
                                     [] {
                                       tg::corr2d_backward_input(ones2({1, 4, 4}), ones2({2, 2}));
                                     },
                                     Kind::Shape, {"corr2d_backward_input", "dY", "[1, 4, 4]", "reshape it"}),
                              refuse("an empty kernel",
                                     [] {
                                       tg::corr2d_backward_input(ones2({3, 3}), ones2({0, 2}));
                                     },
                                     Kind::Shape, {"corr2d_backward_input", "K [0, 2] is empty", "at least one row"})};
         }});
const BuiltinOp corr2d_backward_kernel(
    {.name = "corr2d_backward_kernel",
     .jvp = "dK' = corr2d_backward_kernel(X', dY) + corr2d_backward_kernel(X, dY')",
     .vjp = "dX = corr2d_backward_input(dY, G), d(dY) = corr2d(X, G)   (G: the gradient arriving at the result dK)",
     .num_inputs = 2,
     .samples =
         [](Generator& gen) {
           return std::vector<OpSample>{{"", {x(gen, {5, 6}), x(gen, {4, 4})}, [](const Inputs& v) {
                                           return tg::corr2d_backward_kernel(v[0], v[1]);
                                         }}};
         },
     .errors =
         [] {
           return std::vector{
               refuse("dY larger than X",
                      [] {
                        tg::corr2d_backward_kernel(ones2({2, 2}), ones2({3, 3}));
                      },
                      Kind::Shape,
                      {"corr2d_backward_kernel", "[3, 3] is larger than X [2, 2]", "corr2d's output shape"}),
               refuse("a 1-D X",
                      [] {
                        tg::corr2d_backward_kernel(ones2({3}), ones2({2, 2}));
                      },
                      Kind::Shape, {"corr2d_backward_kernel", "X", "[3]", "reshape it"})};
         }});
const BuiltinOp conv2d_backward_input(
    {.name = "conv2d_backward_input",
     .jvp = "dx' = conv2d_backward_input(dY', W) + conv2d_backward_input(dY, W')",
     .vjp = "d(dY) = conv2d(G, W) (same stride and padding), dW = conv2d_backward_weight(G, dY)   (G: the gradient "
            "arriving at the result dx)",
     .num_inputs = 2,
     .samples =
         [](Generator& gen) {
           return std::vector<OpSample>{
               {"stride, padding",
                {x(gen, {2, 4, 4, 8}), x(gen, {4, 3, 3, 3})},
                [](const Inputs& v) {
                  return tg::conv2d_backward_input(v[0], v[1], {2, 3, 7, 6}, {.stride = {2, 1}, .padding = {1, 2}});
                }},
               // The last row and column of the input are in no window: their gradient is zero.
               {"stride 2, uncovered border", {x(gen, {1, 3, 3, 2}), x(gen, {3, 2, 2, 3})}, [](const Inputs& v) {
                  return tg::conv2d_backward_input(v[0], v[1], {1, 2, 7, 6}, {.stride = 2});
                }}};
         },
     .errors =
         [] {
           return std::vector{
               refuse("a dY of another shape",
                      [] {
                        tg::conv2d_backward_input(ones2({1, 2, 4, 4}), ones2({2, 1, 3, 3}), {1, 1, 5, 5}, {});
                      },
                      Kind::Shape,
                      {"conv2d_backward_input", "dY [1, 2, 4, 4]", "[1, 2, 3, 3]",
                       "pass the gradient of conv2d's result"}),
               refuse("a 3-D input shape",
                      [] {
                        tg::conv2d_backward_input(ones2({1, 2, 3, 3}), ones2({2, 1, 3, 3}), {1, 5, 5}, {});
                      },
                      Kind::Shape, {"conv2d_backward_input", "[1, 5, 5]", "needs a batch dim"}),
               refuse("an input shape of other channels",
                      [] {
                        tg::conv2d_backward_input(ones2({1, 2, 3, 3}), ones2({2, 1, 3, 3}), {1, 3, 5, 5}, {});
                      },
                      Kind::Shape, {"conv2d_backward_input", "input has 3 channels but weight expects 1"}),
               refuse("stride 0",
                      [] {
                        tg::conv2d_backward_input(ones2({1, 2, 3, 3}), ones2({2, 1, 3, 3}), {1, 1, 5, 5},
                                                  {.stride = {0, 1}});
                      },
                      Kind::Value, {"conv2d_backward_input", "(0, 1)", "use strides >= 1"})};
         }});
const BuiltinOp conv2d_backward_weight(
    {.name = "conv2d_backward_weight",
     .jvp = "dW' = conv2d_backward_weight(x', dY) + conv2d_backward_weight(x, dY')",
     .vjp = "dx = conv2d_backward_input(dY, G), d(dY) = conv2d(x, G) (same stride and padding)   (G: the gradient "
            "arriving at the result dW)",
     .num_inputs = 2,
     .samples =
         [](Generator& gen) {
           return std::vector<OpSample>{
               {"stride, padding",
                {x(gen, {2, 3, 7, 6}), x(gen, {2, 4, 4, 8})},
                [](const Inputs& v) {
                  return tg::conv2d_backward_weight(v[0], v[1], {4, 3, 3, 3}, {.stride = {2, 1}, .padding = {1, 2}});
                }},
               {"stride 2, uncovered border", {x(gen, {1, 2, 7, 6}), x(gen, {1, 3, 3, 2})}, [](const Inputs& v) {
                  return tg::conv2d_backward_weight(v[0], v[1], {3, 2, 2, 3}, {.stride = 2});
                }}};
         },
     .errors =
         [] {
           return std::vector{
               refuse("a dY of another shape",
                      [] {
                        tg::conv2d_backward_weight(ones2({1, 1, 5, 5}), ones2({1, 2, 4, 4}), {2, 1, 3, 3}, {});
                      },
                      Kind::Shape, {"conv2d_backward_weight", "dY [1, 2, 4, 4]", "[1, 2, 3, 3]"}),
               refuse("a 3-D weight shape",
                      [] {
                        tg::conv2d_backward_weight(ones2({1, 1, 5, 5}), ones2({1, 2, 3, 3}), {2, 3, 3}, {});
                      },
                      Kind::Shape, {"conv2d_backward_weight", "[O, C, kh, kw]", "[2, 3, 3]", "O = 1"})};
         }});

// max_pool2d's indices for the samples below: the offset of each window's maximum in its plane.
// Of [1, 2, 4, 4] with 2x2 windows, and of [1, 1, 5, 5] with kernel 3, stride 2, padding 1,
// where windows overlap and several pick one element (6 three times, 18 twice).
Tensor pool_index() { return tg::reshape(tg::tensor({5, 2, 12, 15, 0, 7, 9, 14}), {1, 2, 2, 2}); }
Tensor pool_index_overlapping() { return tg::reshape(tg::tensor({6, 6, 3, 6, 12, 18, 20, 18, 24}), {1, 1, 3, 3}); }

const BuiltinOp max_pool2d_backward(
    {.name = "max_pool2d_backward",
     .jvp = "linear in dy: dx' = max_pool2d_backward(dy', indices)",
     .vjp = "d(dy)[o] = G[indices[o]]: G gathered at each window's argmax; no gradient to indices   (G: the gradient "
            "arriving at the result dx)",
     .num_inputs = 2,
     .no_grad_inputs = bit(1),
     .samples =
         [](Generator& gen) {
           return std::vector<OpSample>{
               {"",
                {x(gen, {1, 2, 2, 2}), pool_index()},
                [](const Inputs& v) {
                  return tg::max_pool2d_backward(v[0], v[1], {1, 2, 4, 4});
                }},
               {"kernel 3, stride 2, padding 1", {x(gen, {1, 1, 3, 3}), pool_index_overlapping()}, [](const Inputs& v) {
                  return tg::max_pool2d_backward(v[0], v[1], {1, 1, 5, 5},
                                                 {.kernel_size = 3, .stride = 2, .padding = 1});
                }}};
         },
     .errors =
         [] {
           return std::vector{
               refuse("float indices",
                      [] {
                        tg::max_pool2d_backward(ones2({1, 1, 2, 2}), ones2({1, 1, 2, 2}), {1, 1, 4, 4});
                      },
                      Kind::Dtype, {"max_pool2d_backward", "int64", "float32", ".to(tg::kInt64)"}),
               refuse("indices of another shape",
                      [] {
                        tg::max_pool2d_backward(ones2({1, 1, 2, 2}), tg::reshape(tg::tensor({0, 2}), {1, 1, 1, 2}),
                                                {1, 1, 4, 4});
                      },
                      Kind::Shape, {"max_pool2d_backward", "[1, 1, 1, 2]", "[1, 1, 2, 2]", "max_pool2d's own indices"}),
               refuse(
                   "an index outside its window",
                   [] {
                     tg::max_pool2d_backward(ones2({1, 1, 2, 2}), tg::reshape(tg::tensor({0, 2, 8, 5}), {1, 1, 2, 2}),
                                             {1, 1, 4, 4});
                   },
                   Kind::Value,
                   {"max_pool2d_backward", "index 5 of window (1, 1)", "rows [2, 4), columns [2, 4)", "same options"}),
               refuse("a dy of another shape",
                      [] {
                        tg::max_pool2d_backward(ones2({1, 1, 3, 3}), pool_index(), {1, 1, 4, 4});
                      },
                      Kind::Shape, {"max_pool2d_backward", "dy [1, 1, 3, 3]", "[1, 1, 2, 2]", "options of that call"})};
         }});
const BuiltinOp avg_pool2d_backward(
    {.name = "avg_pool2d_backward",
     .jvp = "linear: dx' = avg_pool2d_backward(dy')",
     .vjp = "d(dy) = avg_pool2d(G), the same windows   (G: the gradient arriving at the result dx)",
     .samples =
         [](Generator& gen) {
           return std::vector<OpSample>{
               {"",
                {x(gen, {2, 2, 3, 3})},
                [](const Inputs& v) {
                  return tg::avg_pool2d_backward(v[0], {2, 2, 6, 6});
                }},
               {"kernel 3, stride 2, padding 1", {x(gen, {1, 2, 4, 4})}, [](const Inputs& v) {
                  return tg::avg_pool2d_backward(v[0], {1, 2, 7, 7}, {.kernel_size = 3, .stride = 2, .padding = 1});
                }}};
         },
     .errors =
         [] {
           return std::vector{
               refuse("a dy of another shape",
                      [] {
                        tg::avg_pool2d_backward(ones2({1, 1, 3, 3}), {1, 1, 4, 4});
                      },
                      Kind::Shape, {"avg_pool2d_backward", "dy [1, 1, 3, 3]", "[1, 1, 2, 2]", "options of that call"}),
               refuse("a 3-D input shape",
                      [] {
                        tg::avg_pool2d_backward(ones2({1, 2, 2}), {1, 4, 4});
                      },
                      Kind::Shape, {"avg_pool2d_backward", "[1, 4, 4]", "[1, C, H, W]"})};
         }});

// sigmoid's backward (ops/unary.cpp), as PyTorch's sigmoid_backward: y in (0, 1) as a sigmoid's result.
const BuiltinOp sigmoid_backward(
    {.name = "sigmoid_backward",
     .jvp = "z' = sigmoid_backward(dy', y) + dy * y' * (1 - 2 y)",
     .vjp = "d(dy) = sigmoid_backward(G, y) = G * y * (1 - y), d(y) = G * dy * (1 - 2 y)   (G: the gradient arriving "
            "at the result z)",
     .num_inputs = 2,
     .samples =
         [](Generator& gen) {
           return std::vector<OpSample>{{"", {x(gen, {3, 4}), x(gen, {3, 4}, 0.05, 0.95)}, [](const Inputs& v) {
                                           return tg::sigmoid_backward(v[0], v[1]);
                                         }}};
         },
     .errors =
         [] {
           return std::vector{refuse("a dy of another shape",
                                     [] {
                                       tg::sigmoid_backward(ones2({2, 3}), ones2({3, 2}));
                                     },
                                     Kind::Shape, {"sigmoid_backward", "dy [2, 3]", "y [3, 2]", "shaped like it"})};
         }});

// ---- resampling (ops/resample.cpp): linear maps of each plane, Y = Mh X Mw^T; their backward
// halves are ops of their own, each the other's adjoint ----
const BuiltinOp adaptive_avg_pool2d(
    {.name = "adaptive_avg_pool2d",
     .jvp = "linear: y' = adaptive_avg_pool2d(x')",
     .vjp = "dx = adaptive_avg_pool2d_backward(dy) = Mh^T dy Mw: each dy[o] spread evenly over its bin",
     .samples =
         [](Generator& gen) {
           return std::vector<OpSample>{
               {"overlapping windows",
                {x(gen, {2, 2, 7, 6})},
                [](const Inputs& v) {
                  return tg::adaptive_avg_pool2d(v[0], {3, 4});
                }},
               {"global", {x(gen, {2, 3, 4, 5})}, [](const Inputs& v) { return tg::adaptive_avg_pool2d(v[0], 1); }},
               {"larger output", {x(gen, {1, 2, 3, 3})}, [](const Inputs& v) {
                  return tg::adaptive_avg_pool2d(v[0], {5, 4});
                }}};
         },
     .errors =
         [] {
           return std::vector{refuse("a 3-D input",
                                     [] {
                                       tg::adaptive_avg_pool2d(ones2({2, 4, 4}), 1);
                                     },
                                     Kind::Shape, {"adaptive_avg_pool2d", "[2, 4, 4]", "[1, C, H, W]"}),
                              refuse("an output size of 0",
                                     [] {
                                       tg::adaptive_avg_pool2d(ones2({1, 1, 4, 4}), {0, 2});
                                     },
                                     Kind::Value, {"adaptive_avg_pool2d", "[0, 2]", "sizes >= 1"})};
         },
     .backward_op = &adaptive_avg_pool2d_backward});
const BuiltinOp adaptive_avg_pool2d_backward(
    {.name = "adaptive_avg_pool2d_backward",
     .jvp = "linear: dx' = adaptive_avg_pool2d_backward(dy')",
     .vjp = "d(dy) = adaptive_avg_pool2d(G, [OH, OW])   (G: the gradient arriving at the result dx)",
     .samples =
         [](Generator& gen) {
           return std::vector<OpSample>{{"overlapping windows",
                                         {x(gen, {2, 2, 3, 4})},
                                         [](const Inputs& v) {
                                           return tg::adaptive_avg_pool2d_backward(v[0], {2, 2, 7, 6});
                                         }},
                                        {"global", {x(gen, {2, 3, 1, 1})}, [](const Inputs& v) {
                                           return tg::adaptive_avg_pool2d_backward(v[0], {2, 3, 4, 5});
                                         }}};
         },
     .errors =
         [] {
           return std::vector{refuse("a dy of another batch",
                                     [] {
                                       tg::adaptive_avg_pool2d_backward(ones2({1, 2, 3, 4}), {2, 2, 7, 6});
                                     },
                                     Kind::Shape,
                                     {"adaptive_avg_pool2d_backward", "dy [1, 2, 3, 4]", "[2, 2, OH, OW]"})};
         }});
const BuiltinOp interpolate(
    {.name = "interpolate",
     .jvp = "linear: y' = interpolate(x')",
     .vjp = "dx = interpolate_backward(dy) = Mh^T dy Mw: each dy[o] sent back to the pixels it was read from, with the "
            "same nearest or bilinear weights",
     .samples =
         [](Generator& gen) {
           return std::vector<OpSample>{
               {"bilinear up",
                {x(gen, {1, 2, 4, 5})},
                [](const Inputs& v) {
                  return tg::interpolate(v[0], {7, 9}, {.mode = InterpolateMode::bilinear});
                }},
               {"bilinear down, align_corners",
                {x(gen, {2, 1, 6, 7})},
                [](const Inputs& v) {
                  return tg::interpolate(v[0], {4, 3}, {.mode = InterpolateMode::bilinear, .align_corners = true});
                }},
               {"nearest", {x(gen, {1, 2, 5, 4})}, [](const Inputs& v) {
                  return tg::interpolate(v[0], {7, 8});
                }}};
         },
     .errors =
         [] {
           return std::vector{refuse("align_corners with nearest",
                                     [] {
                                       tg::interpolate(ones2({1, 1, 4, 4}), 8, {.align_corners = true});
                                     },
                                     Kind::Value, {"interpolate", "align_corners", "bilinear"}),
                              refuse("a size of 0",
                                     [] {
                                       tg::interpolate(ones2({1, 1, 4, 4}), {4, 0});
                                     },
                                     Kind::Value, {"interpolate", "[4, 0]", "sizes >= 1"}),
                              refuse("a 3-D input",
                                     [] {
                                       tg::interpolate(ones2({3, 4, 4}), 8, {.mode = InterpolateMode::bilinear});
                                     },
                                     Kind::Shape, {"interpolate", "[3, 4, 4]", "[1, C, H, W]"})};
         },
     .backward_op = &interpolate_backward});
const BuiltinOp interpolate_backward(
    {.name = "interpolate_backward",
     .jvp = "linear: dx' = interpolate_backward(dy')",
     .vjp = "d(dy) = interpolate(G, [OH, OW], the same options)   (G: the gradient arriving at the result dx)",
     .samples =
         [](Generator& gen) {
           return std::vector<OpSample>{
               {"bilinear",
                {x(gen, {1, 2, 7, 9})},
                [](const Inputs& v) {
                  return tg::interpolate_backward(v[0], {1, 2, 4, 5}, {.mode = InterpolateMode::bilinear});
                }},
               {"nearest", {x(gen, {1, 2, 7, 8})}, [](const Inputs& v) {
                  return tg::interpolate_backward(v[0], {1, 2, 5, 4});
                }}};
         },
     .errors =
         [] {
           return std::vector{refuse("a dy of other channels",
                                     [] {
                                       tg::interpolate_backward(ones2({1, 3, 8, 8}), {1, 2, 4, 4});
                                     },
                                     Kind::Shape, {"interpolate_backward", "dy [1, 3, 8, 8]", "[1, 2, OH, OW]"})};
         }});

// ---- losses, normalisation, regularisation (ops/loss.cpp, ops/normalization.cpp) ----
const BuiltinOp softmax({.name = "softmax",
                         .jvp = "y' = y * (x' - sum_dim(y * x'))",
                         .vjp = "dx = y * (dy - sum_dim(dy * y))",
                         .samples = one([](const Inputs& v) { return tg::softmax(v[0], 1); }, -2, 2, {3, 5}),
                         .errors = [] {
                           return std::vector{refuse("softmax(ones({2, 3}), 2)",
                                                     [] {
                                                       tg::softmax(ones2({2, 3}), 2);
                                                     },
                                                     Kind::Value, {"softmax", "dim 2", "use a dim in [-2, 1]"})};
                         }});
const BuiltinOp log_softmax({.name = "log_softmax",
                             .jvp = "y' = x' - sum_dim(exp(y) * x')",
                             .vjp = "dx = dy - e^y * sum_dim(dy)",
                             .samples = one([](const Inputs& v) { return tg::log_softmax(v[0], 0); }, -2, 2, {3, 5}),
                             .errors = [] {
                               return std::vector{refuse("log_softmax(ones({2, 3}), -3)",
                                                         [] {
                                                           tg::log_softmax(ones2({2, 3}), -3);
                                                         },
                                                         Kind::Value, {"log_softmax", "dim -3", "use a dim in"})};
                             }});
Tensor class_ids(std::initializer_list<std::int64_t> ids, const Shape& shape) {
  return from_vector(std::vector<std::int64_t>(ids), shape);
}
const BuiltinOp cross_entropy(
    {.name = "cross_entropy",
     .jvp = "loss' = reduce(sum_k (softmax - q)_k x'_k), q smoothed targets; soft q also -(1-eps) q' logp",
     .vjp =
         "dlogits = g (softmax(logits) - q), q = (1 - eps) one_hot(t) + eps / C, 0 on ignored rows, no gradient to "
         "class indices; probabilities: dlogits = g (softmax sum_k q_k - q), dtargets = -g (1 - eps) logp; g = dloss / "
         "count for mean (targets not ignored; every row for probabilities), dloss for sum, dloss[n] for none",
     .num_inputs = 2,
     .samples =
         [](Generator& gen) {
           return std::vector<OpSample>{
               {"",
                {x(gen, {4, 5}, -2, 2), class_ids({0, 3, 1, 4}, {4})},
                [](const Inputs& v) { return tg::cross_entropy(v[0], v[1]); }},
               {"label smoothing, ignore_index",
                {x(gen, {4, 5}, -2, 2), class_ids({2, -100, 4, 0}, {4})},
                [](const Inputs& v) { return tg::cross_entropy(v[0], v[1], {.label_smoothing = 0.2}); }},
               {"sequence, none",
                {x(gen, {2, 4, 3}, -2, 2), class_ids({0, 3, 1, 2, 2, 0}, {2, 3})},
                [](const Inputs& v) { return tg::cross_entropy(v[0], v[1], {.reduction = "none"}); }},
               {"sequence, ignore_index 1, sum",
                {x(gen, {2, 4, 3}, -2, 2), class_ids({0, 1, 1, 3, 2, 0}, {2, 3})},
                [](const Inputs& v) { return tg::cross_entropy(v[0], v[1], {.ignore_index = 1, .reduction = "sum"}); }},
               {"one example",
                {x(gen, {5}, -2, 2), class_ids({3}, {})},
                [](const Inputs& v) { return tg::cross_entropy(v[0], v[1]); }},
               {"probabilities, label smoothing",
                {x(gen, {3, 4}, -2, 2), tg::softmax(x(gen, {3, 4}, -2, 2), 1).detach().requires_grad_()},
                [](const Inputs& v) { return tg::cross_entropy(v[0], v[1], {.label_smoothing = 0.1}); }}};
         },
     .errors =
         [] {
           return std::vector{
               refuse("a class out of range",
                      [] {
                        tg::cross_entropy(ones2({2, 3}), from_vector(std::vector<std::int64_t>{0, 3}, {2}));
                      },
                      Kind::Value, {"cross_entropy", "target 3", "[0, 3)", "ignore_index (-100)"}),
               refuse("cross_entropy(ones({3}), tensor({0}))", [] { tg::cross_entropy(ones2({3}), tg::tensor({0})); },
                      Kind::Shape, {"cross_entropy", "scores [3] need targets of shape []", "got [1]"}),
               refuse("cross_entropy(ones({2, 3}), tensor({0}))",
                      [] {
                        tg::cross_entropy(ones2({2, 3}), tg::tensor({0}));
                      },
                      Kind::Shape,
                      {"cross_entropy", "[2, 3] need targets of shape [2]", "one class index per example"}),
               refuse("cross_entropy(ones({2, 4, 3}), zeros({2, 4}, kInt64))",
                      [] {
                        tg::cross_entropy(ones2({2, 4, 3}), tg::zeros({2, 4}, {.dtype = tg::kInt64}));
                      },
                      Kind::Shape,
                      {"cross_entropy", "targets of shape [2, 3]", "without the class dim 1", "got [2, 4]"}),
               refuse("cross_entropy(ones({1, 3}), Tensor{0.5})",
                      [] {
                        tg::cross_entropy(ones2({1, 3}), Tensor{0.5});
                      },
                      Kind::Dtype, {"cross_entropy", "float32 [1]", "int64", "to(tg::kInt64)"}),
               refuse("cross_entropy(ones({}), zeros({}, kInt64))",
                      [] { tg::cross_entropy(ones2({}), tg::zeros({}, {.dtype = tg::kInt64})); }, Kind::Shape,
                      {"cross_entropy", "0-d", "[N, C]"}),
               refuse("label_smoothing = 1.5",
                      [] {
                        tg::cross_entropy(ones2({2, 3}), tg::tensor({0, 1}), {.label_smoothing = 1.5});
                      },
                      Kind::Value, {"cross_entropy", "label_smoothing is 1.5", "[0, 1]"}),
               refuse("reduction = \"avg\"",
                      [] {
                        tg::cross_entropy(ones2({2, 3}), tg::tensor({0, 1}), {.reduction = "avg"});
                      },
                      Kind::Value, {"cross_entropy", "\"avg\"", "\"mean\", \"sum\" or \"none\""}),
               refuse("ignore_index with probabilities",
                      [] {
                        tg::cross_entropy(ones2({2, 3}), ones2({2, 3}), {.ignore_index = 0});
                      },
                      Kind::Value, {"cross_entropy", "ignore_index (0)", "class probabilities [2, 3]"})};
         }});
const BuiltinOp nll_loss({.name = "nll_loss",
                          .jvp = "linear: nll_loss(log_probs', targets) with the same options",
                          .vjp = "dlog_probs = -g at each row's target class, 0 elsewhere and on ignored rows; g = "
                                 "dloss / count (mean), dloss (sum), dloss[n] (none); no gradient to targets",
                          .num_inputs = 2,
                          .no_grad_inputs = bit(1),
                          .samples =
                              [](Generator& gen) {
                                return std::vector<OpSample>{
                                    {"",
                                     {x(gen, {4, 5}, -3, 0), class_ids({1, 0, 4, 4}, {4})},
                                     [](const Inputs& v) { return tg::nll_loss(v[0], v[1]); }},
                                    {"sequence, ignore_index 2",
                                     {x(gen, {2, 3, 4}, -3, 0), class_ids({0, 2, 1, 2, 2, 1, 0, 0}, {2, 4})},
                                     [](const Inputs& v) { return tg::nll_loss(v[0], v[1], {.ignore_index = 2}); }},
                                    {"none", {x(gen, {3, 4}, -3, 0), class_ids({3, 0, 2}, {3})}, [](const Inputs& v) {
                                       return tg::nll_loss(v[0], v[1], {.reduction = "none"});
                                     }}};
                              },
                          .errors =
                              [] {
                                return std::vector{refuse("nll_loss(ones({2, 3}), tensor({0, 5}))",
                                                          [] {
                                                            tg::nll_loss(ones2({2, 3}), tg::tensor({0, 5}));
                                                          },
                                                          Kind::Value, {"nll_loss", "target 5 (element 1", "[0, 3)"}),
                                                   refuse("nll_loss(ones({2, 3}), tensor({0.0, 1.0}))",
                                                          [] {
                                                            tg::nll_loss(ones2({2, 3}), tg::tensor({0.0, 1.0}));
                                                          },
                                                          Kind::Dtype, {"nll_loss", "float32 [2]", "to(tg::kInt64)"})};
                              }});
const BuiltinOp binary_cross_entropy_with_logits(
    {.name = "binary_cross_entropy_with_logits",
     .jvp = "loss' = reduce(w ((1 + (p-1) y) sigmoid(x) - p y) x' + w ((p-1) softplus(-x) - x) y')",
     .vjp = "dlogits = g w ((1 + (p-1) y) sigmoid(x) - p y), dtargets = g w ((p-1) softplus(-x) - x); x logits, y "
            "targets, g = dloss (/ numel for mean), w and p 1 when absent; no gradient to weight, pos_weight",
     .num_inputs = 4,
     .no_grad_inputs = bit(2) | bit(3),
     .optional_inputs = bit(2) | bit(3),
     .samples =
         [](Generator& gen) {
           return std::vector<OpSample>{
               {"",
                {x(gen, {3, 4}, -3, 3), x(gen, {3, 4}, 0, 1), Tensor(), Tensor()},
                [](const Inputs& v) { return tg::binary_cross_entropy_with_logits(v[0], v[1]); }},
               {"weight, pos_weight, sum",
                {x(gen, {3, 4}, -3, 3), x(gen, {3, 4}, 0, 1), x(gen, {3, 1}, 0.5, 2).detach(),
                 x(gen, {4}, 0.5, 3).detach()},
                [](const Inputs& v) {
                  return tg::binary_cross_entropy_with_logits(v[0], v[1],
                                                              {.weight = v[2], .pos_weight = v[3], .reduction = "sum"});
                }},
               {"none", {x(gen, {5}, -30, 30), x(gen, {5}, 0, 1), Tensor(), Tensor()}, [](const Inputs& v) {
                  return tg::binary_cross_entropy_with_logits(v[0], v[1], {.reduction = "none"});
                }}};
         },
     .errors =
         [] {
           return std::vector{
               refuse("binary_cross_entropy_with_logits(ones({2, 3}), ones({2, 1}))",
                      [] {
                        tg::binary_cross_entropy_with_logits(ones2({2, 3}), ones2({2, 1}));
                      },
                      Kind::Shape, {"binary_cross_entropy_with_logits", "targets [2, 1]", "logits [2, 3]"}),
               refuse("pos_weight ones({2})",
                      [] {
                        tg::binary_cross_entropy_with_logits(ones2({2, 3}), ones2({2, 3}), {.pos_weight = ones2({2})});
                      },
                      Kind::Shape, {"binary_cross_entropy_with_logits", "pos_weight [2]", "one weight per class"})};
         }});
const BuiltinOp mse_loss(
    {.name = "mse_loss",
     .jvp = "loss' = (2/n) sum((a - b) * (a' - b'))",
     .vjp = "da = dloss * 2 (a - b) / n, db = -da",
     .num_inputs = 2,
     .samples =
         [](Generator& gen) {
           return std::vector<OpSample>{
               {"", {x(gen, {2, 3}), x(gen, {2, 3})}, [](const Inputs& v) { return tg::mse_loss(v[0], v[1]); }}};
         },
     .errors =
         [] {
           return std::vector{refuse("mse_loss(ones({4}), ones({4, 1}))",
                                     [] {
                                       tg::mse_loss(ones2({4}), ones2({4, 1}));
                                     },
                                     Kind::Shape, {"mse_loss", "[4] and target [4, 1]", "reshape one"})};
         }});
const BuiltinOp batch_norm(
    {.name = "batch_norm",
     .jvp = "y' = w xhat' + w' xhat + b'; xhat' = invstd (x' - mean(x') - xhat mean(x' xhat)), eval: invstd x'",
     .vjp = "dx = w invstd (dy - mean(dy) - xhat mean(dy xhat)) in training, dx = w invstd dy in eval; dw = sum(dy "
            "xhat), db = sum(dy)   (per channel; w = 1 without weight); no gradient to running_mean, running_var",
     .num_inputs = 5,
     .no_grad_inputs = bit(1) | bit(2),
     .optional_inputs = bit(1) | bit(2) | bit(3) | bit(4),
     .samples =
         [](Generator& gen) {
           auto stats = [] { return std::vector{zeros({3}, {.dtype = kFloat64}), ones({3}, {.dtype = kFloat64})}; };
           auto training = [](const Inputs& v) { return tg::batch_norm(v[0], v[1], v[2], v[3], v[4], true); };
           auto eval = [](const Inputs& v) { return tg::batch_norm(v[0], v[1], v[2], v[3], v[4], false); };
           auto s1 = stats();
           Tensor mean = x(gen, {3}, -0.5, 0.5).detach(), var = x(gen, {3}, 0.5, 2).detach();
           return std::vector<OpSample>{
               {"training", {x(gen, {4, 3, 2, 2}), s1[0], s1[1], x(gen, {3}, 0.5, 2), x(gen, {3})}, training},
               {"training, 2-D, no affine", {x(gen, {5, 3}), Tensor(), Tensor(), Tensor(), Tensor()}, training},
               {"eval", {x(gen, {4, 3, 2, 2}), mean, var, x(gen, {3}, 0.5, 2), x(gen, {3})}, eval}};
         },
     .errors =
         [] {
           return std::vector{
               refuse("batch_norm(ones({3}), Tensor(), Tensor(), Tensor(), Tensor(), true)",
                      [] { tg::batch_norm(ones2({3}), Tensor(), Tensor(), Tensor(), Tensor(), true); }, Kind::Shape,
                      {"batch_norm", "[3]", "add a batch dim"}),
               refuse("batch_norm(ones({2, 3}), Tensor(), Tensor(), ones({4}), Tensor(), true)",
                      [] {
                        tg::batch_norm(ones2({2, 3}), Tensor(), Tensor(), ones2({4}), Tensor(), true);
                      },
                      Kind::Shape, {"batch_norm", "weight has shape [4]", "it must be [3]"}),
               refuse("batch_norm(ones({2, 3}), zeros({3}), Tensor(), Tensor(), Tensor(), true)",
                      [] {
                        tg::batch_norm(ones2({2, 3}), tg::zeros({3}), Tensor(), Tensor(), Tensor(), true);
                      },
                      Kind::Value, {"batch_norm", "running_mean and running_var", "both be given"}),
               refuse("batch_norm(ones({2, 3}), Tensor(), Tensor(), Tensor(), Tensor(), false)",
                      [] {
                        tg::batch_norm(ones2({2, 3}), Tensor(), Tensor(), Tensor(), Tensor(), false);
                      },
                      Kind::Value, {"batch_norm", "eval mode", "pass them"}),
               refuse("batch_norm(ones({1, 3}), Tensor(), Tensor(), Tensor(), Tensor(), true)",
                      [] {
                        tg::batch_norm(ones2({1, 3}), Tensor(), Tensor(), Tensor(), Tensor(), true);
                      },
                      Kind::Value, {"batch_norm", "[1, 3]", "batch of at least 2"})};
         }});
const BuiltinOp dropout(
    {.name = "dropout",
     .jvp = "linear: y' = x' * mask / (1 - p), the value's mask",
     .vjp = "dx = dy * mask / (1 - p): 0 where the element was dropped, dy / (1 - p) where kept   (the forward's mask)",
     .samples = one([](const Inputs& v) {
       Generator same(11);  // seeded in the call: every run drops the same elements
       return tg::dropout(v[0], 0.4, true, same);
     }),
     .errors =
         [] {
           return std::vector{refuse("dropout(ones({3}), 1.5, true, default_generator())",
                                     [] { tg::dropout(ones2({3}), 1.5, true, tg::default_generator()); }, Kind::Value,
                                     {"dropout", "1.5", "[0, 1]"}),
                              refuse("dropout(ones({3}), kNaN, true, default_generator())",
                                     [] { tg::dropout(ones2({3}), kNaN, true, tg::default_generator()); }, Kind::Value,
                                     {"dropout", "nan", "[0, 1]"})};
         },
     .no_fixture = "its mask comes from tapegrad's generator, which PyTorch cannot reproduce; "
                   "test_normalization.cpp checks it against the mask and the expected scale"});

const BuiltinOp layer_norm(
    {.name = "layer_norm",
     .jvp = "y' = w xhat' + w' xhat + b', xhat' = rstd (x' - mean(x') - xhat mean(x' xhat)) over the row",
     .vjp = "dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dxhat = dy w; dw = sum over rows of dy xhat, db "
            "= sum over rows of dy   (means over each row; w = 1 without weight)",
     .num_inputs = 3,
     .optional_inputs = bit(1) | bit(2),
     .samples =
         [](Generator& gen) {
           return std::vector<OpSample>{{"affine",
                                         {x(gen, {4, 5}, -2, 2), x(gen, {5}, 0.5, 2), x(gen, {5})},
                                         [](const Inputs& v) { return tg::layer_norm(v[0], {5}, v[1], v[2]); }},
                                        {"two dims, no affine",
                                         {x(gen, {2, 3, 4}, -2, 2), Tensor(), Tensor()},
                                         [](const Inputs& v) {
                                           return tg::layer_norm(v[0], {3, 4}, v[1], v[2]);
                                         }},
                                        {"weight only, eps 0.1",
                                         {x(gen, {3, 4}, -2, 2), x(gen, {4}, 0.5, 2), Tensor()},
                                         [](const Inputs& v) { return tg::layer_norm(v[0], {4}, v[1], v[2], 0.1); }}};
         },
     .errors =
         [] {
           return std::vector{
               refuse("layer_norm(ones({2, 3}), {2})",
                      [] {
                        tg::layer_norm(ones2({2, 3}), {2});
                      },
                      Kind::Shape, {"layer_norm", "normalized_shape [2]", "last dims of the input [2, 3]", "{3}"}),
               refuse("layer_norm(ones({2, 3}), {3}, ones({4}))",
                      [] {
                        tg::layer_norm(ones2({2, 3}), {3}, ones2({4}));
                      },
                      Kind::Shape, {"layer_norm", "weight has shape [4]", "normalized_shape [3]"}),
               refuse("layer_norm(ones({2, 3}), {3}, Tensor(), Tensor(), -1)",
                      [] {
                        tg::layer_norm(ones2({2, 3}), {3}, Tensor(), Tensor(), -1);
                      },
                      Kind::Value, {"layer_norm", "eps is -1", ">= 0"})};
         }});

// ---- attention (ops/attention.cpp) ----
const BuiltinOp scaled_dot_product_attention(
    {.name = "scaled_dot_product_attention",
     .jvp = "y' = P' V + P V', P' = P * (S' - rowsum(P S')), S' = scale (Q' K^T + Q K'^T) + mask'",
     .vjp = "dV = P^T dO, dQ = scale dS K, dK = scale dS^T Q, dmask = dS (a float mask, summed to its shape); dS = P * "
            "(dP - rowsum(dP * P)), dP = dO V^T   (dO: the output's gradient; fully masked rows send 0)",
     .num_inputs = 4,
     .optional_inputs = bit(3),
     .samples =
         [](Generator& gen) {
           auto attend = [](AttentionOptions o) {
             return [o](const Inputs& v) {
               AttentionOptions with = o;
               with.mask = v[3];
               return tg::scaled_dot_product_attention(v[0], v[1], v[2], with);
             };
           };
           // Row 1 of the second pair masks every key: its output and gradients are zeros.
           Tensor masked = ne(class_ids({1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 1}, {2, 3, 3}), 0);
           Tensor partly = ne(class_ids({1, 0, 1, 1, 1, 0, 0, 1, 1}, {3, 3}), 0);
           return std::vector<OpSample>{
               {"", {x(gen, {2, 3, 4}), x(gen, {2, 5, 4}), x(gen, {2, 5, 3}), Tensor()}, attend({})},
               {"causal, heads",
                {x(gen, {2, 2, 4, 3}), x(gen, {2, 2, 4, 3}), x(gen, {2, 2, 4, 2}), Tensor()},
                attend({.is_causal = true})},
               {"bool mask, scale 0.5",
                {x(gen, {2, 3, 4}), x(gen, {2, 3, 4}), x(gen, {2, 3, 2}), partly},
                attend({.scale = 0.5})},
               {"float mask", {x(gen, {3, 2}), x(gen, {4, 2}), x(gen, {4, 3}), x(gen, {3, 4}, -2, 0)}, attend({})},
               {"fully masked row", {x(gen, {2, 3, 2}), x(gen, {2, 3, 2}), x(gen, {2, 3, 2}), masked}, attend({})}};
         },
     .errors =
         [] {
           return std::vector{
               refuse("q [2, 3], k [2, 5]",
                      [] {
                        tg::scaled_dot_product_attention(ones2({2, 3}), ones2({2, 5}), ones2({2, 5}));
                      },
                      Kind::Shape, {"scaled_dot_product_attention", "key [2, 5]", "last dim d = 3"}),
               refuse("v with other positions",
                      [] {
                        tg::scaled_dot_product_attention(ones2({2, 3}), ones2({4, 3}), ones2({5, 3}));
                      },
                      Kind::Shape, {"scaled_dot_product_attention", "value [5, 3]", "key [4, 3]", "S = 4"}),
               refuse("mask and is_causal",
                      [] {
                        tg::scaled_dot_product_attention(ones2({2, 3}), ones2({2, 3}), ones2({2, 3}),
                                                         {.mask = ones2({2, 2}), .is_causal = true});
                      },
                      Kind::Value, {"scaled_dot_product_attention", "not both"}),
               refuse("mask [3, 2] for scores [2, 2]",
                      [] {
                        tg::scaled_dot_product_attention(ones2({2, 3}), ones2({2, 3}), ones2({2, 3}),
                                                         {.mask = ones2({3, 2})});
                      },
                      Kind::Shape, {"scaled_dot_product_attention", "mask [3, 2]", "scores [2, 2]"}),
               refuse("int64 mask",
                      [] {
                        tg::scaled_dot_product_attention(ones2({2, 3}), ones2({2, 3}), ones2({2, 3}),
                                                         {.mask = tg::zeros({2, 2}, {.dtype = tg::kInt64})});
                      },
                      Kind::Dtype, {"scaled_dot_product_attention", "int64", "bool (true: attend)"}),
               refuse("q 1-D", [] { tg::scaled_dot_product_attention(ones2({3}), ones2({3}), ones2({3})); },
                      Kind::Shape, {"scaled_dot_product_attention", "at least 2"})};
         }});

}  // namespace op

}  // namespace tg
