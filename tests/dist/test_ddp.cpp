// SPDX-License-Identifier: MIT
// DistributedDataParallel and SyncBatchNorm against one process on the global batch (run
// under mpirun -np 2 by ctest). Every rank also computes the one-process reference itself, on
// the whole batch, with a model of its own: the comparison needs no communication.
#include <catch2/catch.hpp>

#include <cstring>

#include "lenet/models.hpp"
#include "tapegrad/tapegrad.hpp"
#include "test_util.hpp"

namespace dist = tg::dist;
using tg::Tensor;
using tg::test::allclose;

namespace {

// The classic LeNet-5 (sigmoid, average pooling; no batch norm, no dropout) in a given dtype,
// written with the functional ops so that it exists in float64 too.
class LeNet : public tg::Module {
 public:
  LeNet(tg::Dtype dtype, std::uint64_t seed) {
    tg::Generator gen(seed);
    auto param = [&](const char* name, tg::Shape shape, double scale) {
      return register_parameter(name, tg::randn(shape, gen, {.dtype = dtype}) * scale);
    };
    w1 = param("conv1_weight", {6, 1, 5, 5}, 0.2), b1 = param("conv1_bias", {6}, 0.1);
    w2 = param("conv2_weight", {16, 6, 5, 5}, 0.08), b2 = param("conv2_bias", {16}, 0.1);
    w3 = param("fc1_weight", {120, 400}, 0.05), b3 = param("fc1_bias", {120}, 0.1);
    w4 = param("fc2_weight", {84, 120}, 0.09), b4 = param("fc2_bias", {84}, 0.1);
    w5 = param("fc3_weight", {10, 84}, 0.1), b5 = param("fc3_bias", {10}, 0.1);
  }
  Tensor forward(const Tensor& x) override {
    auto linear = [](const Tensor& h, const Tensor& w, const Tensor& b) {
      return tg::matmul(h, tg::transpose(w, 0, 1)) + b;
    };
    Tensor h = tg::avg_pool2d(tg::sigmoid(tg::conv2d(x, w1, b1, {.padding = 2})));
    h = tg::avg_pool2d(tg::sigmoid(tg::conv2d(h, w2, b2)));
    h = tg::flatten(h);
    h = tg::sigmoid(linear(h, w3, b3));
    h = tg::sigmoid(linear(h, w4, b4));
    return linear(h, w5, b5);
  }
  Tensor w1, b1, w2, b2, w3, b3, w4, b4, w5, b5;
};

struct Data {
  Tensor images, labels;
};
// The global batch of step `step`: the same on every rank.
Data global_batch(tg::Dtype dtype, int step, std::int64_t n) {
  tg::Generator gen(100 + static_cast<std::uint64_t>(step));
  Tensor images = tg::randn({n, 1, 28, 28}, gen, {.dtype = dtype});
  std::vector<double> labels;
  for (std::int64_t i = 0; i < n; ++i) labels.push_back(static_cast<double>((i * 7 + step) % 10));
  return {images, tg::from_vector(labels, tg::Shape{n}, {.dtype = tg::kInt64})};
}
// This rank's contiguous share of a global batch.
Tensor shard(const Tensor& t) {
  const std::int64_t part = t.size(0) / dist::world_size();
  return tg::narrow(t, 0, dist::rank() * part, part).clone();
}

std::unique_ptr<tg::Optimizer> make_optimizer(const std::string& kind, std::vector<Tensor> params) {
  if (kind == "sgd") return std::make_unique<tg::SGD>(std::move(params), 0.1, 0.9);
  return std::make_unique<tg::Adam>(std::move(params), 1e-2);
}

// Trains `steps` steps on one process over the whole batch, or with DDP on this rank's shard.
std::vector<Tensor> train(tg::Dtype dtype, const std::string& optimizer, bool distributed, int steps,
                          dist::DDPOptions options = {}, int* sent_early = nullptr) {
  auto net = std::make_shared<LeNet>(dtype, distributed ? 1 + static_cast<std::uint64_t>(dist::rank()) : 1);
  std::unique_ptr<dist::DistributedDataParallel> ddp;
  if (distributed) ddp = std::make_unique<dist::DistributedDataParallel>(net, options);
  auto opt = make_optimizer(optimizer, net->parameters());
  for (int step = 0; step < steps; ++step) {
    Data batch = global_batch(dtype, step, 8);
    opt->zero_grad();
    Tensor loss = distributed ? tg::cross_entropy((*ddp)(shard(batch.images)), shard(batch.labels))
                              : tg::cross_entropy((*net)(batch.images), batch.labels);
    loss.backward();
    opt->step();
    if (sent_early && ddp) *sent_early = ddp->buckets_sent_early();
  }
  std::vector<Tensor> out;
  for (const Tensor& p : net->parameters()) out.push_back(p.detach().clone());
  return out;
}

double max_relative_error(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  double worst = 0;
  for (std::size_t k = 0; k < a.size(); ++k) {
    std::vector<double> x = a[k].tolist(), y = b[k].tolist();
    double scale = 0, diff = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      scale = std::max(scale, std::abs(y[i]));
      diff = std::max(diff, std::abs(x[i] - y[i]));
    }
    worst = std::max(worst, diff / std::max(scale, 1e-30));
  }
  return worst;
}

bool same_bits(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t k = 0; k < a.size(); ++k) {
    if (a[k].dtype() != b[k].dtype() || a[k].numel() != b[k].numel()) return false;
    const std::size_t bytes = static_cast<std::size_t>(a[k].numel()) * (a[k].dtype() == tg::kFloat32 ? 4 : 8);
    if (std::memcmp(a[k].raw_data(), b[k].raw_data(), bytes) != 0) return false;
  }
  return true;
}

// Whether every rank holds exactly these tensors.
bool same_on_every_rank(const std::vector<Tensor>& params) {
  for (const Tensor& p : params)
    for (const Tensor& other : dist::all_gather(p))
      if (!same_bits({other}, {p})) return false;
  return true;
}

}  // namespace

TEST_CASE("DDP: the classic LeNet on two ranks equals one process on the global batch, SGD and Adam", "[dist][ddp]") {
  for (const char* optimizer : {"sgd", "adam"}) {
    for (tg::Dtype dtype : {tg::kFloat64, tg::kFloat32}) {
      INFO(optimizer << " " << tg::dtype_name(dtype));
      std::vector<Tensor> single = train(dtype, optimizer, false, 5);
      std::vector<Tensor> ddp = train(dtype, optimizer, true, 5);
      // Note: Adam in float32 is the one case looser than 1e-5. Some of fc1's weight gradients are
      // sums of terms near 1e-4 that cancel to 5e-11: float32 rounding noise, different for a
      // sum over 8 images and the average of two sums over 4 (10% apart). Adam divides each
      // gradient by its own root mean square (plus eps = 1e-8), which turns that noise into
      // steps of up to half a percent of the learning rate; after 5 steps the largest
      // difference is 1.1e-4 of the largest weight. In float64 the same elements agree to 1e-6.
      const double tol = dtype == tg::kFloat64 ? 1e-6 : std::string(optimizer) == "adam" ? 2e-4 : 1e-5;
      CHECK(max_relative_error(ddp, single) <= tol);
      CHECK(same_on_every_rank(ddp));
      // The parameters moved: the comparison is not between two initial states.
      CHECK(max_relative_error(ddp, LeNet(dtype, 1).parameters()) > 1e-3);
    }
  }
}

TEST_CASE("DDP: the example's own classic LeNet, as lenet --distributed trains it", "[dist][ddp]") {
  // lenet::classic_lenet (layers, Xavier init) with SGD at the recipe's lr 0.9, 5 steps.
  auto run = [](bool distributed) {
    tg::Generator gen(3 + (distributed ? static_cast<std::uint64_t>(dist::rank()) : 0));
    auto net = lenet::classic_lenet(gen);
    std::unique_ptr<dist::DistributedDataParallel> ddp;
    if (distributed) ddp = std::make_unique<dist::DistributedDataParallel>(net);
    tg::SGD opt(net->parameters(), 0.9);
    for (int step = 0; step < 5; ++step) {
      Data batch = global_batch(tg::kFloat32, step, 16);
      opt.zero_grad();
      Tensor loss = distributed ? tg::cross_entropy((*ddp)(shard(batch.images)), shard(batch.labels))
                                : tg::cross_entropy((*net)(batch.images), batch.labels);
      loss.backward();
      opt.step();
    }
    std::vector<Tensor> out;
    for (const Tensor& p : net->parameters()) out.push_back(p.detach().clone());
    return out;
  };
  std::vector<Tensor> single = run(false), ddp = run(true);
  CHECK(max_relative_error(ddp, single) <= 1e-5);
  CHECK(same_on_every_rank(ddp));
}

TEST_CASE("DDP: buckets, overlap and fixed-order reduction do not change the result", "[dist][ddp]") {
  std::vector<Tensor> base = train(tg::kFloat64, "sgd", true, 3);
  int early = -1;
  std::vector<Tensor> small = train(tg::kFloat64, "sgd", true, 3, {.bucket_cap_mb = 0.001, .overlap = true}, &early);
  CHECK(same_bits(small, base));
  // Small buckets are sent while backward runs: all but the last finished ones.
  if (dist::world_size() > 1) CHECK(early > 1);
  std::vector<Tensor> at_end = train(tg::kFloat64, "sgd", true, 3, {.bucket_cap_mb = 0.001, .overlap = false}, &early);
  CHECK(early == 0);
  CHECK(same_bits(at_end, base));
  std::vector<Tensor> fixed1 = train(tg::kFloat64, "sgd", true, 3, {.fixed_order = true});
  std::vector<Tensor> fixed2 = train(tg::kFloat64, "sgd", true, 3, {.bucket_cap_mb = 0.01, .fixed_order = true});
  CHECK(same_bits(fixed1, fixed2));
  CHECK(same_on_every_rank(fixed1));
  CHECK(max_relative_error(fixed1, base) <= 1e-12);
}

TEST_CASE("DDP: construction copies rank 0's parameters; buckets go in reverse order", "[dist][ddp]") {
  auto net = std::make_shared<LeNet>(tg::kFloat32, 50 + static_cast<std::uint64_t>(dist::rank()));
  dist::DistributedDataParallel ddp(net, {.bucket_cap_mb = 0.1});
  LeNet rank0(tg::kFloat32, 50);
  CHECK(same_bits(net->parameters(), rank0.parameters()));
  std::vector<std::vector<std::string>> buckets = ddp.buckets();
  REQUIRE(buckets.size() >= 2);
  CHECK(buckets.front().front() == "fc3_bias");
  CHECK(buckets.back().back() == "conv1_weight");
  std::size_t listed = 0;
  for (const auto& b : buckets) listed += b.size();
  CHECK(listed == net->parameters().size());
  // The state of the wrapped model keeps PyTorch's names: "module." before the inner ones.
  CHECK(ddp.state_dict().front().first == "module.conv1_weight");
  CHECK(ddp.module().state_dict().front().first == "conv1_weight");
}

namespace {
// Two branches; `use_b` decides per call whether the second one is used.
class Branches : public tg::Module {
 public:
  Branches() {
    a = register_parameter("a", tg::tensor({1.0, 2.0}, {.dtype = tg::kFloat64}));
    b = register_parameter("b", tg::tensor({3.0}, {.dtype = tg::kFloat64}));
    c = register_parameter("c", tg::tensor({5.0}, {.dtype = tg::kFloat64}));  // never used
  }
  Tensor forward(const Tensor& x) override { return use_b ? (x * a).sum() + b.sum() * x.sum() : (x * a).sum(); }
  bool use_b = true;
  Tensor a, b, c;
};
}  // namespace

TEST_CASE("DDP: unused parameters, as PyTorch's find_unused_parameters", "[dist][ddp]") {
  const int r = dist::rank(), w = dist::world_size();
  Tensor x = tg::tensor({1.0, 1.0 + r}, {.dtype = tg::kFloat64});
  {
    auto net = std::make_shared<Branches>();
    dist::DistributedDataParallel ddp(net);
    CHECK_THROWS_WITH(ddp(x).backward(), Catch::Contains("find_unused_parameters") && Catch::Contains("c"));
  }
  auto net = std::make_shared<Branches>();
  net->use_b = r == 0;  // rank 0 alone uses b
  dist::DistributedDataParallel ddp(net, {.find_unused_parameters = true});
  ddp(x).backward();
  // a: the mean over ranks of x; b: rank 0's sum(x) / w, the other ranks counting zero;
  // c: used by no rank, so its .grad stays undefined, as in PyTorch.
  double mean_x1 = 0;
  for (int k = 0; k < w; ++k) mean_x1 += 1.0 + k;
  mean_x1 /= w;
  CHECK(net->a.grad().tolist() == std::vector<double>{1.0, mean_x1});
  CHECK(net->b.grad().tolist() == std::vector<double>{2.0 / w});
  CHECK_FALSE(net->c.grad().defined());
}

TEST_CASE("DDP: no_sync accumulates locally and the next backward averages the sum", "[dist][ddp]") {
  const int r = dist::rank(), w = dist::world_size();
  auto net = std::make_shared<Branches>();
  dist::DistributedDataParallel ddp(net, {.find_unused_parameters = true});
  Tensor x = tg::tensor({1.0 + r, 0.0}, {.dtype = tg::kFloat64});
  {
    auto guard = ddp.no_sync();
    ddp(x).backward();
    CHECK(net->a.grad().tolist() == std::vector<double>{1.0 + r, 0.0});  // local, not averaged
  }
  ddp(x).backward();
  double mean = 0;
  for (int k = 0; k < w; ++k) mean += 2.0 * (1.0 + k);
  CHECK(net->a.grad().tolist() == std::vector<double>{mean / w, 0.0});
}

TEST_CASE("DDP: needs a model and sensible options", "[dist][ddp]") {
  CHECK_THROWS_AS(dist::DistributedDataParallel(nullptr), tg::ValueError);
  CHECK_THROWS_WITH(dist::DistributedDataParallel(std::make_shared<Branches>(), {.bucket_cap_mb = 0}),
                    Catch::Contains("bucket_cap_mb"));
}

TEST_CASE("SyncBatchNorm equals BatchNorm on the global batch, forward and backward", "[dist][syncbn]") {
  const int w = dist::world_size();
  for (tg::Dtype dtype : {tg::kFloat64, tg::kFloat32}) {
    INFO(tg::dtype_name(dtype));
    const double tol = dtype == tg::kFloat64 ? 1e-10 : 1e-5;
    for (int rank_of_input : {2, 4}) {
      tg::Generator gen(3);
      tg::Shape shape = rank_of_input == 4 ? tg::Shape{4L * w, 3, 5, 4} : tg::Shape{4L * w, 3};
      Tensor x = tg::randn(shape, gen, {.dtype = dtype}) * 2 + 5;  // a mean far from zero
      Tensor weights = tg::randn(shape, gen, {.dtype = dtype});    // the loss: sum(y * weights)
      // The reference: BatchNorm over the whole batch, on this process.
      std::shared_ptr<tg::BatchNorm> bn;
      if (rank_of_input == 4)
        bn = std::make_shared<tg::BatchNorm2D>(3);
      else
        bn = std::make_shared<tg::BatchNorm1D>(3);
      Tensor xr = x.clone().requires_grad_();
      (bn->forward(xr) * weights).sum().backward();

      dist::SyncBatchNorm sync(3);
      Tensor xs = shard(x).requires_grad_();
      Tensor ys = sync(xs);
      CHECK(allclose(ys, shard(bn->forward(x.clone()).detach()), tol, tol));
      (ys * shard(weights)).sum().backward();
      // This rank's part of the input gradient, and the parameters' gradients summed over ranks.
      CHECK(allclose(xs.grad(), shard(xr.grad()), tol, tol));
      Tensor gw = sync.weight.grad().clone(), gb = sync.bias.grad().clone();
      dist::all_reduce_(gw);
      dist::all_reduce_(gb);
      // (The affine parameters are float32 whatever the input's dtype, as their gradients.)
      CHECK(allclose(gw, bn->weight.grad(), 1e-5, 1e-5));
      CHECK(allclose(gb, bn->bias.grad(), 1e-5, 1e-5));
      // Running statistics after one step, the same as BatchNorm's first (its second forward
      // above was a second step: compare with a fresh one).
      auto fresh = rank_of_input == 4 ? std::shared_ptr<tg::BatchNorm>(std::make_shared<tg::BatchNorm2D>(3))
                                      : std::shared_ptr<tg::BatchNorm>(std::make_shared<tg::BatchNorm1D>(3));
      fresh->forward(x.clone());
      CHECK(allclose(sync.running_mean, fresh->running_mean, 1e-6, 1e-6));
      CHECK(allclose(sync.running_var, fresh->running_var, 1e-5, 1e-5));
      CHECK(sync.num_batches_tracked.item<double>() == 1);
      // eval(): the running statistics, the same on every rank.
      sync.eval();
      fresh->eval();
      CHECK(allclose(sync(shard(x)), shard(fresh->forward(x)), 1e-5, 1e-5));
    }
  }
}

TEST_CASE("SyncBatchNorm: bad input names the layer", "[dist][syncbn]") {
  dist::SyncBatchNorm bn(3);
  CHECK_THROWS_AS(bn(tg::ones({3})), tg::ShapeError);
  CHECK_THROWS_WITH(bn(tg::ones({2, 4})), Catch::Contains("SyncBatchNorm") && Catch::Contains("num_features"));
  CHECK(tg::to_string(bn).find("SyncBatchNorm(3") != std::string::npos);
}

namespace {
// A layer with buffers of every dtype, filled per rank.
class Buffers : public tg::Module {
 public:
  explicit Buffers(int r) {
    w = register_parameter("w", tg::ones({2}));
    f = register_buffer("f", tg::full({3}, 1.0 + r));
    d = register_buffer("d", tg::full({2}, 10.0 + r, {.dtype = tg::kFloat64}));
    i = register_buffer("i", tg::full({1}, 100 + r, {.dtype = tg::kInt64}));
    b = register_buffer("b", tg::tensor({r == 0, r != 0}));
  }
  Tensor forward(const Tensor& x) override { return (x * w).sum(); }
  Tensor w, f, d, i, b;
};
}  // namespace

TEST_CASE("DDP: rank 0's buffers of every dtype reach every rank, at construction and each forward", "[dist][ddp]") {
  const int r = dist::rank();
  auto net = std::make_shared<Buffers>(r);
  dist::DistributedDataParallel ddp(net);
  auto expect_rank0 = [&] {
    CHECK(net->f.tolist() == std::vector<double>(3, 1.0));
    CHECK(net->d.tolist() == std::vector<double>(2, 10.0));
    CHECK(net->i.tolist() == std::vector<double>{100});
    CHECK(net->b.tolist() == std::vector<double>{1, 0});
  };
  expect_rank0();
  {
    tg::NoGradGuard no_grad;
    net->f += r;  // the ranks drift apart (as BatchNorm's running statistics would)
    net->d += r;
  }
  ddp(tg::ones({2})).backward();  // a training-mode forward copies rank 0's again
  expect_rank0();
  CHECK(net->w.grad().tolist() == std::vector<double>{1, 1});
}

TEST_CASE("dist: all_reduce_sum where the ranks' losses use it differently; bool tensors are copied",
          "[dist][collectives]") {
  const int r = dist::rank(), w = dist::world_size();
  Tensor x = tg::tensor({1.0, 2.0}, {.dtype = tg::kFloat64}).requires_grad_();
  Tensor y = dist::all_reduce_sum(x);
  // Rank 0's loss uses y; the others' weigh it by zero and use x directly (every rank must
  // still backward through y). The gradient of the sum of the losses with respect to each
  // rank's x is 1 (from rank 0's use of y), plus 3 on the other ranks.
  Tensor loss = r == 0 ? y.sum() : (x * 3.0).sum() + (y * 0.0).sum();
  loss.backward();
  CHECK(x.grad().tolist() == std::vector<double>(2, r == 0 ? 1.0 : 4.0));
  // bool tensors are copied, never reduced
  Tensor flags = tg::tensor({r == 0, true});
  dist::broadcast_(flags, 0);
  CHECK(flags.tolist() == std::vector<double>{1, 1});
  CHECK(dist::all_gather(tg::tensor({r == 1})).size() == static_cast<std::size_t>(w));
}
