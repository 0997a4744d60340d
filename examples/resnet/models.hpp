// SPDX-License-Identifier: MIT
#pragma once
// ResNet-18 as in the "Residual Networks (ResNet)" chapter, for Fashion-MNIST's 1-channel
// images, under the names PyTorch's twin (bench/pytorch_cases.py) gives its parameters:
//   0: stem   conv 7x7 stride 2 padding 3 (64), batch norm, ReLU, max pool 3 stride 2 padding 1
//   1..4:     four stages of two residual blocks (64, 128, 256, 512 channels); the first block
//             of stages 2..4 halves the size (stride 2) and projects its shortcut (1x1 conv)
//   5..7:     global average pooling, flatten, linear 512 -> 10
// resnet18() keeps PyTorch's default initialisation of each layer, as the benchmark's PyTorch
// twin does; book_init() then gives it the book's (d2l's train_ch6 draws every convolution's
// and linear layer's weight Xavier-uniform, and keeps the biases' defaults).
#include <cstdint>
#include <functional>
#include <memory>

#include "tapegrad/tapegrad.hpp"

namespace resnet {

// Makes the batch normalisation of `channels` channels: BatchNorm2D here, SyncBatchNorm when
// the example trains data-parallel (examples/common/training.hpp, norm_maker).
using NormMaker = std::function<std::shared_ptr<tg::Module>(std::int64_t channels)>;
inline std::shared_ptr<tg::Module> batch_norm(std::int64_t channels) {
  return std::make_shared<tg::BatchNorm2D>(channels);
}

// The book's Residual: y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), where the
// shortcut is x itself, or conv3(x) (1x1, same stride) when the shape changes.
class Residual : public tg::Module {
 public:
  Residual(std::int64_t in_channels, std::int64_t channels, bool use_1x1conv, std::int64_t stride, tg::Generator& gen,
           const NormMaker& norm = batch_norm)
      : conv1(register_module("conv1", std::make_shared<tg::Conv2D>(in_channels, channels, 3, stride, 1, true, gen))),
        conv2(register_module("conv2", std::make_shared<tg::Conv2D>(channels, channels, 3, 1, 1, true, gen))),
        conv3(use_1x1conv ? register_module(
                                "conv3", std::make_shared<tg::Conv2D>(in_channels, channels, 1, stride, 0, true, gen))
                          : nullptr),
        bn1(register_module("bn1", norm(channels))),
        bn2(register_module("bn2", norm(channels))) {}

  tg::Tensor forward(const tg::Tensor& x) override {
    tg::Tensor y = tg::relu((*bn1)((*conv1)(x)));
    y = (*bn2)((*conv2)(y));
    return tg::relu(y + (conv3 ? (*conv3)(x) : x));
  }

  std::shared_ptr<tg::Conv2D> conv1, conv2, conv3;
  std::shared_ptr<tg::Module> bn1, bn2;
};

// A stage: num_residuals blocks of `channels`; the first halves the size unless it is the
// first stage (which follows the stem's max pooling at the same width).
inline std::shared_ptr<tg::Sequential> stage(std::int64_t in_channels, std::int64_t channels, int num_residuals,
                                             bool first_stage, tg::Generator& gen, const NormMaker& norm) {
  auto blocks = std::make_shared<tg::Sequential>();
  for (int i = 0; i < num_residuals; ++i) {
    if (i == 0 && !first_stage)
      blocks->push_back(std::make_shared<Residual>(in_channels, channels, true, 2, gen, norm));
    else
      blocks->push_back(std::make_shared<Residual>(channels, channels, false, 1, gen, norm));
  }
  return blocks;
}

// x [N, 1, H, W] (H, W >= 28 or so) -> logits [N, 10].
inline std::shared_ptr<tg::Sequential> resnet18(tg::Generator& gen, std::int64_t classes = 10,
                                                const NormMaker& norm = batch_norm) {
  auto stem = std::make_shared<tg::Sequential>(
      std::make_shared<tg::Conv2D>(1, 64, 7, 2, 3, true, gen), norm(64), std::make_shared<tg::ReLU>(),
      std::make_shared<tg::MaxPool2D>(3, tg::MaxPool2D::Options{.stride = 2, .padding = 1}));
  return std::make_shared<tg::Sequential>(stem, stage(64, 64, 2, true, gen, norm), stage(64, 128, 2, false, gen, norm),
                                          stage(128, 256, 2, false, gen, norm), stage(256, 512, 2, false, gen, norm),
                                          std::make_shared<tg::AdaptiveAvgPool2D>(1), std::make_shared<tg::Flatten>(),
                                          std::make_shared<tg::Linear>(512, classes, true, gen));
}

// The book's initialisation (train_ch6's init_weights): Xavier-uniform weights for every
// Conv2D and Linear of `net`, in the order of its modules.
inline void book_init(tg::Module& net, tg::Generator& gen) {
  net.apply([&gen](tg::Module& m) {
    if (auto* conv = dynamic_cast<tg::Conv2D*>(&m))
      tg::xavier_uniform_(conv->weight, gen);
    else if (auto* linear = dynamic_cast<tg::Linear*>(&m))
      tg::xavier_uniform_(linear->weight, gen);
  });
}

}  // namespace resnet
