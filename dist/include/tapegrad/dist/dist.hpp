// SPDX-License-Identifier: MIT
#pragma once
// tg::dist: collectives over MPI (Open MPI on Debian), as torch.distributed with the MPI
// backend. One process per rank, started by mpirun:
//
//   int main(int argc, char** argv) {
//     tg::dist::Environment env(argc, argv);  // MPI_Init_thread; MPI_Finalize at scope exit
//     tg::Tensor t = tg::full({3}, tg::dist::rank() + 1.0);
//     tg::dist::all_reduce_(t);                // every rank: [3, 3, 3] with 2 ranks
//   }
//   $ mpirun -np 2 ./app
//
// Every collective runs on one communication thread that the Environment starts (Note [one
// communication thread] in dist.cpp): the calls a rank makes are issued to MPI in the order it
// makes them, so every rank must make the same collectives in the same order, as with MPI
// itself. The *_async forms return at once with a Work to wait on; the others wait.
//
// Failure: an MPI error is a tg::DistError naming the call. A collective that has not finished
// within timeout() (a rank that died, or never makes the call) is a DistError too; the process
// can then not use MPI again, and the Environment's destructor calls MPI_Abort (which ends
// every rank) instead of MPI_Finalize, which would wait forever. When a rank is killed, mpirun
// itself also ends the others.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad/error.hpp"
#include "tapegrad/tensor.hpp"

namespace tg {

// A collective that failed or did not finish in time.
class DistError : public Error {
 public:
  using Error::Error;
};

namespace dist {

struct EnvironmentOptions {
  // How long any one collective may take before it is a DistError. Generous, so that a rank
  // that waits while rank 0 writes a checkpoint or evaluates is never killed. The environment
  // variable TAPEGRAD_DIST_TIMEOUT (seconds) overrides it.
  std::chrono::seconds timeout{std::chrono::minutes(10)};
  // Give each rank (cores of this machine) / (ranks on this machine) threads (at least one),
  // unless OMP_NUM_THREADS is set: two ranks with two threads each on two cores would make
  // every thread wait for a preempted one. set_num_threads() afterwards still changes it.
  bool share_cores = true;
};

// Initializes MPI (MPI_THREAD_SERIALIZED: only the communication thread calls it) and starts
// the communication thread; the destructor waits for the collectives in flight and finalizes.
// One per process, in main(). Without mpirun the process is a world of one rank. An exception
// that leaves the Environment's scope ends the whole job (MPI_Abort): the other ranks would
// otherwise wait for this one's next collective until their timeout.
class Environment {
 public:
  Environment(int& argc, char**& argv, EnvironmentOptions options = {});
  Environment() : Environment(no_argc_, no_argv_) {}
  explicit Environment(EnvironmentOptions options) : Environment(no_argc_, no_argv_, options) {}
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

 private:
  int uncaught_ = 0;  // std::uncaught_exceptions() when it was made
  static inline int no_argc_ = 0;
  static inline char** no_argv_ = nullptr;
};

bool is_initialized();  // an Environment is alive
int rank();             // 0 .. world_size() - 1; 0 without an Environment
int world_size();       // 1 without an Environment
int local_rank();       // among the ranks on this machine
int local_size();       // ranks on this machine
// The processor this rank runs on, as MPI_Get_processor_name.
std::string processor_name();

void set_timeout(std::chrono::milliseconds timeout);
std::chrono::milliseconds timeout();

enum class ReduceOp { kSum, kMean, kMax, kMin };

struct ReduceOptions {
  ReduceOp op = ReduceOp::kSum;
  // Gather every rank's tensor, then add them in rank order on every rank: the same bits on
  // every run for a given world size (MPI_Allreduce may change its order with the message
  // size or the network). Costs world_size() times the memory and more traffic. Sum and mean.
  bool fixed_order = false;
};

// A collective in flight. wait() returns once it is done (rethrowing its DistError); a Work
// that is destroyed unwaited waits in its destructor (without throwing).
class Work {
 public:
  Work() = default;
  Work(Work&&) noexcept = default;
  Work& operator=(Work&&) noexcept;
  ~Work();
  void wait();
  bool completed() const;  // done (or failed): wait() will not block
  struct State;            // dist.cpp
  explicit Work(std::shared_ptr<State> state) : state_(std::move(state)) {}

 private:
  std::shared_ptr<State> state_;
};

// All ranks' tensors combined elementwise, in place on every rank (float32, float64 or int64;
// contiguous, same shape and dtype on every rank). Writes through data(): bumps the version.
void all_reduce_(Tensor& t, ReduceOptions options = {});
inline void all_reduce_(Tensor& t, ReduceOp op) { all_reduce_(t, ReduceOptions{.op = op}); }
Work all_reduce_async_(Tensor& t, ReduceOptions options = {});
// Rank `root`'s tensor copied into t on every other rank.
void broadcast_(Tensor& t, int root = 0);
// Every rank's t (same shape and dtype on every rank), in rank order.
std::vector<Tensor> all_gather(const Tensor& t);
void barrier();

// Differentiable all-reduce (sum), as torch.distributed.nn.functional.all_reduce: returns the
// sum over ranks of x; its backward all-reduces the gradient, since every rank's loss depends
// on every rank's x. Every rank must call backward through it. SyncBatchNorm is built on it.
Tensor all_reduce_sum(const Tensor& x);

namespace detail {
// all_reduce_sum without comparing the ranks' shapes first (one collective fewer), for
// callers whose shapes agree by construction: SyncBatchNorm's per-channel statistics.
Tensor all_reduce_sum_unchecked(const Tensor& x);
}  // namespace detail

}  // namespace dist
}  // namespace tg
