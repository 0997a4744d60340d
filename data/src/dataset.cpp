// SPDX-License-Identifier: MIT
#include "tapegrad/data/dataset.hpp"

#include "tapegrad/error.hpp"

namespace tg {

const Tensor& Batch::at(std::size_t i, const char* op) const {
  if (i >= tensors_.size())
    fail<ValueError>("{}: index {} is out of range for a batch of {} tensors; use an index below {}", op, i,
                     tensors_.size(), tensors_.size());
  return tensors_[i];
}

void Batch::check_size(std::size_t n) const {
  if (n != tensors_.size())
    fail<ValueError>("Batch::unpack: the batch has {} tensors, not {}; unpack<{}>() it", tensors_.size(), n,
                     tensors_.size());
}

}  // namespace tg
