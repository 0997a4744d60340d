#include "tapegrad/layers/conv2d.hpp"

#include "tapegrad/error.hpp"
#include "tapegrad/ops.hpp"

namespace tg {

Conv2D::Conv2D(const Shape& kernel_size) : Conv2D(kernel_size, default_generator()) {}

Conv2D::Conv2D(const Shape& kernel_size, Generator& gen) {
  if (kernel_size.rank() != 2 || kernel_size.numel() == 0)
    fail<ShapeError>("Conv2D: kernel_size must be two positive sizes [kh, kw], got {}", kernel_size);
  weight = register_parameter("weight", randn(kernel_size, gen));
  bias = register_parameter("bias", randn({1}, gen));
}

Tensor Conv2D::forward(const Tensor& x) { return corr2d(x, weight) + bias; }

}  // namespace tg
