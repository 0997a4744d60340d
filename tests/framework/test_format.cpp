// SPDX-License-Identifier: MIT
// Printing: tg::to_string and fmt give PyTorch's printed form, character for character.
//
// Every expected string below was printed by torch 1.13 (Debian's python3-torch) with
// default print options, e.g.
//   /usr/bin/python3 -c "import torch; print(repr(repr(torch.tensor([[19., 25.], [37., 43.]]))))"
// The only intended difference: tapegrad says dtype=tg.float64 where torch says dtype=torch.float64.
#include <limits>

#include "test_util.hpp"

using tg::Tensor;

namespace {

std::string str(const Tensor& t) { return tg::to_string(t); }

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

}  // namespace

TEST_CASE("integer-valued tensors print with a trailing dot", "[format]") {
  CHECK(str(Tensor{{19, 25}, {37, 43}}) == "tensor([[19., 25.],\n        [37., 43.]])");
  CHECK(fmt::format("{}", Tensor{{19, 25}, {37, 43}}) == "tensor([[19., 25.],\n        [37., 43.]])");
  CHECK(str(tg::zeros({2, 3})) == "tensor([[0., 0., 0.],\n        [0., 0., 0.]])");
  CHECK(str(Tensor{-1, 2, -300}) == "tensor([  -1.,    2., -300.])");
  CHECK(str(Tensor{-0.0, 0.0}) == "tensor([-0., 0.])");
}

TEST_CASE("non-integer tensors print 4 decimals, padded to one width", "[format]") {
  CHECK(str(Tensor{{0.5, 1.25}, {3.14159, -2.71828}}) == "tensor([[ 0.5000,  1.2500],\n        [ 3.1416, -2.7183]])");
  CHECK(str(Tensor{{1.5, -22.25, 3.0}, {-4.125, 100.5, -0.75}}) ==
        "tensor([[  1.5000, -22.2500,   3.0000],\n        [ -4.1250, 100.5000,  -0.7500]])");
}

TEST_CASE("scientific notation for a large ratio, large values or tiny values", "[format]") {
  CHECK(str(Tensor{1.0, 12345.0, 0.5}) == "tensor([1.0000e+00, 1.2345e+04, 5.0000e-01])");
  CHECK(str(Tensor{1e-5, 2e-5, 3.5e-6}) == "tensor([1.0000e-05, 2.0000e-05, 3.5000e-06])");
  CHECK(str(Tensor{1e9, 2.0}) == "tensor([1.0000e+09, 2.0000e+00])");
  CHECK(str(Tensor{1e10}) == "tensor([1.0000e+10])");
  CHECK(str(Tensor{123456.7, 0.1}) == "tensor([1.2346e+05, 1.0000e-01])");
  // 0.0001 is 9.99999975e-05 in float32, just below the 1e-4 limit.
  CHECK(str(Tensor{0.0001, 0.5}) == "tensor([1.0000e-04, 5.0000e-01])");
}

TEST_CASE("0-d tensors print without brackets", "[format]") {
  CHECK(str(tg::scalar(3.5)) == "tensor(3.5000)");
  CHECK(str(tg::scalar(7)) == "tensor(7.)");
  CHECK(str(tg::scalar(kNan)) == "tensor(nan)");
  CHECK(str(tg::scalar(-0.25, {.requires_grad = true})) == "tensor(-0.2500, requires_grad=True)");
}

TEST_CASE("empty tensors print [] and their size unless it is (0,)", "[format]") {
  CHECK(str(tg::zeros({0})) == "tensor([])");
  CHECK(str(tg::zeros({0, 3})) == "tensor([], size=(0, 3))");
  CHECK(str(tg::zeros({2, 0, 2})) == "tensor([], size=(2, 0, 2))");
  CHECK(str(tg::zeros({0, 3}, {.dtype = tg::kFloat64})) == "tensor([], size=(0, 3), dtype=tg.float64)");
}

TEST_CASE("3-D and 4-D tensors separate blocks with blank lines", "[format]") {
  CHECK(str(tg::arange(12).reshape({2, 2, 3})) ==
        "tensor([[[ 0.,  1.,  2.],\n         [ 3.,  4.,  5.]],\n\n        [[ 6.,  7.,  8.],\n         [ 9., 10., "
        "11.]]])");
  CHECK(str(tg::arange(12).reshape({1, 2, 2, 3})) ==
        "tensor([[[[ 0.,  1.,  2.],\n          [ 3.,  4.,  5.]],\n\n         [[ 6.,  7.,  8.],\n          [ 9., 10., "
        "11.]]]])");
}

TEST_CASE("long rows wrap at 80 columns", "[format]") {
  CHECK(str(tg::arange(30) * 1.5) ==
        "tensor([ 0.0000,  1.5000,  3.0000,  4.5000,  6.0000,  7.5000,  9.0000, 10.5000,\n"
        "        12.0000, 13.5000, 15.0000, 16.5000, 18.0000, 19.5000, 21.0000, 22.5000,\n"
        "        24.0000, 25.5000, 27.0000, 28.5000, 30.0000, 31.5000, 33.0000, 34.5000,\n"
        "        36.0000, 37.5000, 39.0000, 40.5000, 42.0000, 43.5000])");
  CHECK(str(tg::arange(100).reshape({4, 25})) ==
        "tensor([[ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n"
        "         14., 15., 16., 17., 18., 19., 20., 21., 22., 23., 24.],\n"
        "        [25., 26., 27., 28., 29., 30., 31., 32., 33., 34., 35., 36., 37., 38.,\n"
        "         39., 40., 41., 42., 43., 44., 45., 46., 47., 48., 49.],\n"
        "        [50., 51., 52., 53., 54., 55., 56., 57., 58., 59., 60., 61., 62., 63.,\n"
        "         64., 65., 66., 67., 68., 69., 70., 71., 72., 73., 74.],\n"
        "        [75., 76., 77., 78., 79., 80., 81., 82., 83., 84., 85., 86., 87., 88.,\n"
        "         89., 90., 91., 92., 93., 94., 95., 96., 97., 98., 99.]])");
}

TEST_CASE("more than 1000 elements are summarised with ...", "[format]") {
  CHECK(str(tg::arange(1001)) == "tensor([   0.,    1.,    2.,  ...,  998.,  999., 1000.])");
  CHECK(str(tg::arange(1000)).find("...") == std::string::npos);  // 1000 is not more than 1000
  // The format is chosen from the shown elements only: 0..49 and 1950..1999 span > 1000x.
  CHECK(str(tg::arange(2000).reshape({40, 50})) ==
        "tensor([[0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 4.7000e+01, 4.8000e+01,\n"
        "         4.9000e+01],\n"
        "        [5.0000e+01, 5.1000e+01, 5.2000e+01,  ..., 9.7000e+01, 9.8000e+01,\n"
        "         9.9000e+01],\n"
        "        [1.0000e+02, 1.0100e+02, 1.0200e+02,  ..., 1.4700e+02, 1.4800e+02,\n"
        "         1.4900e+02],\n"
        "        ...,\n"
        "        [1.8500e+03, 1.8510e+03, 1.8520e+03,  ..., 1.8970e+03, 1.8980e+03,\n"
        "         1.8990e+03],\n"
        "        [1.9000e+03, 1.9010e+03, 1.9020e+03,  ..., 1.9470e+03, 1.9480e+03,\n"
        "         1.9490e+03],\n"
        "        [1.9500e+03, 1.9510e+03, 1.9520e+03,  ..., 1.9970e+03, 1.9980e+03,\n"
        "         1.9990e+03]])");
}

TEST_CASE("a summarised 3-D tensor elides rows and blocks", "[format]") {
  // torch: torch.arange(3000.).reshape(10, 15, 20) / 7 + 1
  CHECK(str(tg::arange(3000).reshape({10, 15, 20}) / 7.0 + 1.0) ==
        "tensor([[[  1.0000,   1.1429,   1.2857,  ...,   3.4286,   3.5714,   3.7143],\n"
        "         [  3.8571,   4.0000,   4.1429,  ...,   6.2857,   6.4286,   6.5714],\n"
        "         [  6.7143,   6.8571,   7.0000,  ...,   9.1429,   9.2857,   9.4286],\n"
        "         ...,\n"
        "         [ 35.2857,  35.4286,  35.5714,  ...,  37.7143,  37.8571,  38.0000],\n"
        "         [ 38.1429,  38.2857,  38.4286,  ...,  40.5714,  40.7143,  40.8571],\n"
        "         [ 41.0000,  41.1429,  41.2857,  ...,  43.4286,  43.5714,  43.7143]],\n"
        "\n"
        "        [[ 43.8571,  44.0000,  44.1429,  ...,  46.2857,  46.4286,  46.5714],\n"
        "         [ 46.7143,  46.8571,  47.0000,  ...,  49.1429,  49.2857,  49.4286],\n"
        "         [ 49.5714,  49.7143,  49.8571,  ...,  52.0000,  52.1429,  52.2857],\n"
        "         ...,\n"
        "         [ 78.1429,  78.2857,  78.4286,  ...,  80.5714,  80.7143,  80.8571],\n"
        "         [ 81.0000,  81.1429,  81.2857,  ...,  83.4286,  83.5714,  83.7143],\n"
        "         [ 83.8571,  84.0000,  84.1429,  ...,  86.2857,  86.4286,  86.5714]],\n"
        "\n"
        "        [[ 86.7143,  86.8571,  87.0000,  ...,  89.1429,  89.2857,  89.4286],\n"
        "         [ 89.5714,  89.7143,  89.8571,  ...,  92.0000,  92.1429,  92.2857],\n"
        "         [ 92.4286,  92.5714,  92.7143,  ...,  94.8571,  95.0000,  95.1429],\n"
        "         ...,\n"
        "         [121.0000, 121.1429, 121.2857,  ..., 123.4286, 123.5714, 123.7143],\n"
        "         [123.8571, 124.0000, 124.1429,  ..., 126.2857, 126.4286, 126.5714],\n"
        "         [126.7143, 126.8571, 127.0000,  ..., 129.1429, 129.2857, 129.4286]],\n"
        "\n"
        "        ...,\n"
        "\n"
        "        [[301.0000, 301.1429, 301.2857,  ..., 303.4286, 303.5714, 303.7143],\n"
        "         [303.8571, 304.0000, 304.1429,  ..., 306.2857, 306.4286, 306.5714],\n"
        "         [306.7143, 306.8571, 307.0000,  ..., 309.1429, 309.2857, 309.4286],\n"
        "         ...,\n"
        "         [335.2857, 335.4286, 335.5714,  ..., 337.7143, 337.8571, 338.0000],\n"
        "         [338.1429, 338.2857, 338.4286,  ..., 340.5714, 340.7143, 340.8571],\n"
        "         [341.0000, 341.1429, 341.2857,  ..., 343.4286, 343.5714, 343.7143]],\n"
        "\n"
        "        [[343.8571, 344.0000, 344.1429,  ..., 346.2857, 346.4286, 346.5714],\n"
        "         [346.7143, 346.8571, 347.0000,  ..., 349.1429, 349.2857, 349.4286],\n"
        "         [349.5714, 349.7143, 349.8571,  ..., 352.0000, 352.1429, 352.2857],\n"
        "         ...,\n"
        "         [378.1429, 378.2857, 378.4286,  ..., 380.5714, 380.7143, 380.8571],\n"
        "         [381.0000, 381.1429, 381.2857,  ..., 383.4286, 383.5714, 383.7143],\n"
        "         [383.8571, 384.0000, 384.1429,  ..., 386.2857, 386.4286, 386.5714]],\n"
        "\n"
        "        [[386.7143, 386.8571, 387.0000,  ..., 389.1429, 389.2857, 389.4286],\n"
        "         [389.5714, 389.7143, 389.8571,  ..., 392.0000, 392.1429, 392.2857],\n"
        "         [392.4286, 392.5714, 392.7143,  ..., 394.8571, 395.0000, 395.1429],\n"
        "         ...,\n"
        "         [421.0000, 421.1429, 421.2857,  ..., 423.4286, 423.5714, 423.7143],\n"
        "         [423.8571, 424.0000, 424.1429,  ..., 426.2857, 426.4286, 426.5714],\n"
        "         [426.7143, 426.8571, 427.0000,  ..., 429.1429, 429.2857, 429.4286]]])");
}

TEST_CASE("requires_grad and grad_fn suffixes", "[format]") {
  Tensor x = Tensor{1, 2, 3}.requires_grad_();
  CHECK(str(x) == "tensor([1., 2., 3.], requires_grad=True)");
  CHECK(str(x * Tensor{2, 2, 2}) == "tensor([2., 4., 6.], grad_fn=<MulBackward0>)");
  CHECK(str(x.sum()) == "tensor(6., grad_fn=<SumBackward0>)");
  CHECK(str((x - 1.0).exp()) == "tensor([1.0000, 2.7183, 7.3891], grad_fn=<ExpBackward0>)");
  CHECK(str(x.detach()) == "tensor([1., 2., 3.])");
  // A suffix that does not fit on the last line goes on its own line.
  Tensor long_x = tg::arange(30, {.requires_grad = true});
  CHECK(str(long_x * 1.5) ==
        "tensor([ 0.0000,  1.5000,  3.0000,  4.5000,  6.0000,  7.5000,  9.0000, 10.5000,\n"
        "        12.0000, 13.5000, 15.0000, 16.5000, 18.0000, 19.5000, 21.0000, 22.5000,\n"
        "        24.0000, 25.5000, 27.0000, 28.5000, 30.0000, 31.5000, 33.0000, 34.5000,\n"
        "        36.0000, 37.5000, 39.0000, 40.5000, 42.0000, 43.5000],\n"
        "       grad_fn=<MulBackward0>)");
}

TEST_CASE("nan and inf print as words and do not set the width", "[format]") {
  CHECK(str(Tensor{1.0, kNan, kInf, -kInf, 2.5}) == "tensor([1.0000,    nan,    inf,   -inf, 2.5000])");
  CHECK(str(Tensor{1.0, kNan, kInf, -2.0}) == "tensor([ 1., nan, inf, -2.])");
  CHECK(str(Tensor{kNan, 1.0}) == "tensor([nan, 1.])");
  CHECK(str(Tensor{-kInf, 1.0}) == "tensor([-inf, 1.])");
  CHECK(str(Tensor{kNan, kInf}) == "tensor([nan, inf])");
  CHECK(str(Tensor{{1e-5, 1.0}, {kNan, -3.0}}) ==
        "tensor([[ 1.0000e-05,  1.0000e+00],\n        [        nan, -3.0000e+00]])");
}

TEST_CASE("float64 tensors carry a dtype suffix", "[format]") {
  Tensor d{{1.0, 2.5}, {3.0, 4.0}};
  CHECK(str(d.to(tg::kFloat64)) == "tensor([[1.0000, 2.5000],\n        [3.0000, 4.0000]], dtype=tg.float64)");
  CHECK(str(tg::full({3}, 0.5, {.dtype = tg::kFloat64})) == "tensor([0.5000, 0.5000, 0.5000], dtype=tg.float64)");
  Tensor r = d.to(tg::kFloat64).detach().requires_grad_();
  CHECK(str(r) == "tensor([[1.0000, 2.5000],\n        [3.0000, 4.0000]], dtype=tg.float64, requires_grad=True)");
  Tensor h = tg::from_vector({0.5, 1.5}, {2}, {.dtype = tg::kFloat64, .requires_grad = true});
  CHECK(str(h * 2.0) == "tensor([1., 3.], dtype=tg.float64, grad_fn=<MulBackward0>)");
  CHECK(str(tg::from_vector({1e10, 1.5}, {1, 2}, {.dtype = tg::kFloat64})) ==
        "tensor([[1.0000e+10, 1.5000e+00]], dtype=tg.float64)");
}
