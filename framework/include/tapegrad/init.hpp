// SPDX-License-Identifier: MIT
#pragma once
// Weight initialisers, as torch.nn.init: each fills a tensor in place (under NoGradGuard, so
// parameters that require grad can be filled), drawing from `gen` if it is random, and
// returns it. A layer's parameters are filled directly:
//   tg::zeros_(linear.bias);
//   tg::normal_(linear.weight, 0, 0.02);
// and a whole model's through Module::apply (layers/module.hpp).
//
// fan_in and fan_out follow PyTorch: for a weight [out, in, k1, k2, ...] the receptive field
// is k1 * k2 * ... (1 for a 2-D Linear weight [out, in]), and
//   fan_in = in * receptive field,   fan_out = out * receptive field
// so a conv weight [O, C, kh, kw] has fan_in = C kh kw and fan_out = O kh kw.
#include <cstdint>

#include "tapegrad/generator.hpp"
#include "tapegrad/scalar.hpp"
#include "tapegrad/tensor.hpp"

namespace tg {

// The plain fills, as torch.nn.init.normal_, uniform_, zeros_, ones_ and constant_.
// normal_ draws N(mean, std^2) and uniform_ U(a, b), both into a float32 or float64 tensor
// (the draws are made in float64 and rounded to the tensor's dtype, so a float32 uniform_
// value may round up to b). std = 0 fills with mean, a = b with a.
// Errors: an undefined tensor is a ValueError, a tensor that is not float32 or float64 a
// DtypeError, std < 0, a > b or a value that is not finite a ValueError; the tensor is then
// left unchanged.
Tensor& normal_(Tensor& t, double mean = 0, double std = 1, Generator& gen = default_generator());
Tensor& uniform_(Tensor& t, double a = 0, double b = 1, Generator& gen = default_generator());
// The constant fills take a tensor of any dtype; the value is converted as fill_ does.
Tensor& zeros_(Tensor& t);
Tensor& ones_(Tensor& t);
Tensor& constant_(Tensor& t, Scalar value);

struct Fans {
  std::int64_t fan_in, fan_out;
};

// Throws ShapeError for tensors with fewer than 2 dims, which have no fan.
Fans fan_in_and_fan_out(const Tensor& t);

// Which fan kaiming_ initialisers scale by: fan_in keeps the forward pass's variance,
// fan_out the backward pass's.
enum class FanMode { FanIn, FanOut };

// Glorot & Bengio (2010): std = gain * sqrt(2 / (fan_in + fan_out)).
// xavier_uniform_ draws U(-sqrt(3) std, sqrt(3) std), xavier_normal_ draws N(0, std^2).
Tensor& xavier_uniform_(Tensor& t, Generator& gen, double gain = 1);
Tensor& xavier_normal_(Tensor& t, Generator& gen, double gain = 1);

// He et al. (2015) for (leaky) ReLU with negative slope a: gain = sqrt(2 / (1 + a^2)) and
// std = gain / sqrt(fan). kaiming_uniform_ draws U(-sqrt(3) std, sqrt(3) std),
// kaiming_normal_ draws N(0, std^2).
Tensor& kaiming_uniform_(Tensor& t, Generator& gen, double a = 0, FanMode mode = FanMode::FanIn);
Tensor& kaiming_normal_(Tensor& t, Generator& gen, double a = 0, FanMode mode = FanMode::FanIn);

}  // namespace tg
