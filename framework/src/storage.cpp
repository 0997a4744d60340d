// SPDX-License-Identifier: MIT
#include "tapegrad/storage.hpp"

#include <array>
#include <bit>
#include <cstdlib>
#include <new>
#include <vector>

#include "block_pool.hpp"

namespace tg {

namespace {

constexpr std::size_t kAlignment = 64;  // one cache line; the widest SIMD load (AVX-512)
constexpr std::size_t kMinBlock = 64;
constexpr int kSubClasses = 4;                    // size classes per power of two
constexpr std::size_t kMaxCachedBlock = 1 << 28;  // 256 MB: larger blocks are never kept
constexpr int kClasses = 1 + kSubClasses * 22;    // 64 B < size <= 2^28 B
constexpr std::size_t kDefaultLimit = std::size_t{256} << 20;
constexpr int kObjectClasses = static_cast<int>(detail::kMaxPooledBlock / 16);  // 16, 32, ..., 256 bytes

// Note [small buffers] in storage.hpp: a Storage with its data inside, in a block of this size.
constexpr std::size_t kHeaderBytes = sizeof(Storage);
constexpr std::size_t kInlineBytes = 64 - kHeaderBytes;  // 40 bytes of data in a 64-byte block
static_assert(kHeaderBytes == 24, "Storage is its counters, its data pointer and its size");
constexpr std::size_t kMaxEmbeddedBytes = 4096 - kAlignment;  // data beyond: a block of its own

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
// thread_locals are destroyed: memory freed that late bypasses the cache.
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

// Note: the small objects' free lists are intrusive (a free block holds the pointer to the
// next one) and live in a trivially destructible thread_local, so that taking and giving a
// block is a few instructions with no guard: every op result takes two and gives them back.
// What the lists hold when the thread ends goes back to the system through Cache's destructor.
// The data blocks (64-byte aligned) are kept the same way, one list per size class.
struct ObjectLists {
  void* head[kObjectClasses];
};
thread_local ObjectLists object_lists;  // zero-initialised: every list empty
struct DataLists {
  void* head[kClasses];
};
thread_local DataLists data_lists;

struct Cache {
  std::size_t bytes = 0;  // held by both the data and the object lists
  std::size_t limit = default_limit();

  void clear() {
    for (void*& head : data_lists.head)
      while (head) {
        void* next = *static_cast<void**>(head);
        std::free(head);
        head = next;
      }
    for (void*& head : object_lists.head)
      while (head) {
        void* next = *static_cast<void**>(head);
        ::operator delete(head);
        head = next;
      }
    bytes = 0;
  }
  ~Cache();
};

// The byte count and limit as a trivially destructible thread_local too, read on the fast
// path; Cache (with its destructor) is created by the first block kept.
struct Budget {
  std::size_t* bytes;  // &cache().bytes once created
  std::size_t limit;
};
thread_local Budget budget{nullptr, 0};

Cache::~Cache() {
  clear();
  cache_gone = true;
  budget = {nullptr, 0};
}

Cache& cache() {
  thread_local Cache c;
  if (!budget.bytes && !cache_gone) budget = {&c.bytes, c.limit};
  return c;
}

void* take_data(std::size_t bytes) {
  SizeClass sc = size_class(bytes);
  if (sc.bytes > kMaxCachedBlock) return system_alloc(sc.bytes);
  void*& head = data_lists.head[sc.index];
  if (!head) return system_alloc(sc.bytes);
  void* p = head;
  head = *static_cast<void**>(p);
  *budget.bytes -= sc.bytes;  // a block in a list means the budget exists
  return p;
}

void give_data(void* p, std::size_t bytes) {
  SizeClass sc = size_class(bytes);
  if (!budget.bytes) {
    if (cache_gone) return std::free(p);
    cache();
  }
  if (sc.bytes > kMaxCachedBlock || *budget.bytes + sc.bytes > budget.limit) return std::free(p);
  void*& head = data_lists.head[sc.index];
  *static_cast<void**>(p) = head;
  head = p;
  *budget.bytes += sc.bytes;
}

}  // namespace

namespace detail {

void* take_block(std::size_t bytes) {
  const std::size_t rounded = (bytes + 15) / 16 * 16;
  void*& head = object_lists.head[rounded / 16 - 1];
  if (!head) return ::operator new(rounded);
  void* p = head;
  head = *static_cast<void**>(p);
  *budget.bytes -= rounded;  // a block in a list means the budget exists
  return p;
}

void give_block(void* p, std::size_t bytes) noexcept {
  const std::size_t rounded = (bytes + 15) / 16 * 16;
  if (!budget.bytes) {
    if (cache_gone) return ::operator delete(p);
    cache();
  }
  if (*budget.bytes + rounded > budget.limit) return ::operator delete(p);
  void*& head = object_lists.head[rounded / 16 - 1];
  *static_cast<void**>(p) = head;
  head = p;
  *budget.bytes += rounded;
}

}  // namespace detail

StoragePtr Storage::make(std::size_t bytes) {
  if (bytes <= kInlineBytes) {
    std::size_t block = bytes <= 8 ? 32 : 64;
    void* p = detail::take_block(block);
    auto* s = ::new (p) Storage(nullptr, bytes);
    s->data_ = static_cast<unsigned char*>(p) + kHeaderBytes;
    return StoragePtr(s);
  }
  if (bytes <= kMaxEmbeddedBytes) {  // Note [small buffers]: the data 64 bytes into the Storage's block
    void* p = take_data(kAlignment + bytes);
    return StoragePtr(::new (p) Storage(static_cast<unsigned char*>(p) + kAlignment, bytes));
  }
  void* data = take_data(bytes);
  void* p = nullptr;
  try {
    p = detail::take_block(kHeaderBytes);
  } catch (...) {
    give_data(data, bytes);
    throw;
  }
  return StoragePtr(::new (p) Storage(data, bytes));
}

void Storage::release() {
  const std::size_t bytes = bytes_;
  void* data = data_;
  this->~Storage();
  if (bytes <= kInlineBytes) return detail::give_block(this, bytes <= 8 ? 32 : 64);
  if (bytes <= kMaxEmbeddedBytes) return give_data(this, kAlignment + bytes);
  give_data(data, bytes);
  detail::give_block(this, kHeaderBytes);
}

std::size_t storage_cache_bytes() { return cache_gone ? 0 : cache().bytes; }
std::size_t storage_cache_limit() { return cache_gone ? 0 : cache().limit; }

void set_storage_cache_limit(std::size_t bytes) {
  if (cache_gone) return;
  Cache& c = cache();
  c.limit = budget.limit = bytes;
  if (c.bytes > bytes) c.clear();
}

void empty_storage_cache() {
  if (!cache_gone) cache().clear();
}

}  // namespace tg
