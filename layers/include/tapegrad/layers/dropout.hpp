// SPDX-License-Identifier: MIT
#pragma once
// Dropout(p): in training mode zeroes each element with probability p and scales the rest
// by 1 / (1 - p) (tg::dropout); in eval mode it passes x through unchanged.
#include "tapegrad/generator.hpp"
#include "tapegrad/layers/module.hpp"

namespace tg {

class Dropout : public Module {
 public:
  // p in [0, 1]; the masks are drawn from `gen`, which must outlive the layer.
  explicit Dropout(double p = 0.5, Generator& gen = default_generator());

  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  double p() const { return p_; }

 private:
  double p_;
  Generator* gen_;
};

}  // namespace tg
