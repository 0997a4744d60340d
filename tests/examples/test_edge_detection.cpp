// The seed notebook's numbers, and the example binary end to end.
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.hpp"

using tg::Tensor;

namespace {

Tensor edge_image() {
  Tensor X = tg::ones({6, 8});
  X.index_put_({tg::Slice(), tg::Slice(2, 6)}, 0);
  return X;
}

// Runs the example binary and returns its metrics; fails the test if it exits non-zero.
nlohmann::json run_example(const std::string& args) {
  std::string metrics = fmt::format("edge_metrics_{}.json", std::hash<std::string>{}(args));
  std::string command = fmt::format("{} {} --metrics {} > /dev/null", TAPEGRAD_EDGE_DETECTION, args, metrics);
  REQUIRE(std::system(command.c_str()) == 0);
  std::ifstream in(metrics);
  nlohmann::json j = nlohmann::json::parse(in);
  std::remove(metrics.c_str());
  return j;
}

}  // namespace

TEST_CASE("corr2d reproduces the notebook's 3x3 by 2x2 example", "[seed]") {
  Tensor Y = tg::corr2d(Tensor{{0, 1, 2}, {3, 4, 5}, {6, 7, 8}}, Tensor{{0, 1}, {2, 3}});
  CHECK(tg::test::allclose(Y, Tensor{{19, 25}, {37, 43}}, 0, 0));
  CHECK(fmt::format("{}", Y) == "tensor([[19., 25.],\n        [37., 43.]])");
}

TEST_CASE("the kernel [[1, -1]] finds the vertical edges", "[seed]") {
  Tensor Y = tg::corr2d(edge_image(), Tensor{{1.0, -1.0}});
  REQUIRE(Y.shape() == tg::Shape{6, 7});
  for (std::int64_t i = 0; i < 6; ++i)
    for (std::int64_t j = 0; j < 7; ++j) CHECK(Y.at({i, j}) == (j == 1 ? 1.0f : j == 5 ? -1.0f : 0.0f));
  // A horizontal edge detector on the transposed image sees nothing: the edges are vertical.
  CHECK(tg::corr2d(edge_image().t(), Tensor{{1.0, -1.0}}).square().sum().item() == 0);
}

TEST_CASE("edge_detection learns [[1, -1]] and bias 0 from every seed 0..9", "[seed][example]") {
  for (int seed = 0; seed < 10; ++seed) {
    INFO("seed " << seed);
    nlohmann::json m = run_example(fmt::format("--seed {}", seed));
    std::vector<double> loss = m["loss"];
    REQUIRE(loss.size() <= 60);
    CHECK(m["weight"][0].get<double>() == Approx(1.0).margin(0.01));
    CHECK(m["weight"][1].get<double>() == Approx(-1.0).margin(0.01));
    CHECK(m["bias"].get<double>() == Approx(0.0).margin(0.01));
    CHECK(loss.front() / loss.back() >= 1000);
  }
}

TEST_CASE("edge_detection --steps 20 is one run of the notebook cell", "[seed][example]") {
  nlohmann::json m = run_example("--steps 20 --seed 3 --lr 0.01");
  std::vector<double> loss = m["loss"];
  CHECK(loss.size() == 20);
  for (std::size_t i = 1; i < loss.size(); ++i) CHECK(loss[i] < loss[i - 1]);
  CHECK(m["lr"].get<double>() == 0.01);
  CHECK(m["seed"].get<int>() == 3);
}

TEST_CASE("edge_detection rejects bad flags", "[seed][example]") {
  std::string command = fmt::format("{} --lr -1 > /dev/null 2>&1", TAPEGRAD_EDGE_DETECTION);
  CHECK(std::system(command.c_str()) != 0);
}

TEST_CASE("edge_detection --threads 2 learns exactly what one thread learns", "[seed][example]") {
  nlohmann::json one = run_example("--steps 20 --seed 5 --threads 1");
  nlohmann::json two = run_example("--steps 20 --seed 5 --threads 2");
  CHECK(one["loss"] == two["loss"]);
  CHECK(one["weight"] == two["weight"]);
  CHECK(one["bias"] == two["bias"]);
  std::string command = fmt::format("{} --threads 0 > /dev/null 2>&1", TAPEGRAD_EDGE_DETECTION);
  CHECK(std::system(command.c_str()) != 0);
}
