#pragma once
// Storage: one contiguous, 64-byte aligned buffer. Tensors that are views of each other
// (reshape, detach) share a Storage; everything else gets a fresh one.
//
// Note: buffers come from a small per-thread cache of freed blocks, sorted into size
// classes (four per power of two). Training runs the same shapes step after step, so
// almost every buffer is a block the previous step gave back: no trip through malloc's
// aligned slow path for small tensors, and no page faults on fresh pages for large ones.
// The cache is bounded (storage_cache_limit(), 256 MB per thread unless the environment
// variable TAPEGRAD_STORAGE_CACHE_MB says otherwise; 0 turns it off, e.g. under valgrind);
// beyond it blocks go straight back to the system. It is a cache of raw memory only, so a
// block freed on another thread is fine.
#include <cstddef>
#include <memory>

namespace tg {

class Storage {
 public:
  explicit Storage(std::size_t bytes);  // uninitialised
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }

 private:
  void* data_;
  std::size_t bytes_;
};

// This thread's cache of freed buffers: bytes held, and the most it may hold.
std::size_t storage_cache_bytes();
std::size_t storage_cache_limit();
void set_storage_cache_limit(std::size_t bytes);  // 0 disables caching (and empties it)
void empty_storage_cache();                       // gives every cached block back

}  // namespace tg
