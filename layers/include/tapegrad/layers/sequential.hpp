// SPDX-License-Identifier: MIT
#pragma once
// Sequential: a chain of modules applied in order, as nn.Sequential. The children are
// registered under "0", "1", ..., so parameters and buffers get PyTorch's names
// ("0.weight", "3.running_mean") and checkpoints load into either framework.
//   tg::Sequential net{std::make_shared<tg::Linear>(4, 3), std::make_shared<tg::ReLU>()};
//   auto net = std::make_shared<tg::Sequential>(std::make_shared<tg::Linear>(4, 3),
//                                               std::make_shared<tg::ReLU>());
// (make_shared forwards its arguments in parentheses and cannot forward a brace list, so the
// second form takes the modules as separate arguments.)
#include <concepts>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <utility>
#include <vector>

#include "tapegrad/layers/module.hpp"

namespace tg {

class Sequential : public Module {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
  // The modules as separate arguments, of any Module types: Sequential(linear, relu), and so
  // std::make_shared<Sequential>(linear, relu). Only shared_ptrs to Modules match, so copies
  // and brace lists still go to the constructors above.
  template <class... M>
  requires(sizeof...(M) > 0 &&
           (std::derived_from<M, Module> && ...)) explicit Sequential(std::shared_ptr<M>... modules) {
    (push_back(std::move(modules)), ...);
  }

  // Appends `module` as child number size(); throws ValueError if it is null.
  void push_back(std::shared_ptr<Module> module);

  // x through every module in order; an empty Sequential returns x.
  Tensor forward(const Tensor& x) override;

  std::size_t size() const { return modules_.size(); }
  // The i-th module; throws ValueError if i >= size().
  const std::shared_ptr<Module>& operator[](std::size_t i) const;

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

}  // namespace tg
