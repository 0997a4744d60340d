// SPDX-License-Identifier: MIT
#pragma once
// The small objects behind every tensor (its TensorImpl with its shared_ptr control block, its
// Storage) come from per-thread free lists of fixed-size blocks.
//
// Note: every op result needs these objects. They are too large for glibc's fast bins, so
// with plain new each one goes through malloc's general path; a free list per block size
// makes allocating one a pop and freeing one a push. The lists share the storage cache's
// per-thread budget (storage_cache_limit()): a thread that once built a graph of a million
// entries keeps those blocks for its next graph (on this project's machines a fresh page
// costs about 10 us to fault in, far more than the entry itself), up to that budget.
// Blocks come from ::operator new, so a block freed on another thread simply joins that
// thread's list.
#include <cstddef>
#include <memory>
#include <new>

#include "tapegrad/tensor.hpp"

namespace tg::detail {

// A block of `bytes` (at most kMaxPooledBlock), 16-byte aligned.
void* take_block(std::size_t bytes);
void give_block(void* p, std::size_t bytes) noexcept;
inline constexpr std::size_t kMaxPooledBlock = 256;

// A std::allocator stand-in for allocate_shared: single objects come from the pools.
template <class T>
struct PoolAllocator {
  using value_type = T;
  static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
  PoolAllocator() = default;
  template <class U>
  PoolAllocator(const PoolAllocator<U>&) {}  // NOLINT: rebinding is implicit for allocators
  T* allocate(std::size_t n) {
    if (n == 1 && sizeof(T) <= kMaxPooledBlock) return static_cast<T*>(take_block(sizeof(T)));
    return static_cast<T*>(::operator new(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n == 1 && sizeof(T) <= kMaxPooledBlock) return give_block(p, sizeof(T));
    ::operator delete(p);
  }
  template <class U>
  bool operator==(const PoolAllocator<U>&) const {
    return true;
  }
};

inline ImplPtr make_impl(const Shape& shape, Dtype dtype, StoragePtr storage) {
  return ImplPtr::adopt(TensorImpl::make(shape, dtype, std::move(storage)));
}

}  // namespace tg::detail
