// SPDX-License-Identifier: MIT
#pragma once
// The two LeNet-5 variants of examples/lenet, in one place: the example trains them and
// bench/bench_lenet.cpp times one training step of each (bench/pytorch_cases.py builds
// the same networks in PyTorch).
#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>

#include "tapegrad/tapegrad.hpp"

namespace lenet {

using ModulePtr = std::shared_ptr<tg::Module>;
// Makes the batch normalisation of `channels` channels: BatchNorm1D/2D here, SyncBatchNorm
// when the examples train data-parallel (examples/common/training.hpp, norm_maker).
using NormMaker = std::function<ModulePtr(std::int64_t channels, int dims)>;
inline ModulePtr batch_norm(std::int64_t channels, int dims) {
  if (dims == 2) return std::make_shared<tg::BatchNorm2D>(channels);
  return std::make_shared<tg::BatchNorm1D>(channels);
}

// The book's LeNet-5: sigmoid activations and average pooling, Xavier-uniform weights.
inline std::shared_ptr<tg::Sequential> classic_lenet(tg::Generator& gen) {
  auto conv1 = std::make_shared<tg::Conv2D>(1, 6, 5, 1, 2, true, gen);
  auto conv2 = std::make_shared<tg::Conv2D>(6, 16, 5, 1, 0, true, gen);
  auto fc1 = std::make_shared<tg::Linear>(400, 120, true, gen);
  auto fc2 = std::make_shared<tg::Linear>(120, 84, true, gen);
  auto fc3 = std::make_shared<tg::Linear>(84, 10, true, gen);
  for (tg::Tensor* w : {&conv1->weight, &conv2->weight, &fc1->weight, &fc2->weight, &fc3->weight})
    tg::xavier_uniform_(*w, gen);
  auto sigmoid = [] { return std::make_shared<tg::Sigmoid>(); };
  return std::make_shared<tg::Sequential>(std::initializer_list<ModulePtr>{
      conv1, sigmoid(), std::make_shared<tg::AvgPool2D>(2),                    // [N, 6, 28, 28] -> [N, 6, 14, 14]
      conv2, sigmoid(), std::make_shared<tg::AvgPool2D>(2),                    // -> [N, 16, 10, 10] -> [N, 16, 5, 5]
      std::make_shared<tg::Flatten>(), fc1, sigmoid(), fc2, sigmoid(), fc3});  // 400 -> 120 -> 84 -> 10
}

// The same shape with batch normalisation, ReLU and max pooling: trains fast with Adam.
inline std::shared_ptr<tg::Sequential> modern_lenet(tg::Generator& gen, const NormMaker& norm = batch_norm) {
  auto relu = [] { return std::make_shared<tg::ReLU>(); };
  return std::make_shared<tg::Sequential>(std::initializer_list<ModulePtr>{
      std::make_shared<tg::Conv2D>(1, 6, 5, 1, 2, true, gen), norm(6, 2), relu(), std::make_shared<tg::MaxPool2D>(2),
      std::make_shared<tg::Conv2D>(6, 16, 5, 1, 0, true, gen), norm(16, 2), relu(), std::make_shared<tg::MaxPool2D>(2),
      std::make_shared<tg::Flatten>(), std::make_shared<tg::Linear>(400, 120, true, gen), norm(120, 1), relu(),
      std::make_shared<tg::Linear>(120, 84, true, gen), norm(84, 1), relu(),
      std::make_shared<tg::Linear>(84, 10, true, gen)});
}

}  // namespace lenet
