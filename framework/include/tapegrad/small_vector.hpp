// SPDX-License-Identifier: MIT
#pragma once
// SmallVector<T, N>: a vector that keeps its first N elements inside itself and moves to the
// heap only beyond them.
//
// Note: a tape entry holds a few lists (its inputs, outputs and saved tensors); almost every
// op has one or two of each, so storing them inline means recording an op allocates nothing
// for them, while an op with many inputs (cat) still works.
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

namespace tg {

template <class T, std::size_t N>
class SmallVector {
  static_assert(N > 0);

 public:
  SmallVector() = default;
  SmallVector(SmallVector&& other) noexcept { take(std::move(other)); }
  SmallVector& operator=(SmallVector&& other) noexcept {
    if (this != &other) {
      reset();
      take(std::move(other));
    }
    return *this;
  }
  SmallVector(const SmallVector&) = delete;
  SmallVector& operator=(const SmallVector&) = delete;
  ~SmallVector() { reset(); }

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* data() { return on_heap() ? heap_ : inline_data(); }
  const T* data() const { return on_heap() ? heap_ : inline_data(); }
  T& operator[](std::size_t i) { return data()[i]; }
  const T& operator[](std::size_t i) const { return data()[i]; }
  T* begin() { return data(); }
  T* end() { return data() + size_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size_; }
  T& back() { return data()[size_ - 1]; }

  void reserve(std::size_t n) {
    if (n <= capacity_) return;
    T* fresh = static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{alignof(T)}));
    T* old = data();
    for (std::size_t i = 0; i < size_; ++i) {
      ::new (fresh + i) T(std::move(old[i]));
      old[i].~T();
    }
    if (on_heap()) ::operator delete (heap_, std::align_val_t{alignof(T)});
    heap_ = fresh;
    capacity_ = static_cast<std::uint32_t>(n);
  }
  template <class... Args>
  T& emplace_back(Args&&... args) {
    if (size_ == capacity_) reserve(2 * capacity_);
    T* p = ::new (data() + size_) T(std::forward<Args>(args)...);
    ++size_;
    return *p;
  }
  void push_back(T value) { emplace_back(std::move(value)); }
  void clear() {
    T* p = data();
    for (std::size_t i = 0; i < size_; ++i) p[i].~T();
    size_ = 0;
  }

 private:
  bool on_heap() const { return capacity_ > N; }
  T* inline_data() { return std::launder(reinterpret_cast<T*>(storage_)); }
  const T* inline_data() const { return std::launder(reinterpret_cast<const T*>(storage_)); }
  void reset() {
    clear();
    if (on_heap()) ::operator delete (heap_, std::align_val_t{alignof(T)});
    capacity_ = N;
  }
  void take(SmallVector&& other) {  // this is empty and inline
    if (other.on_heap()) {
      heap_ = other.heap_;
      capacity_ = other.capacity_;
      size_ = other.size_;
      other.capacity_ = N;
      other.size_ = 0;
      return;
    }
    for (std::size_t i = 0; i < other.size_; ++i) ::new (inline_data() + i) T(std::move(other.inline_data()[i]));
    size_ = other.size_;
    other.clear();
  }

  union {
    alignas(T) unsigned char storage_[N * sizeof(T)];
    T* heap_;
  };
  std::uint32_t size_ = 0;
  std::uint32_t capacity_ = N;
};

}  // namespace tg
