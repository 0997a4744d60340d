#pragma once
// Sequential: a chain of modules applied in order, as nn.Sequential. The children are
// registered under "0", "1", ..., so parameters and buffers get PyTorch's names
// ("0.weight", "3.running_mean") and checkpoints load into either framework.
//   tg::Sequential net{std::make_shared<tg::Linear>(4, 3), std::make_shared<tg::ReLU>()};
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <vector>

#include "tapegrad/layers/module.hpp"

namespace tg {

class Sequential : public Module {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);

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
