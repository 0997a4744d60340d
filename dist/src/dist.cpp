// SPDX-License-Identifier: MIT
#include "tapegrad/dist/dist.hpp"

#include <mpi.h>
#include <sched.h>

#include <algorithm>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "tapegrad/function.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/threads.hpp"

namespace tg::dist {

// Note [one communication thread]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Open MPI 4.1 moves a non-blocking collective forward only while the process is inside an
// MPI call: an MPI_Iallreduce started from a gradient hook would mostly wait for the MPI_Wait
// at the end of backward, and overlap nothing. So, as PyTorch's MPI backend does, every
// collective is a blocking MPI call made by one thread of our own, the communication thread,
// which takes the calls from a queue in the order they were submitted. MPI is initialised
// with MPI_THREAD_SERIALIZED (one thread at a time calls it): the main thread calls MPI_Init
// and MPI_Finalize, the communication thread everything in between. While it sits in
// MPI_Allreduce, the main thread goes on computing gradients; the order of the queue is the
// order of the calls, the same on every rank because every rank runs the same program.

struct Work::State {
  const char* call;
  std::function<void()> body;
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  std::exception_ptr error;
};

namespace {

struct Runtime {
  bool alive = false;
  bool we_initialized_mpi = false;
  int rank = 0, size = 1, local_rank = 0, local_size = 1;
  MPI_Comm local = MPI_COMM_NULL;
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  std::atomic<bool> broken{false};  // a collective timed out: MPI cannot be used again
  std::string broken_message;

  std::thread thread;
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<std::shared_ptr<Work::State>> queue;
  bool stopping = false;
};

// Never destroyed: an Environment that lives in a static (a benchmark's, a test fixture's) is
// destroyed at exit after any static made later, and its destructor still needs this.
Runtime& rt() {
  static Runtime* r = new Runtime;
  return *r;
}

void check_mpi(int code, const char* call, const char* mpi_function) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) length = 0;
  fail<DistError>("{}: {} failed on rank {} of {}: {}", call, mpi_function, rt().rank, rt().size,
                  std::string(text, static_cast<std::size_t>(length)));
}

void comm_loop() {
  Runtime& r = rt();
  for (;;) {
    std::shared_ptr<Work::State> work;
    {
      std::unique_lock lock(r.mutex);
      r.cv.wait(lock, [&] { return r.stopping || !r.queue.empty(); });
      if (r.queue.empty()) return;  // stopping, and nothing left
      work = std::move(r.queue.front());
      r.queue.pop_front();
    }
    try {
      work->body();
    } catch (...) {
      std::lock_guard lock(work->mutex);
      work->error = std::current_exception();
    }
    {
      std::lock_guard lock(work->mutex);
      work->done = true;
      work->body = nullptr;  // drops the tensors it held
    }
    work->done_cv.notify_all();
  }
}

void require_alive(const char* call) {
  Runtime& r = rt();
  if (!r.alive)
    fail<DistError>(
        "{}: no tg::dist::Environment is alive; create one at the start of main() "
        "(tg::dist::Environment env(argc, argv);) and start the program with mpirun -np N",
        call);
  if (r.broken.load()) fail<DistError>("{}: MPI cannot be used after an earlier failure: {}", call, r.broken_message);
}

Work submit(const char* call, std::function<void()> body) {
  require_alive(call);
  auto state = std::make_shared<Work::State>();
  state->call = call;
  state->body = std::move(body);
  Runtime& r = rt();
  {
    std::lock_guard lock(r.mutex);
    r.queue.push_back(state);
  }
  r.cv.notify_one();
  return Work(state);
}

MPI_Datatype mpi_type(const char* call, Dtype dtype) {
  switch (dtype) {
    case kFloat32:
      return MPI_FLOAT;
    case kFloat64:
      return MPI_DOUBLE;
    case kInt64:
      return MPI_INT64_T;
    case kBool:
      return MPI_BYTE;  // copied (broadcast_, all_gather), never reduced (check_reduce)
  }
  fail<DtypeError>("{}: tensors of dtype {} cannot be sent", call, dtype_name(dtype));
}

std::size_t element_size(Dtype dtype) { return dtype == kBool ? 1 : dtype == kFloat32 ? 4 : 8; }

void check_tensor(const char* call, const Tensor& t) {
  if (!t.defined()) fail<ValueError>("{}: the tensor is undefined; pass a tensor", call);
  mpi_type(call, t.dtype());
}

// MPI counts are ints: a larger tensor goes in pieces of at most 2^30 elements.
template <class F>
void in_pieces(std::int64_t n, F&& f) {
  constexpr std::int64_t kPiece = std::int64_t{1} << 30;
  for (std::int64_t start = 0; start < n || (n == 0 && start == 0); start += kPiece) {
    f(start, static_cast<int>(std::min(kPiece, n - start)));
    if (n == 0) break;
  }
}

// Every rank's (numel, dtype) must be the same: otherwise MPI truncates or hangs. One small
// all-reduce of (x, -x) under MPI_MAX tells each rank whether all agree.
void check_same_everywhere(const char* call, const Tensor& t) {
  std::int64_t mine[4] = {t.numel(), -t.numel(), static_cast<std::int64_t>(t.dtype()),
                          -static_cast<std::int64_t>(t.dtype())};
  std::int64_t all[4];
  check_mpi(MPI_Allreduce(mine, all, 4, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD), call, "MPI_Allreduce");
  if (all[0] != -all[1] || all[2] != -all[3])
    fail<DistError>(
        "{}: the ranks passed different tensors: rank {} has shape {} ({}), while others have between {} and {} "
        "elements; every rank must pass a tensor of the same shape and dtype",
        call, rt().rank, t.shape(), dtype_name(t.dtype()), -all[1], all[0]);
}

template <class T>
void sum_in_rank_order(T* out, const T* gathered, std::int64_t n, int ranks) {
  std::copy(gathered, gathered + n, out);
  for (int k = 1; k < ranks; ++k) {
    const T* part = gathered + static_cast<std::int64_t>(k) * n;
    for (std::int64_t i = 0; i < n; ++i) out[i] += part[i];
  }
}

// The all-reduce itself, on the communication thread.
void reduce_now(const char* call, Tensor& t, const ReduceOptions& options) {
  Runtime& r = rt();
  MPI_Datatype type = mpi_type(call, t.dtype());
  std::int64_t n = t.numel();
  const bool sum = options.op == ReduceOp::kSum || options.op == ReduceOp::kMean;
  if (options.fixed_order && sum && r.size > 1) {
    const std::size_t bytes = element_size(t.dtype());
    std::vector<unsigned char> gathered(static_cast<std::size_t>(n) * static_cast<std::size_t>(r.size) * bytes);
    if (n > INT_MAX / r.size)
      fail<DistError>(
          "{}: fixed_order gathers {} elements from each of {} ranks, more than one MPI call can take; "
          "reduce in smaller buckets",
          call, n, r.size);
    check_mpi(MPI_Allgather(t.raw_data(), static_cast<int>(n), type, gathered.data(), static_cast<int>(n), type,
                            MPI_COMM_WORLD),
              call, "MPI_Allgather");
    if (t.dtype() == kFloat32)
      sum_in_rank_order(t.data<float>(), reinterpret_cast<const float*>(gathered.data()), n, r.size);
    else if (t.dtype() == kFloat64)
      sum_in_rank_order(t.data<double>(), reinterpret_cast<const double*>(gathered.data()), n, r.size);
    else
      sum_in_rank_order(t.data<std::int64_t>(), reinterpret_cast<const std::int64_t*>(gathered.data()), n, r.size);
  } else if (r.size > 1) {
    MPI_Op op = sum ? MPI_SUM : options.op == ReduceOp::kMax ? MPI_MAX : MPI_MIN;
    auto* base = static_cast<unsigned char*>(t.raw_data());
    const std::size_t bytes = element_size(t.dtype());
    in_pieces(n, [&](std::int64_t start, int count) {
      check_mpi(
          MPI_Allreduce(MPI_IN_PLACE, base + static_cast<std::size_t>(start) * bytes, count, type, op, MPI_COMM_WORLD),
          call, "MPI_Allreduce");
    });
  }
  if (options.op == ReduceOp::kMean && r.size > 1) {
    if (t.dtype() == kFloat32) {
      float* p = t.data<float>();
      for (std::int64_t i = 0; i < n; ++i) p[i] /= static_cast<float>(r.size);
    } else {
      double* p = t.data<double>();
      for (std::int64_t i = 0; i < n; ++i) p[i] /= static_cast<double>(r.size);
    }
  }
  t.bump_version();
}

void check_reduce(const char* call, const Tensor& t, const ReduceOptions& options) {
  check_tensor(call, t);
  if (t.dtype() == kBool)
    fail<DtypeError>(
        "{}: bool tensors cannot be reduced; convert with t.to(tg::kInt64) and reduce with kMax (any) "
        "or kMin (all)",
        call);
  if (options.op == ReduceOp::kMean && t.dtype() == kInt64)
    fail<DtypeError>(
        "{}: the mean of int64 tensors is not an int64; reduce with ReduceOp::kSum and divide, or "
        "convert to float64 first",
        call);
}

int threads_per_rank(int local_size) {
  cpu_set_t set;
  int affinity = 0;
  if (sched_getaffinity(0, sizeof set, &set) == 0) affinity = CPU_COUNT(&set);
  int cores = static_cast<int>(std::thread::hardware_concurrency());
  if (cores <= 0) cores = affinity > 0 ? affinity : 1;
  int n = std::max(1, cores / std::max(1, local_size));
  if (affinity > 0) n = std::min(n, affinity);
  return n;
}

}  // namespace

// ---- Work ----

Work& Work::operator=(Work&& other) noexcept {
  if (this != &other) {
    if (state_) {
      try {
        wait();
      } catch (...) {
      }
    }
    state_ = std::move(other.state_);
  }
  return *this;
}

Work::~Work() {
  if (!state_) return;
  try {
    wait();
  } catch (...) {
    // A destructor must not throw; the error was (or will be) reported by whoever waits next.
  }
}

bool Work::completed() const {
  if (!state_) return true;
  std::lock_guard lock(state_->mutex);
  return state_->done;
}

void Work::wait() {
  if (!state_) return;
  std::shared_ptr<State> state = std::move(state_);
  std::unique_lock lock(state->mutex);
  Runtime& r = rt();
  if (!state->done_cv.wait_for(lock, r.timeout, [&] { return state->done; })) {
    std::string message = fmt::format(
        "{}: rank {} of {} waited {} s and the collective did not finish: another rank died, hangs, or made a "
        "different collective (every rank must make the same calls in the same order). If a rank is only slow "
        "(rank 0 writing a checkpoint or evaluating), raise the timeout with TAPEGRAD_DIST_TIMEOUT=<seconds> or "
        "EnvironmentOptions::timeout",
        state->call, r.rank, r.size, std::chrono::duration_cast<std::chrono::seconds>(r.timeout).count());
    if (!r.broken.exchange(true)) r.broken_message = message;
    throw DistError(message);
  }
  if (state->error) std::rethrow_exception(state->error);
}

// ---- the environment ----

Environment::Environment(int& argc, char**& argv, EnvironmentOptions options) {
  Runtime& r = rt();
  if (r.alive) fail<DistError>("Environment: a tg::dist::Environment is already alive; create exactly one, in main()");
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized)
      fail<DistError>(
          "Environment: MPI was already finalized in this process, and MPI cannot start twice; "
          "create one tg::dist::Environment for the whole of main()");
    int provided = 0;
    check_mpi(MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided), "Environment", "MPI_Init_thread");
    r.we_initialized_mpi = true;
    if (provided < MPI_THREAD_SERIALIZED) {
      MPI_Finalize();
      r.we_initialized_mpi = false;
      fail<DistError>(
          "Environment: this MPI library gives thread level {}, and tapegrad needs MPI_THREAD_SERIALIZED "
          "({}) to run collectives on its communication thread; use an MPI built with thread support "
          "(Debian's Open MPI is)",
          provided, static_cast<int>(MPI_THREAD_SERIALIZED));
    }
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  check_mpi(MPI_Comm_rank(MPI_COMM_WORLD, &r.rank), "Environment", "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(MPI_COMM_WORLD, &r.size), "Environment", "MPI_Comm_size");
  check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, r.rank, MPI_INFO_NULL, &r.local), "Environment",
            "MPI_Comm_split_type");
  MPI_Comm_rank(r.local, &r.local_rank);
  MPI_Comm_size(r.local, &r.local_size);

  r.timeout = options.timeout;
  if (const char* env = std::getenv("TAPEGRAD_DIST_TIMEOUT"); env && *env) {
    char* end = nullptr;
    double seconds = std::strtod(env, &end);
    if (end == env || *end != '\0' || !(seconds > 0))
      fail<ValueError>("Environment: TAPEGRAD_DIST_TIMEOUT={} is not a positive number of seconds", env);
    r.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
  }
  if (r.timeout.count() <= 0)
    fail<ValueError>("Environment: the timeout must be positive, got {} ms", r.timeout.count());
  if (options.share_cores && !std::getenv("OMP_NUM_THREADS")) set_num_threads(threads_per_rank(r.local_size));

  r.broken = false;
  r.stopping = false;
  r.alive = true;
  uncaught_ = std::uncaught_exceptions();
  r.thread = std::thread(comm_loop);
}

Environment::~Environment() {
  Runtime& r = rt();
  if (std::uncaught_exceptions() > uncaught_ && !r.broken.load()) {
    // An error is leaving the scope that runs MPI on this rank alone: the other ranks would
    // wait for its next collective until their timeout. End the whole job now.
    std::fprintf(stderr, "tapegrad: rank %d of %d is ending the job: an error left the scope of its Environment\n",
                 r.rank, r.size);
    std::fflush(stderr);
    std::fflush(stdout);
    if (r.size > 1) MPI_Abort(MPI_COMM_WORLD, 1);
  }
  if (r.broken.load()) {
    // The communication thread is stuck inside MPI: MPI_Finalize would wait for it forever.
    std::fprintf(stderr, "tapegrad: rank %d of %d exits after a failed collective: %s\n", r.rank, r.size,
                 r.broken_message.c_str());
    std::fflush(stderr);
    std::fflush(stdout);
    std::_Exit(1);
  }
  {
    std::lock_guard lock(r.mutex);
    r.stopping = true;
  }
  r.cv.notify_one();
  if (r.thread.joinable()) r.thread.join();
  r.alive = false;
  if (r.local != MPI_COMM_NULL) MPI_Comm_free(&r.local);
  if (r.we_initialized_mpi) MPI_Finalize();
  r.we_initialized_mpi = false;
  r.rank = 0;
  r.size = r.local_size = 1;
  r.local_rank = 0;
}

bool is_initialized() { return rt().alive; }
int rank() { return rt().rank; }
int world_size() { return rt().size; }
int local_rank() { return rt().local_rank; }
int local_size() { return rt().local_size; }

std::string processor_name() {
  require_alive("processor_name");
  char name[MPI_MAX_PROCESSOR_NAME];
  int length = 0;
  std::string out;
  submit("processor_name", [&] {
    check_mpi(MPI_Get_processor_name(name, &length), "processor_name", "MPI_Get_processor_name");
    out.assign(name, static_cast<std::size_t>(length));
  }).wait();
  return out;
}

void set_timeout(std::chrono::milliseconds timeout) {
  if (timeout.count() <= 0) fail<ValueError>("set_timeout: the timeout must be positive, got {} ms", timeout.count());
  rt().timeout = timeout;
}
std::chrono::milliseconds timeout() { return rt().timeout; }

// ---- collectives ----

Work all_reduce_async_(Tensor& t, ReduceOptions options) {
  check_reduce("all_reduce_async_", t, options);
  return submit("all_reduce_async_", [t, options]() mutable { reduce_now("all_reduce_async_", t, options); });
}

void all_reduce_(Tensor& t, ReduceOptions options) {
  check_reduce("all_reduce_", t, options);
  submit("all_reduce_", [&] {
    check_same_everywhere("all_reduce_", t);
    reduce_now("all_reduce_", t, options);
  }).wait();
}

void broadcast_(Tensor& t, int root) {
  check_tensor("broadcast_", t);
  require_alive("broadcast_");
  if (root < 0 || root >= rt().size)
    fail<ValueError>("broadcast_: root {} is not a rank; the ranks are 0 .. {}", root, rt().size - 1);
  submit("broadcast_", [&] {
    check_same_everywhere("broadcast_", t);
    const std::size_t bytes = element_size(t.dtype());
    auto* base = static_cast<unsigned char*>(t.raw_data());
    in_pieces(t.numel(), [&](std::int64_t start, int count) {
      check_mpi(MPI_Bcast(base + static_cast<std::size_t>(start) * bytes, count, mpi_type("broadcast_", t.dtype()),
                          root, MPI_COMM_WORLD),
                "broadcast_", "MPI_Bcast");
    });
  }).wait();
  t.bump_version();
}

std::vector<Tensor> all_gather(const Tensor& t) {
  check_tensor("all_gather", t);
  require_alive("all_gather");
  const int size = rt().size;
  if (t.numel() > INT_MAX / size)
    fail<ValueError>(
        "all_gather: {} elements from each of {} ranks are more than one MPI call can take; gather "
        "smaller pieces",
        t.numel(), size);
  Shape shape{size};
  for (std::int64_t d : t.shape()) shape.push_back(d);
  Tensor all = empty(shape, {.dtype = t.dtype()});
  submit("all_gather", [&] {
    check_same_everywhere("all_gather", t);
    MPI_Datatype type = mpi_type("all_gather", t.dtype());
    int n = static_cast<int>(t.numel());
    check_mpi(MPI_Allgather(t.raw_data(), n, type, all.raw_data(), n, type, MPI_COMM_WORLD), "all_gather",
              "MPI_Allgather");
  }).wait();
  std::vector<Tensor> out;
  for (int k = 0; k < size; ++k) out.push_back(all.select(0, k).clone());
  return out;
}

void barrier() {
  submit("barrier", [] { check_mpi(MPI_Barrier(MPI_COMM_WORLD), "barrier", "MPI_Barrier"); }).wait();
}

// ---- the differentiable all-reduce ----

namespace {
// The sum over ranks in place: checked (every rank's shape compared first, one more small
// collective) for a user's call, unchecked where the shapes agree by construction.
void sum_in_place(Tensor& t, bool checked) {
  if (checked)
    all_reduce_(t);
  else
    all_reduce_async_(t).wait();
}

struct AllReduceSum : Function<AllReduceSum> {
  static constexpr const char* name = "all_reduce_sum";
  static constexpr bool once_differentiable = true;
  static Tensor forward(AutogradContext& ctx, const Tensor& x, bool checked) {
    ctx.saved_data["checked"] = checked;
    ctx.saved_data["shape"] = x.shape();
    ctx.saved_data["dtype"] = x.dtype();
    Tensor y = x.clone();
    sum_in_place(y, checked);
    return y;
  }
  // Every rank's loss depends on every rank's x: the gradient of x is the sum over ranks of
  // the gradients of y. A rank whose loss does not use y sends zeros, so that every rank
  // still makes the same collective.
  static std::vector<Tensor> backward(AutogradContext& ctx, const std::vector<Tensor>& grads) {
    Tensor g = grads[0].defined() ? grads[0].clone()
                                  : zeros(std::any_cast<Shape>(ctx.saved_data.at("shape")),
                                          {.dtype = std::any_cast<Dtype>(ctx.saved_data.at("dtype"))});
    sum_in_place(g, std::any_cast<bool>(ctx.saved_data.at("checked")));
    return {g};
  }
};
}  // namespace

Tensor all_reduce_sum(const Tensor& x) {
  check_tensor("all_reduce_sum", x);
  require_alive("all_reduce_sum");
  return AllReduceSum::apply(x, true);
}

namespace detail {
Tensor all_reduce_sum_unchecked(const Tensor& x) {
  check_tensor("all_reduce_sum", x);
  require_alive("all_reduce_sum");
  return AllReduceSum::apply(x, false);
}
}  // namespace detail

}  // namespace tg::dist
