#include "tapegrad/storage.hpp"

#include <cstdlib>
#include <new>

namespace tg {

namespace {
constexpr std::size_t kAlignment = 64;  // one cache line; the widest SIMD load (AVX-512)
}

Storage::Storage(std::size_t bytes) : bytes_(bytes) {
  // aligned_alloc wants a multiple of the alignment, and a non-zero size.
  std::size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  data_ = std::aligned_alloc(kAlignment, rounded == 0 ? kAlignment : rounded);
  if (data_ == nullptr) throw std::bad_alloc();
}

Storage::~Storage() { std::free(data_); }

}  // namespace tg
