// SPDX-License-Identifier: MIT
#pragma once
// BatchNorm1D and BatchNorm2D, as nn.BatchNorm1d and nn.BatchNorm2d: tg::batch_norm with
// learnt per-channel weight and bias and running statistics kept as buffers.
//   training (is_training()): normalise with the batch statistics, update the running ones
//                             and count the step in num_batches_tracked;
//   eval:                     normalise with the running statistics.
// state_dict names are PyTorch's: weight, bias, running_mean, running_var, num_batches_tracked.
#include <cstdint>

#include "tapegrad/layers/module.hpp"

namespace tg {

// What the two layers share; they differ only in the input ranks they accept.
class BatchNorm : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  Tensor weight;               // [C], ones; undefined when affine = false
  Tensor bias;                 // [C], zeros; undefined when affine = false
  Tensor running_mean;         // [C] buffer, zeros
  Tensor running_var;          // [C] buffer, ones
  Tensor num_batches_tracked;  // 0-d int64 buffer: the number of training-mode forward passes
  double eps, momentum;

 protected:
  BatchNorm(const char* layer, std::int64_t num_features, double eps, double momentum, bool affine);
  // Throws ShapeError unless x has a rank this layer accepts.
  virtual void check_input(const Tensor& x) const = 0;
  const char* layer_;
};

// Over x [N, C] or [N, C, L]: statistics per feature C.
class BatchNorm1D : public BatchNorm {
 public:
  explicit BatchNorm1D(std::int64_t num_features, double eps = 1e-5, double momentum = 0.1, bool affine = true);

 protected:
  void check_input(const Tensor& x) const override;
};

// Over x [N, C, H, W]: statistics per channel C, over N, H and W.
class BatchNorm2D : public BatchNorm {
 public:
  explicit BatchNorm2D(std::int64_t num_features, double eps = 1e-5, double momentum = 0.1, bool affine = true);

 protected:
  void check_input(const Tensor& x) const override;
};

}  // namespace tg
