// SPDX-License-Identifier: MIT
// The per-thread cache of freed tensor buffers.
#include <cstdint>
#include <thread>

#include "tapegrad/storage.hpp"
#include "test_util.hpp"

namespace {

// Turns the cache on for one test (CI's sanitizer run turns it off by default).
struct CacheOn {
  std::size_t previous = tg::storage_cache_limit();
  CacheOn() { tg::set_storage_cache_limit(std::size_t{64} << 20); }
  ~CacheOn() { tg::set_storage_cache_limit(previous); }
};

}  // namespace

TEST_CASE("a freed buffer is reused by the next tensor of its size class", "[storage]") {
  CacheOn on;
  tg::empty_storage_cache();
  const void* first = nullptr;
  {
    tg::Tensor t = tg::ones({100});
    first = t.raw_data();
  }
  CHECK(tg::storage_cache_bytes() >= 400);
  tg::Tensor u = tg::zeros({99});  // 396 bytes: the same class as 400
  CHECK(u.raw_data() == first);
  CHECK(u.sum().item() == 0.0f);  // reused memory is still initialised by the factory
  CHECK(reinterpret_cast<std::uintptr_t>(u.raw_data()) % 64 == 0);
}

TEST_CASE("the cache respects its limit and can be emptied", "[storage]") {
  CacheOn on;
  std::size_t old_limit = tg::storage_cache_limit();
  tg::set_storage_cache_limit(1000);
  { tg::Tensor t = tg::ones({10000}); }  // 40 KB: over the limit, given back at once
  CHECK(tg::storage_cache_bytes() <= 1000);
  tg::set_storage_cache_limit(0);
  { tg::Tensor t = tg::ones({4}); }
  CHECK(tg::storage_cache_bytes() == 0);
  tg::set_storage_cache_limit(old_limit);
  { tg::Tensor t = tg::ones({4}); }
  CHECK(tg::storage_cache_bytes() > 0);
  tg::empty_storage_cache();
  CHECK(tg::storage_cache_bytes() == 0);
}

TEST_CASE("a tensor made on one thread can be freed on another", "[storage][thread]") {
  tg::Tensor t = tg::full({1000}, 2.0);
  std::thread worker([moved = std::move(t)]() mutable {
    CHECK(moved.sum().item() == 2000.0f);
    moved = tg::Tensor();  // freed here, into this thread's cache, which dies with it
  });
  worker.join();
  CHECK_FALSE(t.defined());  // NOLINT(bugprone-use-after-move)
}
