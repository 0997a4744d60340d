// SPDX-License-Identifier: MIT
// Module checkpoints: save_module/load_module round trips under state_dict() names, and
// every failure (another model, a damaged file, a failed save) leaves things exactly as they were.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>

#include "tapegrad/layers/checkpoint.hpp"
#include "tapegrad/safetensors.hpp"
#include "test_util.hpp"

using tg::Tensor;
namespace fs = std::filesystem;

using tg::test::read_bytes;
using tg::test::TempDir;
using tg::test::write_bytes;

namespace {

// Linear, ReLU, Linear as nn.Sequential numbers them: children "0" and "2".
class Mlp : public tg::Module {
 public:
  Mlp(std::int64_t in, std::int64_t hidden, std::int64_t out, std::uint64_t seed) {
    tg::Generator gen(seed);
    fc0 = register_module("0", std::make_shared<tg::Linear>(in, hidden, true, gen));
    fc2 = register_module("2", std::make_shared<tg::Linear>(hidden, out, true, gen));
  }
  Tensor forward(const Tensor& x) override { return (*fc2)((*fc0)(x).relu()); }

  std::shared_ptr<tg::Linear> fc0, fc2;
};

// Every value of the state, by name: a snapshot to compare before and after.
std::vector<std::pair<std::string, std::vector<double>>> values_of(const tg::Module& m) {
  std::vector<std::pair<std::string, std::vector<double>>> out;
  for (const auto& [name, t] : m.state_dict()) out.emplace_back(name, t.tolist());
  return out;
}

}  // namespace

TEST_CASE("save_module then load_module restores every parameter", "[layers][checkpoint]") {
  TempDir dir("ckpt_roundtrip");
  const std::string path = dir.file("mlp.safetensors");
  Mlp saved(3, 4, 2, 1), restored(3, 4, 2, 2);
  REQUIRE(values_of(saved) != values_of(restored));
  tg::save_module(saved, path);

  std::vector<std::string> names;
  for (const auto& [name, t] : tg::load_safetensors(path)) names.push_back(name);
  CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});

  const auto handles = restored.parameters();
  tg::load_module(restored, path);
  CHECK(values_of(restored) == values_of(saved));
  const Tensor x = tg::randn({5, 3});
  CHECK(restored(x).tolist() == saved(x).tolist());
  // The same tensors, still trainable: an optimizer built before the load keeps working.
  const auto after = restored.parameters();
  for (std::size_t i = 0; i < after.size(); ++i) {
    CHECK(after[i].impl_ptr() == handles[i].impl_ptr());
    CHECK(after[i].requires_grad());
  }
}

TEST_CASE("load_module of another model leaves the module unchanged", "[layers][checkpoint]") {
  TempDir dir("ckpt_mismatch");
  const std::string path = dir.file("other.safetensors");
  Mlp model(3, 4, 2, 1);
  const auto before = values_of(model);

  SECTION("a tensor of another shape") {
    tg::save_module(Mlp(3, 5, 2, 3), path);
    CHECK_THROWS_AS(tg::load_module(model, path), tg::ShapeError);
    CHECK_THROWS_WITH(tg::load_module(model, path), Catch::Contains(path) && Catch::Contains("'0.weight'"));
  }
  SECTION("a tensor missing") {
    auto state = model.state_dict();
    state.pop_back();
    tg::save_safetensors(state, path);
    CHECK_THROWS_AS(tg::load_module(model, path), tg::ValueError);
    CHECK_THROWS_WITH(tg::load_module(model, path), Catch::Contains(path) && Catch::Contains("no '2.bias'"));
  }
  SECTION("an extra tensor") {
    auto state = Mlp(3, 4, 2, 3).state_dict();
    state.emplace_back("4.weight", tg::ones({2}));
    tg::save_safetensors(state, path);
    CHECK_THROWS_WITH(tg::load_module(model, path), Catch::Contains(path) && Catch::Contains("'4.weight'"));
  }
  CHECK(values_of(model) == before);
}

TEST_CASE("load_module of a damaged or missing file leaves the module unchanged", "[layers][checkpoint]") {
  TempDir dir("ckpt_damaged");
  const std::string path = dir.file("mlp.safetensors");
  Mlp model(3, 4, 2, 1);
  const auto before = values_of(model);
  tg::save_module(Mlp(3, 4, 2, 9), path);
  const std::string good = read_bytes(path);

  auto expect_io_error = [&](const std::string& what) {
    CHECK_THROWS_AS(tg::load_module(model, path), tg::IoError);
    CHECK_THROWS_WITH(tg::load_module(model, path), Catch::Contains(path) && Catch::Contains(what));
  };
  SECTION("missing") {
    fs::remove(path);
    expect_io_error("No such file");
  }
  SECTION("truncated in the data") {
    write_bytes(path, good.substr(0, good.size() - 4));
    expect_io_error("the file is truncated");
  }
  SECTION("truncated in the header") {
    write_bytes(path, good.substr(0, 40));
    expect_io_error("the file is truncated");
  }
  SECTION("a corrupt header") {
    std::string bytes = good;
    bytes[8] = '[';
    write_bytes(path, bytes);
    expect_io_error("not valid UTF-8 JSON");
  }
  CHECK(values_of(model) == before);
}

TEST_CASE("a float64 checkpoint loads into a float32 module", "[layers][checkpoint]") {
  TempDir dir("ckpt_dtype");
  const std::string path = dir.file("f64.safetensors");
  Mlp model(2, 2, 1, 1);
  auto state = model.state_dict();
  for (auto& [name, t] : state) t = tg::full(t.shape(), 0.5, {.dtype = tg::kFloat64});
  tg::save_safetensors(state, path);
  tg::load_module(model, path);
  for (const auto& [name, t] : model.state_dict()) {
    CHECK(t.dtype() == tg::kFloat32);
    CHECK(t.tolist() == std::vector<double>(static_cast<std::size_t>(t.numel()), 0.5));
  }
}

TEST_CASE("a failed save_module leaves the existing checkpoint intact", "[layers][checkpoint]") {
  TempDir dir("ckpt_atomic");
  const std::string path = dir.file("mlp.safetensors");
  Mlp small(3, 4, 2, 1);
  tg::save_module(small, path);
  const std::string before = read_bytes(path);

  // A 1000-byte file size limit stops the ~40 KB write part way through (EFBIG).
  Mlp big(100, 100, 2, 2);
  rlimit old_limit{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
  rlimit limited = old_limit;
  limited.rlim_cur = 1000;
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &limited) == 0);
  std::string error;
  try {
    tg::save_module(big, path);
  } catch (const tg::IoError& e) {
    error = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  ::signal(SIGXFSZ, old_handler);

  CHECK_THAT(error, Catch::Contains(path) && Catch::Contains("writing failed"));
  CHECK(read_bytes(path) == before);
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);  // no temporary left
  Mlp reloaded(3, 4, 2, 5);
  tg::load_module(reloaded, path);
  CHECK(values_of(reloaded) == values_of(small));
}
