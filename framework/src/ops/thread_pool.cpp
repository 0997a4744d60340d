// SPDX-License-Identifier: MIT
#include "ops/thread_pool.hpp"

#include <omp.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace tg::kernels {

namespace {

thread_local bool in_chunk = false;

// Every chunk in order on the calling thread (slot 0), which counts as inside a loop meanwhile.
void serial(std::int64_t chunks, ChunkFunction f, void* context) {
  struct Inside {
    bool outer = std::exchange(in_chunk, true);
    ~Inside() { in_chunk = outer; }
  } inside;
  for (std::int64_t c = 0; c < chunks; ++c) f(context, 0, c);
}

void relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Spins until pred() or kSpinMicroseconds have passed; returns pred().
template <class Pred>
bool spin_until(Pred pred) {
  using Clock = std::chrono::steady_clock;
  const auto until = Clock::now() + std::chrono::microseconds(kSpinMicroseconds);
  for (int i = 0;; ++i) {
    if (pred()) return true;
    relax();
    if (i % 64 == 63 && Clock::now() > until) return pred();
  }
}

// The pool. A loop ("job") is published as: its fields, then `gate` opened, then `epoch`
// advanced. A worker joins by adding one to the gate's count while it is open, reads the job
// (acquire: it sees the fields), claims chunks from `next`, and leaves by taking one off the
// count. The caller, when no chunk is left to claim, closes the gate and waits for the count to
// reach zero: after that no worker touches the job, whose function lives on the caller's stack.
class Pool {
 public:
  void run(int threads, std::int64_t chunks, ChunkFunction f, void* context) {
    std::unique_lock<std::mutex> busy(job_mutex_, std::try_to_lock);
    if (!busy) return serial(chunks, f, context);  // another thread's loop has the pool
    grow(threads - 1);
    function_.store(f, std::memory_order_relaxed);
    context_.store(context, std::memory_order_relaxed);
    chunks_.store(chunks, std::memory_order_relaxed);
    next_.store(0, std::memory_order_relaxed);
    slots_.store(1, std::memory_order_relaxed);
    max_slots_.store(threads, std::memory_order_relaxed);
    gate_.store(kOpen, std::memory_order_release);
    epoch_.fetch_add(1, std::memory_order_release);
    epoch_.notify_all();

    in_chunk = true;
    work(0);
    in_chunk = false;

    std::uint32_t g = gate_.fetch_and(~kOpen, std::memory_order_acq_rel) & ~kOpen;
    if (g != 0 && !spin_until([&] { return gate_.load(std::memory_order_acquire) == 0; }))
      while ((g = gate_.load(std::memory_order_acquire)) != 0) gate_.wait(g, std::memory_order_acquire);
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

 private:
  static constexpr std::uint32_t kOpen = 1u << 31;

  // Runs chunks until none is left. An exception (std::bad_alloc from a kernel's scratch)
  // ends the job: the chunks not yet started are skipped, and the caller rethrows the first.
  void work(int slot) noexcept {
    ChunkFunction f = function_.load(std::memory_order_relaxed);
    void* context = context_.load(std::memory_order_relaxed);
    const std::int64_t chunks = chunks_.load(std::memory_order_relaxed);
    for (std::int64_t c; (c = next_.fetch_add(1, std::memory_order_relaxed)) < chunks;) {
      try {
        f(context, slot, c);
      } catch (...) {
        next_.store(chunks, std::memory_order_relaxed);
        std::lock_guard<std::mutex> lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
      }
    }
  }

  // Called with job_mutex_ held.
  void grow(int workers) {
    while (static_cast<int>(workers_.size()) < workers) {
      workers_.emplace_back([this] { serve(); });
      workers_.back().detach();
    }
  }

  void serve() {
    in_chunk = true;  // a loop inside a chunk runs on its thread
    std::uint32_t seen = epoch_.load(std::memory_order_acquire);
    for (;;) {
      if (!spin_until([&] { return epoch_.load(std::memory_order_acquire) != seen; }))
        epoch_.wait(seen, std::memory_order_acquire);
      seen = epoch_.load(std::memory_order_acquire);
      if (!join()) continue;
      if (int slot = slots_.fetch_add(1, std::memory_order_relaxed); slot < max_slots_.load(std::memory_order_relaxed))
        work(slot);
      if (gate_.fetch_sub(1, std::memory_order_release) == 1) gate_.notify_all();  // the last one out, gate closed
    }
  }

  bool join() {
    std::uint32_t g = gate_.load(std::memory_order_relaxed);
    while (g & kOpen)
      if (gate_.compare_exchange_weak(g, g + 1, std::memory_order_acquire, std::memory_order_relaxed)) return true;
    return false;
  }

  std::mutex job_mutex_;
  std::mutex error_mutex_;
  std::exception_ptr error_;  // written under error_mutex_, read by the caller after every worker left
  std::vector<std::thread> workers_;
  std::atomic<std::uint32_t> epoch_{0};
  std::atomic<std::uint32_t> gate_{0};  // kOpen | the number of workers inside the job
  std::atomic<ChunkFunction> function_{nullptr};
  std::atomic<void*> context_{nullptr};
  std::atomic<std::int64_t> chunks_{0};
  std::atomic<std::int64_t> next_{0};
  std::atomic<int> slots_{0};
  std::atomic<int> max_slots_{0};
};

// Never destroyed: its workers sleep until the process exits (joining them from a static
// destructor would race with other threads still running loops at exit).
Pool& pool() {
  static Pool* p = new Pool;
  return *p;
}

}  // namespace

bool in_parallel() { return in_chunk || omp_in_parallel(); }

void run_chunks(int threads, std::int64_t chunks, ChunkFunction f, void* context) {
  if (chunks <= 0) return;
  if (threads <= 1 || chunks == 1 || in_parallel()) return serial(chunks, f, context);
  pool().run(threads, chunks, f, context);
}

}  // namespace tg::kernels
