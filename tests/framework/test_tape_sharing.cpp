// SPDX-License-Identifier: MIT
// How backward() shares gradient buffers: pass-through gradients are not copied into
// intermediate slots, but no .grad is ever an alias of another tensor's, and a shared
// buffer is never written in place.
#include <cstring>

#include "test_util.hpp"

using tg::Tensor;

namespace {

bool shares_storage(const Tensor& a, const Tensor& b) { return a.impl().storage == b.impl().storage; }

}  // namespace

TEST_CASE("add passes dy to both inputs, yet their .grad buffers are separate", "[tape][sharing]") {
  Tensor a = Tensor{1, 2}.requires_grad_();
  Tensor b = Tensor{3, 4}.requires_grad_();
  (a + b).sum().backward();
  REQUIRE(a.grad().defined());
  REQUIRE(b.grad().defined());
  CHECK_FALSE(shares_storage(a.grad(), b.grad()));
  {
    tg::NoGradGuard no_grad;
    a.grad().zero_();  // what an optimizer's zero_grad does
  }
  CHECK(b.grad().tolist() == std::vector<double>{1, 1});
}

TEST_CASE("a user's seed is never written by backward()", "[tape][sharing]") {
  // y feeds two consumers through add, so its slot receives the seed twice: the second
  // contribution must not be added into the user's seed tensor.
  Tensor x = Tensor{1, 2}.requires_grad_();
  Tensor y = x * 1.0;
  Tensor z = y + y;
  Tensor seed = Tensor{10, 20};
  z.backward(seed);
  CHECK(seed.tolist() == std::vector<double>{10, 20});
  CHECK(x.grad().tolist() == std::vector<double>{20, 40});
  CHECK_FALSE(shares_storage(x.grad(), seed));
}

TEST_CASE("a leaf whose only gradient is the seed gets a copy of it", "[tape][sharing]") {
  Tensor x = Tensor{1, 2}.requires_grad_();
  Tensor seed = Tensor{5, 6};
  x.backward(seed);
  CHECK_FALSE(shares_storage(x.grad(), seed));
  x.backward(seed);  // accumulates into x.grad, not into seed
  CHECK(x.grad().tolist() == std::vector<double>{10, 12});
  CHECK(seed.tolist() == std::vector<double>{5, 6});
}

TEST_CASE("a retained gradient is a copy, not the buffer passed on", "[tape][sharing]") {
  Tensor x = Tensor{1, 2}.requires_grad_();
  Tensor y = x + 0.0;
  y.retain_grad();
  Tensor z = y + y;  // y's slot gets dy twice
  z.sum().backward();
  CHECK(y.grad().tolist() == std::vector<double>{2, 2});
  CHECK(x.grad().tolist() == std::vector<double>{2, 2});
  CHECK_FALSE(shares_storage(x.grad(), y.grad()));
}

TEST_CASE("many consumers of one tensor sum exactly", "[tape][sharing]") {
  Tensor x = Tensor{1, -2, 3}.requires_grad_();
  Tensor y = x * 2.0;
  Tensor total = y;
  for (int i = 0; i < 9; ++i) total = total + y;  // 10 y = 20 x
  total.sum().backward();
  CHECK(x.grad().tolist() == std::vector<double>{20, 20, 20});
}
