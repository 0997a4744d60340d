#include "tapegrad/storage.hpp"

#include <array>
#include <bit>
#include <cstdlib>
#include <new>
#include <vector>

namespace tg {

namespace {

constexpr std::size_t kAlignment = 64;  // one cache line; the widest SIMD load (AVX-512)
constexpr std::size_t kMinBlock = 64;
constexpr int kSubClasses = 4;                    // size classes per power of two
constexpr std::size_t kMaxCachedBlock = 1 << 28;  // 256 MB: larger blocks are never kept
constexpr int kClasses = 1 + kSubClasses * 22;    // 64 B < size <= 2^28 B
constexpr std::size_t kDefaultLimit = std::size_t{256} << 20;

// The size class of a request, and the block size that serves it: 64, then
// 80, 96, 112, 128, 160, ... (four evenly spaced sizes in each (2^e, 2^(e+1)]), so a
// block wastes at most a fifth of itself.
struct SizeClass {
  int index;
  std::size_t bytes;
};

SizeClass size_class(std::size_t bytes) {
  if (bytes <= kMinBlock) return {0, kMinBlock};
  int e = static_cast<int>(std::bit_width(bytes - 1)) - 1;  // 2^e < bytes <= 2^(e+1)
  std::size_t step = std::size_t{1} << (e - 2);
  std::size_t steps = (bytes + step - 1) / step;  // 5..8
  return {1 + (e - 6) * kSubClasses + static_cast<int>(steps - 5), steps * step};
}

// aligned_alloc wants a size that is a multiple of the alignment (ASan checks this): the
// small classes (80, 96, 112, 160, ... bytes) are rounded up.
void* system_alloc(std::size_t bytes) {
  void* p = std::aligned_alloc(kAlignment, (bytes + kAlignment - 1) / kAlignment * kAlignment);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

// Trivially destructible, so it can still be read while (and after) the thread's other
// thread_locals are destroyed: a tensor freed that late bypasses the cache.
thread_local bool cache_gone = false;

// TAPEGRAD_STORAGE_CACHE_MB sets the default limit; 0 turns the cache off, so that memory
// checkers (valgrind, ASan) see every buffer's real lifetime.
std::size_t default_limit() {
  const char* env = std::getenv("TAPEGRAD_STORAGE_CACHE_MB");
  if (env == nullptr || *env == '\0') return kDefaultLimit;
  char* end = nullptr;
  unsigned long long mb = std::strtoull(env, &end, 10);
  if (*end != '\0' || mb > (std::size_t{1} << 20)) return kDefaultLimit;  // not a number of MB: ignored
  return static_cast<std::size_t>(mb) << 20;
}

struct Cache {
  std::array<std::vector<void*>, kClasses> free;
  std::size_t bytes = 0;
  std::size_t limit = default_limit();

  void clear() {
    for (int c = 0; c < kClasses; ++c) {
      for (void* p : free[static_cast<std::size_t>(c)]) std::free(p);
      free[static_cast<std::size_t>(c)].clear();
    }
    bytes = 0;
  }
  ~Cache() {
    clear();
    cache_gone = true;
  }
};

Cache& cache() {
  thread_local Cache c;
  return c;
}

}  // namespace

Storage::Storage(std::size_t bytes) : bytes_(bytes) {
  SizeClass sc = size_class(bytes);
  if (sc.bytes > kMaxCachedBlock || cache_gone) {
    data_ = system_alloc(sc.bytes);
    return;
  }
  Cache& c = cache();
  auto& list = c.free[static_cast<std::size_t>(sc.index)];
  if (list.empty()) {
    data_ = system_alloc(sc.bytes);
  } else {
    data_ = list.back();
    list.pop_back();
    c.bytes -= sc.bytes;
  }
}

Storage::~Storage() {
  SizeClass sc = size_class(bytes_);
  if (sc.bytes > kMaxCachedBlock || cache_gone) {
    std::free(data_);
    return;
  }
  Cache& c = cache();
  if (c.bytes + sc.bytes > c.limit) {
    std::free(data_);
    return;
  }
  try {
    c.free[static_cast<std::size_t>(sc.index)].push_back(data_);
    c.bytes += sc.bytes;
  } catch (const std::bad_alloc&) {  // the list could not grow: give the block back instead
    std::free(data_);
  }
}

std::size_t storage_cache_bytes() { return cache_gone ? 0 : cache().bytes; }
std::size_t storage_cache_limit() { return cache_gone ? 0 : cache().limit; }

void set_storage_cache_limit(std::size_t bytes) {
  if (cache_gone) return;
  Cache& c = cache();
  c.limit = bytes;
  if (c.bytes > bytes) c.clear();
}

void empty_storage_cache() {
  if (!cache_gone) cache().clear();
}

}  // namespace tg
