// SPDX-License-Identifier: MIT
#pragma once
// Storage: one contiguous buffer, and the version counter of its data. Tensors that are views
// of each other (reshape, detach) share a Storage; everything else gets a fresh one.
//
// Note [version counters]: every in-place write to a buffer (fill_, copy_, add_, at() writes,
// optimizer steps, recorded in-place ops) adds one to its version. A tensor saved for backward
// remembers the version it had when it was saved, and backward refuses to use it if the
// version has moved since: the values it would read are not the ones the forward pass used.
// The counter lives here, with the data, so that views and detach() share it, as in PyTorch.
//
// Note [small buffers]: a buffer of at most 40 bytes (a scalar, a bias of a few channels)
// lives inside the Storage object itself, 8-byte aligned, and one of up to 4 KB 64 bytes into
// the Storage's block: one allocation instead of two, which is most of what a tape entry of a
// small op costs. Larger buffers are blocks of their own. Blocks are 64-byte aligned and come
// from a small per-thread cache of freed blocks, sorted into size classes (four per power of
// two). Training runs the same shapes step after step, so almost every buffer is a
// block the previous step gave back: no trip through malloc's aligned slow path for small
// tensors, and no page faults on fresh pages for large ones. The cache is bounded
// (storage_cache_limit(), 256 MB per thread unless the environment variable
// TAPEGRAD_STORAGE_CACHE_MB says otherwise; 0 turns it off, e.g. under valgrind); beyond it
// blocks go straight back to the system. The same budget bounds the per-thread pools of the
// small objects every tensor needs (see block_pool.hpp). A block freed on another thread is
// fine: the cache holds raw memory only.
#include <sys/single_threaded.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace tg {

namespace detail {
// Note [reference counts]: tensors and buffers are counted references (Tensor holds a
// TensorImpl, a TensorImpl a Storage). A process that has never started a second thread
// (glibc's __libc_single_threaded) counts with plain loads and stores, as libstdc++'s
// shared_ptr does; once it has, with atomic read-modify-writes, so that threads may share
// tensors (leaves, data) freely.
inline void count_up(std::atomic<std::uint32_t>& c) noexcept {
  if (__libc_single_threaded)
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  else
    c.fetch_add(1, std::memory_order_relaxed);
}
// One reference fewer; true when it was the last.
inline bool count_down(std::atomic<std::uint32_t>& c) noexcept {
  if (__libc_single_threaded) {
    const std::uint32_t left = c.load(std::memory_order_relaxed) - 1;
    c.store(left, std::memory_order_relaxed);
    return left == 0;
  }
  return c.fetch_sub(1, std::memory_order_acq_rel) == 1;
}
}  // namespace detail

class StoragePtr;

class Storage {
 public:
  static StoragePtr make(std::size_t bytes);  // uninitialised data

  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  // The number of in-place writes to this buffer so far (Note [version counters]).
  std::uint32_t version() const { return version_.load(std::memory_order_relaxed); }
  // Note: a load and a store, not an atomic increment: a buffer is written by one thread at a
  // time, and the relaxed atomics only keep a reader on another thread free of data races.
  void bump_version() { version_.store(version() + 1, std::memory_order_relaxed); }
  long use_count() const { return refs_.load(std::memory_order_relaxed); }

  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

 private:
  friend class StoragePtr;
  Storage(void* data, std::size_t bytes) : data_(data), bytes_(bytes) {}
  ~Storage() = default;
  void release();  // frees the data and this object (where each came from follows from bytes_)

  std::atomic<std::uint32_t> refs_{1};
  std::atomic<std::uint32_t> version_{0};
  void* data_;
  std::size_t bytes_;
  // A small buffer follows here, in the same block (Note [small buffers]).
};

// A counted reference to a Storage: what tensors hold. Copying it shares the buffer.
class StoragePtr {
 public:
  StoragePtr() = default;
  StoragePtr(const StoragePtr& other) : p_(other.p_) {
    if (p_) detail::count_up(p_->refs_);
  }
  StoragePtr(StoragePtr&& other) noexcept : p_(std::exchange(other.p_, nullptr)) {}
  StoragePtr& operator=(StoragePtr other) noexcept {
    std::swap(p_, other.p_);
    return *this;
  }
  // Note: a count of 1 means this is the only reference, so no other thread can be copying
  // it: the buffer is released without an atomic decrement (the common case: an op's result).
  ~StoragePtr() {
    if (p_ && (p_->refs_.load(std::memory_order_acquire) == 1 || detail::count_down(p_->refs_))) p_->release();
  }

  Storage* get() const { return p_; }
  Storage* operator->() const { return p_; }
  Storage& operator*() const { return *p_; }
  explicit operator bool() const { return p_ != nullptr; }
  long use_count() const { return p_ ? p_->use_count() : 0; }
  friend bool operator==(const StoragePtr& a, const StoragePtr& b) { return a.p_ == b.p_; }

 private:
  friend class Storage;
  explicit StoragePtr(Storage* p) : p_(p) {}
  Storage* p_ = nullptr;
};

// This thread's caches of freed memory (data blocks and small objects): bytes held, and the
// most they may hold.
std::size_t storage_cache_bytes();
std::size_t storage_cache_limit();
void set_storage_cache_limit(std::size_t bytes);  // 0 disables caching (and empties it)
void empty_storage_cache();                       // gives every cached block back

}  // namespace tg
