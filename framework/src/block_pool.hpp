#pragma once
// make_impl() and make_storage(): the shared_ptrs behind every tensor, allocated from
// per-thread pools of fixed-size blocks.
//
// Note: every op result needs two small heap objects (its TensorImpl and its Storage,
// each with a shared_ptr control block). They are too large for glibc's fast bins, so
// with plain make_shared each one goes through malloc's general path; a free list per
// block size makes allocating one a pop and freeing one a push. Blocks come from
// ::operator new, so a block freed on another thread simply joins that thread's list.
#include <cstddef>
#include <memory>
#include <new>
#include <vector>

#include "tapegrad/storage.hpp"
#include "tapegrad/tensor.hpp"

namespace tg::detail {

template <std::size_t Size>
class BlockPool {
 public:
  static void* take() {
    if (gone_) return ::operator new(Size);
    auto& list = instance().free_;
    if (list.empty()) return ::operator new(Size);
    void* p = list.back();
    list.pop_back();
    return p;
  }
  static void give(void* p) noexcept {
    if (gone_ || instance().free_.size() >= kMaxBlocks) return ::operator delete(p);
    try {
      instance().free_.push_back(p);
    } catch (const std::bad_alloc&) {  // the list could not grow: give the block back instead
      ::operator delete(p);
    }
  }

 private:
  static constexpr std::size_t kMaxBlocks = 1 << 14;
  static BlockPool& instance() {
    thread_local BlockPool pool;
    return pool;
  }
  ~BlockPool() {
    for (void* p : free_) ::operator delete(p);
    gone_ = true;  // later frees on this thread (thread_local destruction order) bypass the pool
  }
  std::vector<void*> free_;
  static inline thread_local bool gone_ = false;
};

// A std::allocator stand-in for allocate_shared: single objects come from BlockPool.
template <class T>
struct PoolAllocator {
  using value_type = T;
  static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
  PoolAllocator() = default;
  template <class U>
  PoolAllocator(const PoolAllocator<U>&) {}  // NOLINT: rebinding is implicit for allocators
  T* allocate(std::size_t n) {
    return static_cast<T*>(n == 1 ? BlockPool<sizeof(T)>::take() : ::operator new(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n == 1) return BlockPool<sizeof(T)>::give(p);
    ::operator delete(p);
  }
  template <class U>
  bool operator==(const PoolAllocator<U>&) const {
    return true;
  }
};

inline std::shared_ptr<TensorImpl> make_impl() { return std::allocate_shared<TensorImpl>(PoolAllocator<TensorImpl>()); }
inline std::shared_ptr<Storage> make_storage(std::size_t bytes) {
  return std::allocate_shared<Storage>(PoolAllocator<Storage>(), bytes);
}

}  // namespace tg::detail
