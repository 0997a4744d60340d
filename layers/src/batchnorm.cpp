// SPDX-License-Identifier: MIT
#include "tapegrad/layers/batchnorm.hpp"

#include <fmt/format.h>

#include "tapegrad/error.hpp"
#include "tapegrad/ops/normalization.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

BatchNorm::BatchNorm(const char* layer, std::int64_t num_features, double eps, double momentum, bool affine)
    : eps(eps), momentum(momentum), layer_(layer) {
  if (num_features <= 0)
    fail<ValueError>("{}: num_features must be positive, got {}; pass the number of channels C", layer, num_features);
  if (!(eps >= 0)) fail<ValueError>("{}: eps must be non-negative, got {}; the default is 1e-5", layer, eps);
  if (!(momentum >= 0 && momentum <= 1))
    fail<ValueError>("{}: momentum must lie in [0, 1], got {}; the default is 0.1", layer, momentum);
  if (affine) {
    weight = register_parameter("weight", ones({num_features}));
    bias = register_parameter("bias", zeros({num_features}));
  }
  running_mean = register_buffer("running_mean", zeros({num_features}));
  running_var = register_buffer("running_var", ones({num_features}));
  num_batches_tracked = register_buffer("num_batches_tracked", scalar(0, {.dtype = kInt64}));
}

Tensor BatchNorm::forward(const Tensor& x) {
  check_input(x);
  if (x.size(1) != running_mean.size(0))
    fail<ShapeError>("{}: input {} has {} channels (dim 1) but the layer was built for num_features = {}", layer_,
                     x.shape(), x.size(1), running_mean.size(0));
  Tensor y = batch_norm(x, running_mean, running_var, weight, bias, is_training(), momentum, eps);
  if (is_training()) {
    NoGradGuard no_grad;
    num_batches_tracked += 1;
  }
  return y;
}

BatchNorm1D::BatchNorm1D(std::int64_t num_features, double eps, double momentum, bool affine)
    : BatchNorm("BatchNorm1D", num_features, eps, momentum, affine) {}

void BatchNorm1D::check_input(const Tensor& x) const {
  if (x.dim() != 2 && x.dim() != 3)
    fail<ShapeError>(
        "BatchNorm1D: expected a 2-D [N, C] or 3-D [N, C, L] input, got shape {} (use BatchNorm2D "
        "for [N, C, H, W] images)",
        x.shape());
}

BatchNorm2D::BatchNorm2D(std::int64_t num_features, double eps, double momentum, bool affine)
    : BatchNorm("BatchNorm2D", num_features, eps, momentum, affine) {}

void BatchNorm2D::check_input(const Tensor& x) const {
  if (x.dim() != 4)
    fail<ShapeError>("BatchNorm2D: expected a 4-D [N, C, H, W] input, got shape {} (use BatchNorm1D for [N, C])",
                     x.shape());
}

std::string BatchNorm::extra_repr() const {
  return fmt::format("{}, eps={}, momentum={}, affine={}, track_running_stats=True", running_mean.size(0), eps,
                     momentum, weight.defined() ? "True" : "False");
}

}  // namespace tg
