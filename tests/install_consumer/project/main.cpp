// SPDX-License-Identifier: MIT
// A program that knows tapegrad only through its installed package.
#include <tapegrad/tapegrad.hpp>

int main() {
  tg::Tensor X{{0, 1, 2}, {3, 4, 5}, {6, 7, 8}};
  tg::Tensor K = tg::Tensor{{0, 1}, {2, 3}}.requires_grad_();
  tg::Tensor Y = tg::corr2d(X, K);
  Y.sum().backward();
  fmt::print("{}\n{}\n", Y.detach(), K.grad());
  return K.grad().at({0, 0}) == 8 ? 0 : 1;  // dK[0, 0] = X[0, 0] + X[0, 1] + X[1, 0] + X[1, 1]
}
