// SPDX-License-Identifier: MIT
// Checkpoints under crashes and damage: a writer killed with SIGKILL at any point leaves the
// old or the new checkpoint, whole, and no temporary that outlives the next save; a damaged
// or foreign file is a tg::Error naming the file and the problem, and changes nothing.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "tapegrad/layers/checkpoint.hpp"
#include "tapegrad/optim/adam.hpp"
#include "tapegrad/optim/checkpoint.hpp"
#include "tapegrad/optim/sgd.hpp"
#include "tapegrad/safetensors.hpp"
#include "test_util.hpp"

using tg::Tensor;
using tg::test::read_bytes;
using tg::test::TempDir;
using tg::test::write_bytes;
namespace fs = std::filesystem;

namespace {

// Every value of a state, by name, with its dtype: two snapshots are equal only if every
// parameter, buffer or optimizer state tensor is bit for bit the same (float -> double is exact).
using Snapshot = std::vector<std::tuple<std::string, tg::Dtype, std::vector<double>>>;

Snapshot snapshot(const std::vector<std::pair<std::string, Tensor>>& state) {
  Snapshot out;
  for (const auto& [name, t] : state) out.emplace_back(name, t.dtype(), t.tolist());
  return out;
}

// A model and an Adam optimizer that has taken one step, so that the model's BatchNorm
// buffers and the optimizer's moments all hold values that differ from seed to seed.
struct Trained {
  std::shared_ptr<tg::Sequential> model;
  std::unique_ptr<tg::Adam> adam;

  Trained(std::shared_ptr<tg::Sequential> m, const Tensor& x) : model(std::move(m)) {
    adam = std::make_unique<tg::Adam>(model->parameters(), 1e-2);
    Tensor loss = (*model)(x).square().mean();
    adam->zero_grad();
    loss.backward();
    adam->step();
  }
  Snapshot model_state() const { return snapshot(model->state_dict()); }
  Snapshot optimizer_state() const { return snapshot(adam->state_dict()); }
};

// Linear 1024 -> 1024 (4 MB of weights), BatchNorm1D, ReLU, Linear 1024 -> 16: a model file of
// about 4 MB and an Adam file of about 8 MB, slow enough to write that a kill lands inside.
Trained big_model(std::uint64_t seed) {
  tg::Generator gen(seed);
  auto m = std::make_shared<tg::Sequential>(std::initializer_list<std::shared_ptr<tg::Module>>{
      std::make_shared<tg::Linear>(1024, 1024, true, gen), std::make_shared<tg::BatchNorm1D>(1024),
      std::make_shared<tg::ReLU>(), std::make_shared<tg::Linear>(1024, 16, true, gen)});
  return Trained(m, tg::randn({4, 1024}, gen));
}

// A small conv net with parameters and buffers: Conv2D 1->2 k3, BatchNorm2D, ReLU, MaxPool,
// Flatten, Linear 18 -> 3. `width` changes the conv's output channels (another model).
std::shared_ptr<tg::Sequential> small_net(std::uint64_t seed, std::int64_t width = 2) {
  tg::Generator gen(seed);
  return std::make_shared<tg::Sequential>(std::initializer_list<std::shared_ptr<tg::Module>>{
      std::make_shared<tg::Conv2D>(1, width, 3, 1, 0, true, gen), std::make_shared<tg::BatchNorm2D>(width),
      std::make_shared<tg::ReLU>(), std::make_shared<tg::MaxPool2D>(2), std::make_shared<tg::Flatten>(),
      std::make_shared<tg::Linear>(width * 9, 3, true, gen)});
}

Trained small_model(std::uint64_t seed, std::int64_t width = 2) {
  tg::Generator gen(seed + 100);
  return Trained(small_net(seed, width), tg::randn({4, 1, 8, 8}, gen));
}

// The names in `dir` that are write_file_atomic's temporaries ("<file>.tmp.<pid>.<n>").
std::vector<std::string> temporaries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) out.push_back(e.path().filename().string());
  return out;
}

// A child process that is killed and reaped when the scope ends, whatever happens in it:
// a failed REQUIRE must not leave a writer looping forever.
struct Child {
  pid_t pid;
  explicit Child(const std::function<void()>& body) : pid(::fork()) {
    if (pid == 0) {
      try {
        body();
      } catch (...) {
        ::_exit(3);
      }
      ::_exit(0);
    }
  }
  // Kills the child and returns its wait status.
  int kill() {
    int status = 0;
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      pid = -1;
    }
    return status;
  }
  ~Child() { kill(); }
};

// Writes a safetensors file whose header is `header` (data_offsets already set) and whose
// data buffer is `data`: files the writer never makes, such as other dtypes.
void write_raw_safetensors(const std::string& path, const nlohmann::ordered_json& header, const std::string& data) {
  std::string text = header.dump();
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes += static_cast<char>((text.size() >> (8 * i)) & 0xff);
  write_bytes(path, bytes + text + data);
}

}  // namespace

TEST_CASE("a checkpoint writer killed at any point leaves the old or the new file, whole",
          "[reliability][checkpoint]") {
  TempDir dir("crash");
  const std::string path = dir.file("model.safetensors"), optim_path = path + ".optim";
  const Trained old_run = big_model(1), new_run = big_model(2);
  const Snapshot old_model = old_run.model_state(), new_model = new_run.model_state();
  const Snapshot old_optim = old_run.optimizer_state(), new_optim = new_run.optimizer_state();
  REQUIRE(old_model != new_model);
  REQUIRE(old_optim != new_optim);

  // The kills land uniformly within three saves of the fork: before the first rename (the
  // old files remain), between renames (the new ones), and inside writes.
  const auto start = std::chrono::steady_clock::now();
  tg::save_module(*new_run.model, path);
  tg::save_optimizer(*new_run.adam, optim_path);
  const auto save_time = std::chrono::steady_clock::now() - start;
  std::mt19937 rng(20240611);
  std::uniform_int_distribution<std::int64_t> delay_us(
      0, 3 * std::chrono::duration_cast<std::chrono::microseconds>(save_time).count());

  Trained probe = big_model(3);
  int old_files = 0, new_files = 0, interrupted = 0;
  // At least 20 kills, and more (up to 200) until one has landed inside a write: under a
  // sanitizer the writer can spend most of its time building the state before it opens the
  // temporary, and 20 kills then need not hit a write.
  constexpr int kKills = 20, kMaxKills = 200;
  int round = 0;
  for (; round < kKills || (interrupted == 0 && round < kMaxKills); ++round) {
    tg::save_module(*old_run.model, path);
    tg::save_optimizer(*old_run.adam, optim_path);
    // Every save removed the temporaries of the writers killed before it.
    REQUIRE(temporaries(dir.path).empty());

    Child writer([&] {
      for (;;) {
        tg::save_module(*new_run.model, path);
        tg::save_optimizer(*new_run.adam, optim_path);
      }
    });
    REQUIRE(writer.pid > 0);
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
    const int status = writer.kill();
    INFO("kill " << round);
    REQUIRE(WIFSIGNALED(status));  // not an exit: the writer never failed on its own
    REQUIRE(WTERMSIG(status) == SIGKILL);
    interrupted += !temporaries(dir.path).empty();

    // Each file loads, and holds exactly one of the two states.
    tg::load_module(*probe.model, path);
    const Snapshot model = probe.model_state();
    REQUIRE((model == old_model || model == new_model));
    tg::load_optimizer(*probe.adam, optim_path);
    const Snapshot optim = probe.optimizer_state();
    REQUIRE((optim == old_optim || optim == new_optim));
    (model == old_model ? old_files : new_files)++;
  }
  INFO(round << " kills: " << interrupted << " inside a write, model file old " << old_files << " / new " << new_files);
  CHECK(interrupted > 0);
  // The next saves clean up after the last kill (each save, its own path's temporaries):
  // only the two checkpoints are left.
  tg::save_module(*old_run.model, path);
  tg::save_optimizer(*old_run.adam, optim_path);
  CHECK(temporaries(dir.path).empty());
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 2);
}

TEST_CASE("a save removes the temporaries of dead writers of its path, and nothing else", "[reliability][checkpoint]") {
  TempDir dir("stale_tmp");
  const std::string path = dir.file("m.safetensors");
  // The id of a process that has exited and been reaped: nothing runs under it.
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  REQUIRE(dead > 0);
  ::waitpid(dead, nullptr, 0);
  const pid_t alive = ::getppid();

  const std::string stale = fmt::format("m.safetensors.tmp.{}.7", dead);
  const std::string stale_locked = fmt::format("m.safetensors.tmp.{}.8", dead);
  const std::vector<std::string> kept = {
      fmt::format("m.safetensors.tmp.{}.3", alive),       // a live writer
      fmt::format("m.safetensors.tmp.{}.3", ::getpid()),  // this process: another thread's
      fmt::format("other.safetensors.tmp.{}.1", dead),    // another file's
      fmt::format("m.safetensors.tmp.{}.x", dead),        // not a name the writer makes
      "m.safetensors.tmp.notes",
  };
  for (const std::string& name : kept) write_bytes(dir.file(name), "partial");
  write_bytes(dir.file(stale), "partial");
  write_bytes(dir.file(stale_locked), "partial");
  // A lock stands for a live writer whose pid this process cannot see (another pid namespace).
  const int lock = ::open(dir.file(stale_locked).c_str(), O_RDONLY);
  REQUIRE(lock >= 0);
  REQUIRE(::flock(lock, LOCK_EX | LOCK_NB) == 0);

  tg::save_module(*small_net(1), path);
  CHECK_FALSE(fs::exists(dir.file(stale)));
  CHECK(fs::exists(dir.file(stale_locked)));
  for (const std::string& name : kept) CHECK(fs::exists(dir.file(name)));

  ::close(lock);
  tg::save_module(*small_net(1), path);
  CHECK_FALSE(fs::exists(dir.file(stale_locked)));
  for (const std::string& name : kept) CHECK(fs::exists(dir.file(name)));
  // A leftover that has this very name (a dead process that had this pid) does not stop a save.
  // Run as its own process (ctest), this process's save counter is still below 4 here.
  for (int n = 0; n < 4; ++n) write_bytes(fmt::format("{}.tmp.{}.{}", path, ::getpid(), n), "partial");
  auto other = small_net(2);
  tg::save_module(*other, path);
  auto probe = small_net(3);
  tg::load_module(*probe, path);
  CHECK(snapshot(probe->state_dict()) == snapshot(other->state_dict()));
}

TEST_CASE("a damaged module or optimizer checkpoint is an error that changes nothing", "[reliability][checkpoint]") {
  TempDir dir("damaged");
  const std::string model_path = dir.file("model.safetensors"), optim_path = dir.file("model.safetensors.optim");
  const Trained saved = small_model(1);
  tg::save_module(*saved.model, model_path);
  tg::save_optimizer(*saved.adam, optim_path);
  const std::string model_file = read_bytes(model_path), optim_file = read_bytes(optim_path);

  Trained target = small_model(2);  // rebuilt (the same) after a load that succeeds
  const Snapshot model_before = target.model_state(), optim_before = target.optimizer_state();
  REQUIRE(model_before != saved.model_state());
  REQUIRE(optim_before != saved.optimizer_state());
  const double lr_before = target.adam->lr();

  // Loading `path` throws a tg::Error of type E whose message names the file and contains
  // `problem`, and neither the model (parameters and buffers) nor the optimizer changes.
  auto expect_rejected = [&]<class E>(const std::string& path, bool optimizer, const std::string& problem) {
    std::string message;
    try {
      optimizer ? tg::load_optimizer(*target.adam, path) : tg::load_module(*target.model, path);
    } catch (const E& e) {
      message = e.what();
    }
    INFO("loading " << path << " threw: " << message);
    CHECK_THAT(message, Catch::Contains(path) && Catch::Contains(problem));
    CHECK(target.model_state() == model_before);
    CHECK(target.optimizer_state() == optim_before);
    CHECK(target.adam->lr() == lr_before);
  };
  auto io_error = [&](const std::string& path, bool optimizer, const std::string& problem) {
    expect_rejected.operator()<tg::IoError>(path, optimizer, problem);
  };

  for (const bool optimizer : {false, true}) {
    const std::string& path = optimizer ? optim_path : model_path;
    const std::string& good = optimizer ? optim_file : model_file;
    // Each damaged copy is a new file: rewriting one file in place thousands of times makes
    // ext4 flush it to disk at every close (its replace-by-truncate heuristic), for seconds.
    int copies = 0;
    auto damaged_copy = [&](const std::string& bytes) {
      const std::string copy = dir.file(fmt::format("damaged_{}.safetensors", copies++));
      write_bytes(copy, bytes);
      return copy;
    };
    DYNAMIC_SECTION((optimizer ? "optimizer" : "module") << " file truncated at every length") {
      for (std::size_t n = 0; n < good.size(); ++n) {
        const std::string copy = damaged_copy(good.substr(0, n));
        io_error(copy, optimizer, n < 8 ? "starts with an 8-byte header length" : "truncated");
        fs::remove(copy);
      }
    }
    DYNAMIC_SECTION((optimizer ? "optimizer" : "module") << " file with a bit flipped in the header") {
      std::uint64_t header_end = 8;
      for (int i = 0; i < 8; ++i)
        header_end += static_cast<std::uint64_t>(static_cast<unsigned char>(good[i])) << (8 * i);
      // Every flip is refused: inside the JSON a flipped name is a missing tensor (ValueError)
      // and anything else damages the format; in the space padding after it, a flip makes
      // '!' (trailing garbage) or a NUL byte, which the reader refuses too.
      for (std::size_t i = 0; i < header_end; ++i) {
        for (const unsigned char bit : {0x01, 0x20}) {
          std::string bytes = good;
          bytes[i] = static_cast<char>(bytes[i] ^ bit);
          INFO("byte " << i << " of " << header_end << " xor " << int(bit));
          const std::string copy = damaged_copy(bytes);
          expect_rejected.operator()<tg::Error>(copy, optimizer, "");
          fs::remove(copy);
        }
      }
    }
    DYNAMIC_SECTION((optimizer ? "optimizer" : "module") << " file with a tensor of another dtype") {
      // F64, F16, BF16 and I64 load (converted, as load_state_dict does); I32 and U8 are not read at all.
      const auto state = optimizer ? saved.adam->state_dict() : saved.model->state_dict();
      for (const std::string dtype : {"I32", "U8"}) {
        // state[1] (0.bias, or state.0.step) gets `dtype`, with a data range of the right size.
        nlohmann::ordered_json header;
        std::string data;
        for (std::size_t k = 0; k < state.size(); ++k) {
          const Tensor& t = state[k].second;
          const auto numel = static_cast<std::size_t>(t.numel());
          const std::size_t bytes = k != 1 ? numel * tg::itemsize(t.dtype()) : numel * (dtype == "I32" ? 4 : 1);
          nlohmann::ordered_json shape = nlohmann::ordered_json::array();
          for (std::int64_t d : t.shape()) shape.push_back(d);
          const char* own = t.dtype() == tg::kFloat32   ? "F32"
                            : t.dtype() == tg::kFloat64 ? "F64"
                            : t.dtype() == tg::kInt64   ? "I64"
                                                        : "BOOL";
          header[state[k].first] = {
              {"dtype", k == 1 ? dtype : own}, {"shape", shape}, {"data_offsets", {data.size(), data.size() + bytes}}};
          data += k == 1 ? std::string(bytes, '\0') : std::string(static_cast<const char*>(t.raw_data()), bytes);
        }
        write_raw_safetensors(path, header, data);
        io_error(path, optimizer, fmt::format("'{}' has dtype \"{}\"", state[1].first, dtype));
      }
    }
  }

  SECTION("a module file of another model: a tensor of another shape") {
    tg::save_module(*small_net(5, 3), model_path);
    expect_rejected.operator()<tg::ShapeError>(model_path, false, "'0.weight' has shape [3, 1, 3, 3]");
  }
  SECTION("a module file with a tensor missing") {
    auto state = saved.model->state_dict();
    state.erase(std::find_if(state.begin(), state.end(), [](const auto& e) { return e.first == "1.running_mean"; }));
    tg::save_safetensors(state, model_path);
    expect_rejected.operator()<tg::ValueError>(model_path, false, "no '1.running_mean'");
  }
  SECTION("a module file with an extra tensor") {
    auto state = saved.model->state_dict();
    state.emplace_back("6.weight", tg::ones({3}));
    tg::save_safetensors(state, model_path);
    expect_rejected.operator()<tg::ValueError>(model_path, false, "'6.weight', which the model does not have");
  }
  SECTION("an optimizer file over another model: a state of another shape") {
    tg::save_optimizer(*small_model(5, 3).adam, optim_path);
    expect_rejected.operator()<tg::ShapeError>(optim_path, true, "'state.0.exp_avg' has shape [3, 1, 3, 3]");
  }
  SECTION("an optimizer file with a state missing") {
    auto state = saved.adam->state_dict();
    state.erase(
        std::find_if(state.begin(), state.end(), [](const auto& e) { return e.first == "state.2.exp_avg_sq"; }));
    tg::save_safetensors(state, optim_path);
    expect_rejected.operator()<tg::ValueError>(optim_path, true, "no 'state.2.exp_avg_sq'");
  }
  SECTION("an optimizer file with an extra state") {
    auto state = saved.adam->state_dict();
    state.emplace_back("state.0.momentum_buffer", tg::ones({2, 1, 3, 3}));
    tg::save_safetensors(state, optim_path);
    expect_rejected.operator()<tg::ValueError>(optim_path, true, "unknown entry 'state.0.momentum_buffer'");
  }
  SECTION("an optimizer file of another kind of optimizer") {
    // The gradients of Trained's step are still in place: one SGD step creates its momentum.
    const Trained other = small_model(5);
    tg::SGD sgd(other.model->parameters(), 0.1, 0.9);
    sgd.step();
    tg::save_optimizer(sgd, optim_path);
    expect_rejected.operator()<tg::ValueError>(optim_path, true, "unknown entry 'state.0.momentum_buffer'");
  }
  SECTION("an optimizer file with an invalid step count") {
    auto state = saved.adam->state_dict();
    for (auto& [name, t] : state)
      if (name == "state.1.step") t = tg::zeros({1}, {.dtype = tg::kFloat64});
    tg::save_safetensors(state, optim_path);
    expect_rejected.operator()<tg::ValueError>(optim_path, true, "'state.1.step' is 0");
  }
}
