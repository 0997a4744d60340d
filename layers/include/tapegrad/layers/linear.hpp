// SPDX-License-Identifier: MIT
#pragma once
// Linear(in_features, out_features): y = x W^T + b, with PyTorch's default initialisation
// W, b ~ U(-1/sqrt(in_features), 1/sqrt(in_features)) (kaiming_uniform_ with a = sqrt(5)).
#include "tapegrad/generator.hpp"
#include "tapegrad/layers/module.hpp"

namespace tg {

class Linear : public Module {
 public:
  Linear(std::int64_t in_features, std::int64_t out_features, bool bias = true);
  Linear(std::int64_t in_features, std::int64_t out_features, bool bias, Generator& gen);

  Tensor forward(const Tensor& x) override;  // x: [..., in_features] -> [..., out_features]
  std::string extra_repr() const override;

  Tensor weight;  // [out_features, in_features]
  Tensor bias;    // [out_features], undefined when bias = false
};

}  // namespace tg
