// SPDX-License-Identifier: MIT
#include "tapegrad/layers/sequential.hpp"

#include <string>

#include "tapegrad/error.hpp"

namespace tg {

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& m : modules) push_back(m);
}

void Sequential::push_back(std::shared_ptr<Module> module) {
  if (!module) fail<ValueError>("Sequential: module {} is null; pass std::make_shared<Layer>(...)", modules_.size());
  modules_.push_back(register_module(std::to_string(modules_.size()), std::move(module)));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (const auto& m : modules_) y = (*m)(y);  // through operator(): hooks and scopes
  return y;
}

const std::shared_ptr<Module>& Sequential::operator[](std::size_t i) const {
  if (i >= modules_.size())
    fail<ValueError>("Sequential: index {} is out of range for a Sequential of {} modules; use an index below {}", i,
                     modules_.size(), modules_.size());
  return modules_[i];
}

}  // namespace tg
