// SPDX-License-Identifier: MIT
#include "tapegrad/optim/clip.hpp"

#include <cmath>

#include "tapegrad/error.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

Tensor clip_grad_norm_(std::span<const Tensor> parameters, double max_norm, double norm_type, bool error_if_nonfinite) {
  if (!(max_norm >= 0)) fail<ValueError>("clip_grad_norm_: max_norm must be >= 0, got {}", max_norm);
  const bool inf_norm = std::isinf(norm_type) && norm_type > 0;
  if (!inf_norm && !(norm_type > 0))
    fail<ValueError>("clip_grad_norm_: norm_type must be > 0 (2, 1, or infinity), got {}", norm_type);
  NoGradGuard no_grad;
  double total = 0;  // the norm's sum of powers, or the largest magnitude for infinity
  for (const Tensor& p : parameters) {
    if (!p.defined() || !p.grad().defined()) continue;
    const Tensor& g = p.grad();
    if (g.numel() == 0) continue;
    if (inf_norm) {
      const double a = abs(g).max().item<double>();
      total = std::isnan(a) || a > total ? a : total;
    } else {
      total += (norm_type == 2 ? square(g) : pow(abs(g), norm_type)).to(kFloat64).sum().item<double>();
    }
  }
  const double norm = inf_norm ? total : std::pow(total, 1 / norm_type);
  if (error_if_nonfinite && !std::isfinite(norm))
    fail<ValueError>(
        "clip_grad_norm_: the total norm of the gradients is {}; a gradient holds NaN or infinity. Find where with "
        "tg::AnomalyMode, or pass error_if_nonfinite = false to scale anyway",
        norm);
  const double scale = max_norm / (norm + 1e-6);  // as PyTorch: clip_coef = max_norm / (total_norm + 1e-6)
  if (scale < 1 || std::isnan(scale))
    for (const Tensor& p : parameters)
      if (p.defined() && p.grad().defined()) p.grad().mul_(scale);
  return scalar(norm);
}

void clip_grad_value_(std::span<const Tensor> parameters, double clip_value) {
  if (!(clip_value >= 0)) fail<ValueError>("clip_grad_value_: clip_value must be >= 0, got {}", clip_value);
  NoGradGuard no_grad;
  for (const Tensor& p : parameters) {
    if (!p.defined() || !p.grad().defined()) continue;
    Tensor g = p.grad();
    g.copy_(clamp(g, -clip_value, clip_value));
  }
}

}  // namespace tg
