// SPDX-License-Identifier: MIT
#include "tapegrad/optim/lr_scheduler.hpp"

#include <cmath>
#include <numbers>

#include "tapegrad/error.hpp"

namespace tg {

LRScheduler::LRScheduler(Optimizer& optimizer)
    : optimizer_(optimizer), base_lr_(optimizer.lr()), last_lr_(optimizer.lr()) {}

void LRScheduler::step() {
  const double lr = lr_at(last_epoch_ + 1);
  optimizer_.set_lr(lr);  // validates first, so a bad lr leaves the epoch count as it was
  ++last_epoch_;
  last_lr_ = lr;
}

StepLR::StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma)
    : LRScheduler(optimizer), step_size_(step_size), gamma_(gamma) {
  if (step_size < 1) fail<ValueError>("StepLR: invalid step_size {}; it must be >= 1 (epochs)", step_size);
  if (!(gamma >= 0) || !std::isfinite(gamma))
    fail<ValueError>("StepLR: invalid gamma {}; it must be finite and >= 0", gamma);
}

double StepLR::lr_at(std::int64_t epoch) const {
  return base_lr() * std::pow(gamma_, static_cast<double>(epoch / step_size_));
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, std::int64_t T_max, double eta_min)
    : LRScheduler(optimizer), T_max_(T_max), eta_min_(eta_min) {
  if (T_max < 1) fail<ValueError>("CosineAnnealingLR: invalid T_max {}; it must be >= 1 (epochs)", T_max);
  if (!(eta_min >= 0) || !std::isfinite(eta_min))
    fail<ValueError>("CosineAnnealingLR: invalid eta_min {}; it must be finite and >= 0", eta_min);
}

double CosineAnnealingLR::lr_at(std::int64_t epoch) const {
  const double phase = std::numbers::pi * static_cast<double>(epoch) / static_cast<double>(T_max_);
  return eta_min_ + (base_lr() - eta_min_) * (1 + std::cos(phase)) / 2;
}

}  // namespace tg
