#include "tapegrad/layers/pooling.hpp"

namespace tg {

namespace {

// kernel_size x kernel_size windows moved by `stride` (default: kernel_size), `padding` on every side.
Pool2dOptions square_windows(std::int64_t kernel_size, std::optional<std::int64_t> stride, std::int64_t padding) {
  std::int64_t s = stride.value_or(kernel_size);
  return {.kernel_size = {kernel_size, kernel_size}, .stride = {{s, s}}, .padding = {padding, padding}};
}

}  // namespace

MaxPool2D::MaxPool2D(std::int64_t kernel_size, std::optional<std::int64_t> stride, std::int64_t padding)
    : options(square_windows(kernel_size, stride, padding)) {}

Tensor MaxPool2D::forward(const Tensor& x) { return max_pool2d(x, options); }

AvgPool2D::AvgPool2D(std::int64_t kernel_size, std::optional<std::int64_t> stride, std::int64_t padding)
    : options(square_windows(kernel_size, stride, padding)) {}

Tensor AvgPool2D::forward(const Tensor& x) { return avg_pool2d(x, options); }

Tensor Flatten::forward(const Tensor& x) { return flatten(x, start_dim, end_dim); }

}  // namespace tg
