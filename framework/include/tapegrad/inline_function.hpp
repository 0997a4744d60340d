// SPDX-License-Identifier: MIT
#pragma once
// InlineFunction: a move-only std::function that keeps callables up to `Capacity` bytes
// inside itself instead of on the heap.
//
// Note: every recorded op stores one backward closure, and a typical closure captures two
// or three tensors (16 bytes each). std::function keeps only 16 bytes inline, so it would
// allocate once per op; this type does not, which is a large share of the cost of
// recording small ops. Larger callables still work: they are moved to the heap.
#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace tg {

template <class Signature, std::size_t Capacity>
class InlineFunction;

template <class R, class... Args, std::size_t Capacity>
class InlineFunction<R(Args...), Capacity> {
 public:
  InlineFunction() = default;
  InlineFunction(std::nullptr_t) {}  // NOLINT: implicit, like std::function

  template <class F>
  requires(!std::is_same_v<std::decay_t<F>, InlineFunction> && std::is_invocable_r_v<R, std::decay_t<F>&, Args...>)
      InlineFunction(F&& f) {  // NOLINT: implicit, like std::function
    using D = std::decay_t<F>;
    if constexpr (fits_inline<D>()) {
      ::new (static_cast<void*>(buffer_)) D(std::forward<F>(f));
      ops_ = &kInlineOps<D>;
    } else {
      ::new (static_cast<void*>(buffer_)) D*(new D(std::forward<F>(f)));
      ops_ = &kHeapOps<D>;
    }
  }

  InlineFunction(InlineFunction&& other) noexcept : ops_(other.ops_) {
    if (ops_) ops_->move(buffer_, other.buffer_);
    other.ops_ = nullptr;
  }
  InlineFunction& operator=(InlineFunction&& other) noexcept {
    if (this != &other) {
      reset();
      ops_ = other.ops_;
      if (ops_) ops_->move(buffer_, other.buffer_);
      other.ops_ = nullptr;
    }
    return *this;
  }
  InlineFunction& operator=(std::nullptr_t) noexcept {
    reset();
    return *this;
  }
  InlineFunction(const InlineFunction&) = delete;
  InlineFunction& operator=(const InlineFunction&) = delete;
  ~InlineFunction() { reset(); }

  explicit operator bool() const { return ops_ != nullptr; }
  R operator()(Args... args) { return ops_->call(buffer_, std::forward<Args>(args)...); }

 private:
  struct Ops {
    R (*call)(void* self, Args... args);
    void (*move)(void* to, void* from);  // move-constructs into `to`, destroys `from`
    void (*destroy)(void* self);
  };

  template <class D>
  static constexpr bool fits_inline() {
    return sizeof(D) <= Capacity && alignof(D) <= alignof(std::max_align_t) && std::is_nothrow_move_constructible_v<D>;
  }

  template <class D>
  static constexpr Ops kInlineOps = {
      [](void* self, Args... args) -> R { return (*static_cast<D*>(self))(std::forward<Args>(args)...); },
      [](void* to, void* from) {
        ::new (to) D(std::move(*static_cast<D*>(from)));
        static_cast<D*>(from)->~D();
      },
      [](void* self) { static_cast<D*>(self)->~D(); },
  };

  template <class D>
  static constexpr Ops kHeapOps = {
      [](void* self, Args... args) -> R { return (**static_cast<D**>(self))(std::forward<Args>(args)...); },
      [](void* to, void* from) { ::new (to) D*(*static_cast<D**>(from)); },
      [](void* self) { delete *static_cast<D**>(self); },
  };

  void reset() {
    if (ops_) ops_->destroy(buffer_);
    ops_ = nullptr;
  }

  alignas(std::max_align_t) unsigned char buffer_[Capacity];
  const Ops* ops_ = nullptr;
};

}  // namespace tg
