// SPDX-License-Identifier: MIT
// InlineFunction: the move-only callable that holds backward closures.
#include <array>
#include <memory>

#include "tapegrad/inline_function.hpp"
#include "test_util.hpp"

using Fn = tg::InlineFunction<int(int), 32>;

TEST_CASE("InlineFunction calls small and large callables", "[inline_function]") {
  int offset = 5;
  Fn small = [offset](int x) { return x + offset; };
  CHECK(small(1) == 6);

  std::array<int, 64> big{};  // 256 bytes: does not fit, goes to the heap
  big[63] = 7;
  Fn large = [big](int x) { return x * big[63]; };
  CHECK(large(3) == 21);

  Fn empty;
  CHECK_FALSE(static_cast<bool>(empty));
  CHECK(static_cast<bool>(small));
}

TEST_CASE("InlineFunction moves and destroys what it captured exactly once", "[inline_function]") {
  auto token = std::make_shared<int>(42);
  {
    Fn a = [token](int x) { return x + *token; };  // inline
    CHECK(token.use_count() == 2);
    Fn b = std::move(a);
    CHECK_FALSE(static_cast<bool>(a));  // NOLINT(bugprone-use-after-move): checking the moved-from state
    CHECK(token.use_count() == 2);
    CHECK(b(0) == 42);
    b = nullptr;
    CHECK(token.use_count() == 1);
  }
  {
    std::array<char, 100> pad{};
    Fn a = [token, pad](int x) { return x + *token + pad[0]; };  // on the heap
    CHECK(token.use_count() == 2);
    Fn b;
    b = std::move(a);
    CHECK(token.use_count() == 2);
    CHECK(b(1) == 43);
  }
  CHECK(token.use_count() == 1);
}
