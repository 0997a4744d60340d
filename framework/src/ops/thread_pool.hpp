// SPDX-License-Identifier: MIT
#pragma once
// The threads that tapegrad's kernels split their work over: parallel_for (ops/parallel_for.hpp),
// conv2d's batches (ops/conv2d_threads.hpp) and kernels::gemm (isa/gemm.cpp) all run through
// parallel_chunks.
//
// Note [thread pool]: work is cut into chunks, and the calling thread and the pool's workers
// take the next chunk when they finish one, so that a thread the scheduler holds back (another
// program wanting the core) leaves at most one chunk for the others to wait on. A worker that
// finds no work spins for kSpinMicroseconds, in case the next loop follows at once (a training
// step runs hundreds of them), and then sleeps on a futex (std::atomic::wait), so that on a
// loaded machine it gives its core back instead of spinning against the thread it waits for.
// OpenMP's workers (GCC's libgomp) spin for about 300,000 iterations before sleeping, and
// there is no call to change that once the library is loaded (only OMP_WAIT_POLICY and
// GOMP_SPINCOUNT, read at start): with one competing process, a LeNet step on two threads took
// twice as long as on one.
//
// One loop at a time: a loop started while another thread's loop runs (several user threads
// calling tapegrad) runs on its calling thread alone, as does a loop started inside a chunk or
// inside the user's own OpenMP region.
#include <cstdint>
#include <type_traits>

namespace tg::kernels {

// Spin time of an idle worker before it sleeps; measured in docs/performance.md ("Threads that
// never hurt").
inline constexpr std::int64_t kSpinMicroseconds = 50;

// True inside a chunk of parallel_chunks, or inside an OpenMP parallel region.
bool in_parallel();

using ChunkFunction = void (*)(void* context, int slot, std::int64_t chunk);
void run_chunks(int threads, std::int64_t chunks, ChunkFunction f, void* context);

// Calls f(slot, chunk) once for every chunk in [0, chunks), on at most `threads` threads;
// `slot` (in [0, threads)) names the thread for per-thread scratch: no two calls with the same
// slot overlap. Returns when every call has returned. If a call throws, the chunks not yet
// started are skipped and the first exception is rethrown on the calling thread.
template <class F>
void parallel_chunks(int threads, std::int64_t chunks, F&& f) {
  using Fn = std::remove_reference_t<F>;
  run_chunks(
      threads, chunks, [](void* context, int slot, std::int64_t chunk) { (*static_cast<Fn*>(context))(slot, chunk); },
      const_cast<void*>(static_cast<const void*>(&f)));
}

}  // namespace tg::kernels
