// Module forward hooks and pre-hooks, and the module scopes that anomaly errors report.
#include <limits>

#include "test_util.hpp"

using tg::Tensor;

namespace {

std::unique_ptr<tg::Sequential> small_net() {
  tg::Generator gen(3);
  auto net = std::make_unique<tg::Sequential>();
  net->push_back(std::make_shared<tg::Linear>(4, 3, true, gen));
  net->push_back(std::make_shared<tg::ReLU>());
  net->push_back(std::make_shared<tg::Linear>(3, 2, true, gen));
  return net;
}

}  // namespace

TEST_CASE("forward hooks see each child's input and output", "[layers][hooks]") {
  auto holder = small_net();
  tg::Sequential& net = *holder;
  std::vector<std::string> seen;
  for (const auto& [name, child] : net.named_children())
    child->register_forward_hook([&seen, name = name](tg::Module&, const Tensor& in, const Tensor& out) {
      seen.push_back(fmt::format("{}: {} -> {}", name, in.shape(), out.shape()));
      return Tensor();
    });
  net(tg::ones({5, 4}));
  CHECK(seen == std::vector<std::string>{"0: [5, 4] -> [5, 3]", "1: [5, 3] -> [5, 3]", "2: [5, 3] -> [5, 2]"});
}

TEST_CASE("a pre-hook can replace the input and a forward hook the output", "[layers][hooks]") {
  tg::ReLU relu;
  int pre = relu.register_forward_pre_hook([](tg::Module&, const Tensor& x) { return x - 1; });
  relu.register_forward_hook([](tg::Module&, const Tensor&, const Tensor& y) { return y * 10; });
  Tensor y = relu(Tensor{{0.5, 3.0}});
  CHECK(y.tolist() == std::vector<double>{0, 20});
  relu.remove_hook(pre);
  CHECK(relu(Tensor{{0.5, 3.0}}).tolist() == std::vector<double>{5, 30});
  CHECK_THROWS_WITH(relu.remove_hook(pre), Catch::Contains("Module::remove_hook: no hook with handle"));
  CHECK_THROWS_WITH(relu.register_forward_hook(nullptr), Catch::Contains("the hook is empty"));
  // forward() itself, called directly, runs no hooks.
  CHECK(relu.forward(Tensor{{3.0}}).tolist() == std::vector<double>{3});
}

TEST_CASE("gradients flow through what a forward hook returns", "[layers][hooks]") {
  auto holder = small_net();
  tg::Sequential& net = *holder;
  Tensor x = tg::ones({2, 4});
  net(x).sum().backward();
  std::vector<Tensor> plain;
  for (const Tensor& p : net.parameters()) plain.push_back(p.grad().clone());
  net.zero_grad();
  net.register_forward_hook([](tg::Module&, const Tensor&, const Tensor& y) { return y * 3; });
  net(x).sum().backward();
  std::vector<Tensor> params = net.parameters();
  for (std::size_t i = 0; i < params.size(); ++i) CHECK(tg::test::allclose(params[i].grad(), plain[i] * 3));
}

TEST_CASE("module scopes name where an anomaly happened", "[layers][anomaly]") {
  auto holder = small_net();
  tg::Sequential& net = *holder;
  CHECK(tg::current_scope().empty());
  std::string inside;
  net.named_children()[2].second->register_forward_pre_hook([&](tg::Module&, const Tensor&) {
    inside = tg::current_scope();
    return Tensor();
  });
  net(tg::ones({1, 4}));
  CHECK(inside.empty());  // pre-hooks run before the module's own scope opens
  net.named_children()[2].second->register_forward_hook([&](tg::Module&, const Tensor&, const Tensor&) {
    inside = tg::current_scope();
    return Tensor();
  });
  net(tg::ones({1, 4}));
  CHECK(inside.empty());  // and forward hooks after it closes
  // An Inf weight in the last layer: anomaly mode says which module recorded the op.
  REQUIRE(net.named_parameters()[2].first == "2.weight");
  net.named_parameters()[2].second.data<float>()[0] = std::numeric_limits<float>::infinity();
  tg::DetectAnomalyGuard anomaly;
  CHECK_THROWS_WITH(net(tg::ones({1, 4})), Catch::Contains("in module 2") && Catch::Contains("already held NaN/Inf"));
}
