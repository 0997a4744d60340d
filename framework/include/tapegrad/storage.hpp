#pragma once
// Storage: one contiguous, 64-byte aligned buffer. Tensors that are views of each other
// (reshape, detach) share a Storage; everything else gets a fresh one.
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

}  // namespace tg
