// SPDX-License-Identifier: MIT
#pragma once
// Learning-rate schedules, as torch.optim.lr_scheduler: each sets its optimizer's lr from
// the epoch count e, in closed form. Call step() once per epoch, after that epoch's
// optimizer steps; epoch 0 (at construction) uses the optimizer's lr as base_lr.
//   StepLR:            lr(e) = base_lr * gamma^floor(e / step_size)
//   CosineAnnealingLR: lr(e) = eta_min + (base_lr - eta_min) * (1 + cos(pi * e / T_max)) / 2
// Note: PyTorch computes the cosine recursively from the previous lr; the closed form gives the
// same values (to rounding) as long as nothing else changes the lr, and it cannot drift.
#include <cstdint>

#include "tapegrad/optim/optimizer.hpp"

namespace tg {

class LRScheduler {
 public:
  virtual ~LRScheduler() = default;

  // Advances to the next epoch and sets the optimizer's lr for it.
  void step();
  // The lr the scheduler set last (PyTorch's get_last_lr(), for a single parameter group).
  double get_last_lr() const { return last_lr_; }
  std::int64_t last_epoch() const { return last_epoch_; }
  double base_lr() const { return base_lr_; }

 protected:
  explicit LRScheduler(Optimizer& optimizer);
  // The lr at epoch `epoch` (>= 0).
  virtual double lr_at(std::int64_t epoch) const = 0;

 private:
  Optimizer& optimizer_;
  double base_lr_;
  std::int64_t last_epoch_ = 0;
  double last_lr_;
};

class StepLR : public LRScheduler {
 public:
  // Multiplies the lr by gamma every step_size epochs.
  StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma = 0.1);

 protected:
  double lr_at(std::int64_t epoch) const override;

 private:
  std::int64_t step_size_;
  double gamma_;
};

class CosineAnnealingLR : public LRScheduler {
 public:
  // Anneals the lr from base_lr down to eta_min over T_max epochs along a half cosine (and
  // back up over the next T_max, as PyTorch's does when training goes on).
  CosineAnnealingLR(Optimizer& optimizer, std::int64_t T_max, double eta_min = 0);

 protected:
  double lr_at(std::int64_t epoch) const override;

 private:
  std::int64_t T_max_;
  double eta_min_;
};

}  // namespace tg
