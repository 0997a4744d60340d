// Thread count: settable, validated, and results do not depend on it for the ops here.
#include "test_util.hpp"

TEST_CASE("set_num_threads sets the count and rejects fewer than one", "[threads]") {
  int before = tg::get_num_threads();
  tg::set_num_threads(1);
  CHECK(tg::get_num_threads() == 1);
  tg::Generator gen(5);
  tg::Tensor a = tg::randn({64, 300}, gen), b = tg::randn({300, 50}, gen);
  tg::Tensor one = tg::matmul(a, b);
  tg::set_num_threads(2);
  CHECK(tg::get_num_threads() == 2);
  CHECK(tg::test::allclose(tg::matmul(a, b), one, 1e-5, 1e-5));
  CHECK_THROWS_AS(tg::set_num_threads(0), tg::ValueError);
  CHECK_THROWS_WITH(tg::set_num_threads(-3), Catch::Contains("set_num_threads") && Catch::Contains("-3"));
  tg::set_num_threads(before);
}
