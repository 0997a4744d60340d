#pragma once
// Weight initialisers, as torch.nn.init: each fills a tensor in place (under NoGradGuard, so
// parameters that require grad can be filled) from `gen`, and returns it.
//
// fan_in and fan_out follow PyTorch: for a weight [out, in, k1, k2, ...] the receptive field
// is k1 * k2 * ... (1 for a 2-D Linear weight [out, in]), and
//   fan_in = in * receptive field,   fan_out = out * receptive field
// so a conv weight [O, C, kh, kw] has fan_in = C kh kw and fan_out = O kh kw.
#include <cstdint>

#include "tapegrad/generator.hpp"
#include "tapegrad/tensor.hpp"

namespace tg {

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
