// SPDX-License-Identifier: MIT
// adaptive_avg_pool2d and interpolate (ops/resample.cpp): closed forms, gradcheck and
// gradgradcheck on random sizes, the backward halves as adjoints, and the layer. PyTorch's
// values for every registry sample are checked by the registry's fixture test.
#include "framework/ops/op_test_util.hpp"
#include "tapegrad/layers/pooling.hpp"

using tg::InterpolateMode;
using tg::Shape;
using tg::Tensor;
using tg::test::allclose;

namespace {

Tensor f64(std::initializer_list<tg::NestedList> values) { return tg::tensor(values, {.dtype = tg::kFloat64}); }

// 0, 1, 2, ... as float64 in the given shape.
Tensor counting(const Shape& shape) {
  return tg::arange(static_cast<double>(shape.numel()), {.dtype = tg::kFloat64}).reshape(shape);
}

}  // namespace

TEST_CASE("adaptive_avg_pool2d: global pooling is the mean of each plane; bins follow PyTorch's", "[ops][resample]") {
  Tensor x = counting({2, 3, 4, 5});
  CHECK(allclose(tg::adaptive_avg_pool2d(x, 1), x.mean(3, true).mean(2, true), 1e-14, 1e-14));
  // One row [0 .. 6] pooled to 3: PyTorch's bins [0, 3), [2, 5), [4, 7), overlapping at 2 and 4.
  Tensor row = counting({1, 1, 1, 7});
  CHECK(allclose(tg::adaptive_avg_pool2d(row, {1, 3}), f64({{{{1.0, 3.0, 5.0}}}}), 1e-14, 1e-14));
  // An output larger than the input repeats elements: 2 -> 3 reads [0, 1), [0, 2), [1, 2).
  Tensor two = f64({{{{2.0, 4.0}}}});
  CHECK(allclose(tg::adaptive_avg_pool2d(two, {1, 3}), f64({{{{2.0, 3.0, 4.0}}}}), 1e-14, 1e-14));
  // The output size of the input's own size is the identity.
  CHECK(allclose(tg::adaptive_avg_pool2d(x, {4, 5}), x, 0, 0));
}

TEST_CASE("interpolate: nearest repeats, bilinear interpolates between pixel centres", "[ops][resample]") {
  Tensor x = f64({{{{1.0, 2.0}, {3.0, 4.0}}}});
  // Nearest, 2x: every pixel becomes a 2x2 block.
  CHECK(allclose(tg::interpolate(x, 4),
                 f64({{{{1.0, 1.0, 2.0, 2.0}, {1.0, 1.0, 2.0, 2.0}, {3.0, 3.0, 4.0, 4.0}, {3.0, 3.0, 4.0, 4.0}}}}), 0,
                 0));
  // Bilinear without align_corners, 2 -> 4 along a row [0, 4]: source s = (i + 0.5) / 2 - 0.5,
  // clamped at 0: s = 0, 0.25, 0.75, 1 (clamped at the last pixel) -> 0, 1, 3, 4.
  Tensor row = f64({{{{0.0, 4.0}}}});
  CHECK(allclose(tg::interpolate(row, {1, 4}, {.mode = InterpolateMode::bilinear}), f64({{{{0.0, 1.0, 3.0, 4.0}}}}),
                 1e-14, 1e-14));
  // With align_corners the corners coincide: 2 -> 5 is [0, 1, 2, 3, 4].
  CHECK(allclose(tg::interpolate(row, {1, 5}, {.mode = InterpolateMode::bilinear, .align_corners = true}),
                 f64({{{{0.0, 1.0, 2.0, 3.0, 4.0}}}}), 1e-14, 1e-14));
  // A plane that is linear in (r, c) stays linear under align_corners resizing.
  Tensor ramp = counting({1, 1, 3, 3});  // 3 r + c
  Tensor up = tg::interpolate(ramp, 5, {.mode = InterpolateMode::bilinear, .align_corners = true});
  Tensor expect = tg::zeros({1, 1, 5, 5}, {.dtype = tg::kFloat64});
  for (std::int64_t r = 0; r < 5; ++r)
    for (std::int64_t c = 0; c < 5; ++c) expect.data<double>()[r * 5 + c] = 3 * (r * 0.5) + c * 0.5;
  CHECK(allclose(up, expect, 1e-14, 1e-14));
  // The input's own size is the identity in every mode.
  CHECK(allclose(tg::interpolate(ramp, 3, {.mode = InterpolateMode::bilinear}), ramp, 0, 0));
  CHECK(allclose(tg::interpolate(ramp, 3), ramp, 0, 0));
}

TEST_CASE("adaptive_avg_pool2d and interpolate pass gradcheck and gradgradcheck on random sizes",
          "[ops][resample][gradcheck]") {
  tg::Generator gen(2031);
  for (int trial = 0; trial < 6; ++trial) {
    Shape in{tg::test::random_int(gen, 1, 2), tg::test::random_int(gen, 1, 2), tg::test::random_int(gen, 1, 6),
             tg::test::random_int(gen, 1, 6)};
    tg::Size2 out{tg::test::random_int(gen, 1, 7), tg::test::random_int(gen, 1, 7)};
    Tensor x = tg::test::uniform(in, gen, -1, 1).requires_grad_();
    INFO("x " << in << " to [" << out.h << ", " << out.w << "]");
    tg::test::check_first_and_second([&](const std::vector<Tensor>& v) { return tg::adaptive_avg_pool2d(v[0], out); },
                                     {x});
    for (tg::InterpolateOptions options :
         {tg::InterpolateOptions{}, tg::InterpolateOptions{.mode = InterpolateMode::bilinear},
          tg::InterpolateOptions{.mode = InterpolateMode::bilinear, .align_corners = true}}) {
      tg::test::check_first_and_second(
          [&](const std::vector<Tensor>& v) { return tg::interpolate(v[0], out, options); }, {x});
    }
  }
}

TEST_CASE("the backward halves are the adjoints of the resampling ops", "[ops][resample]") {
  // <resample(x), g> = <x, resample_backward(g)> for random x and g.
  tg::Generator gen(77);
  Tensor x = tg::test::uniform({2, 3, 5, 6}, gen, -1, 1);
  Tensor g = tg::test::uniform({2, 3, 4, 9}, gen, -1, 1);
  auto dot = [](const Tensor& a, const Tensor& b) { return (a * b).sum().item<double>(); };
  CHECK(dot(tg::adaptive_avg_pool2d(x, {4, 9}), g) ==
        Approx(dot(x, tg::adaptive_avg_pool2d_backward(g, x.shape()))).epsilon(1e-12));
  for (tg::InterpolateOptions options :
       {tg::InterpolateOptions{}, tg::InterpolateOptions{.mode = InterpolateMode::bilinear},
        tg::InterpolateOptions{.mode = InterpolateMode::bilinear, .align_corners = true}})
    CHECK(dot(tg::interpolate(x, {4, 9}, options), g) ==
          Approx(dot(x, tg::interpolate_backward(g, x.shape(), options))).epsilon(1e-12));
}

TEST_CASE("AdaptiveAvgPool2D is global average pooling as nn.AdaptiveAvgPool2d", "[layers][resample]") {
  tg::AdaptiveAvgPool2D pool(1);
  Tensor x = counting({2, 4, 3, 3}).requires_grad_();
  Tensor y = pool(x);
  CHECK(y.shape() == Shape{2, 4, 1, 1});
  y.sum().backward();
  CHECK(allclose(x.grad(), tg::full({2, 4, 3, 3}, 1.0 / 9, {.dtype = tg::kFloat64}), 1e-15, 1e-15));
  CHECK(tg::to_string(pool) == "AdaptiveAvgPool2D(output_size=1)");
  CHECK(tg::to_string(tg::AdaptiveAvgPool2D({2, 3})) == "AdaptiveAvgPool2D(output_size=(2, 3))");
}
