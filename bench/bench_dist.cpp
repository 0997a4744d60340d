// SPDX-License-Identifier: MIT
// All-reduce between processes: the cost a data-parallel step pays per gradient bucket
// (docs/distributed.md). Run under MPI, both ranks with the same flags:
//   mpirun -np 2 build/bin/tg_bench --benchmark_filter='^dist/'
// Both ranks print; the figures are the same collective seen from each side. Outside mpirun
// the cases report that they were skipped. The iteration counts are fixed (not chosen from
// the timings, which differ between ranks), so that both ranks run the same collectives.
//   dist/all_reduce/<bytes>: in place, float32, as DDP sends a bucket. bytes_per_second is the
//   algorithm bandwidth (bytes / time); "bus_GBps" is ring all-reduce's traffic per rank,
//   2 (N - 1) / N times the bytes, over the time, the figure a network is compared against.
//   dist/ddp_step/<model>/overlap:<0|1>: one data-parallel training step (SyncBatchNorm, DDP
//   with its default 25 MiB buckets, SGD) of the classic LeNet (global batch 256) or ResNet-18
//   at 28x28 (global batch 64), with the buckets sent during backward (1) or all at its end (0).
#include <cstdint>
#include <cstdlib>
#include <memory>

#include <benchmark/benchmark.h>

#if __has_include("tapegrad/dist/dist.hpp")
#include "lenet/models.hpp"
#include "resnet/models.hpp"
#include "tapegrad/dist/ddp.hpp"
#include "tapegrad/dist/dist.hpp"
#include "tapegrad/tapegrad.hpp"

namespace {

// Started by the first dist case under mpirun, finalized at exit.
bool start_mpi() {
  static std::unique_ptr<tg::dist::Environment> env;
  if (!env && std::getenv("OMPI_COMM_WORLD_SIZE")) env = std::make_unique<tg::dist::Environment>();
  return env && tg::dist::world_size() > 1;
}

void BM_all_reduce(benchmark::State& state) {
  if (!start_mpi()) {
    state.SkipWithError("run under mpirun -np 2 (or more) to measure collectives between processes");
    return;
  }
  const std::int64_t bytes = state.range(0);
  tg::Tensor t = tg::ones({bytes / 4});
  tg::dist::barrier();
  for (auto _ : state) tg::dist::all_reduce_async_(t).wait();
  const double n = tg::dist::world_size();
  state.SetBytesProcessed(state.iterations() * bytes);
  state.counters["bus_GBps"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * static_cast<double>(bytes) * 2 * (n - 1) / n / 1e9,
                         benchmark::Counter::kIsRate);
  state.counters["ranks"] = n;
}

void BM_ddp_step(benchmark::State& state) {
  if (!start_mpi()) {
    state.SkipWithError("run under mpirun -np 2 (or more) to measure data-parallel steps");
    return;
  }
  const bool resnet = state.range(0) == 1;
  const std::int64_t global = resnet ? 64 : 256, batch = global / tg::dist::world_size();
  tg::Generator gen(1);
  std::shared_ptr<tg::Sequential> net =
      resnet ? resnet::resnet18(gen, 10, [](std::int64_t c) { return std::make_shared<tg::dist::SyncBatchNorm>(c); })
             : lenet::classic_lenet(gen);
  tg::dist::DistributedDataParallel ddp(net, {.overlap = state.range(1) == 1});
  tg::SGD optimizer(net->parameters(), 0.05);
  tg::Tensor images = tg::rand({batch, 1, 28, 28}, gen);
  std::vector<std::int64_t> labels(static_cast<std::size_t>(batch));
  for (auto& label : labels) label = static_cast<std::int64_t>(gen.uniform() * 10);
  tg::dist::barrier();
  for (auto _ : state) {
    tg::Tensor loss = tg::cross_entropy(ddp(images), labels);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
  }
  state.counters["images"] =
      benchmark::Counter(static_cast<double>(global), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["sent_early"] = ddp.buckets_sent_early();
  state.counters["buckets"] = static_cast<double>(ddp.buckets().size());
}

}  // namespace

BENCHMARK(BM_ddp_step)
    ->Name("dist/ddp_step")
    ->ArgNames({"resnet", "overlap"})
    ->Args({0, 0})
    ->Args({0, 1})
    ->Args({1, 0})
    ->Args({1, 1})
    ->Iterations(10)
    ->Repetitions(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK(BM_all_reduce)
    ->Name("dist/all_reduce")
    ->Arg(4)
    ->Arg(4 << 10)
    ->Arg(256 << 10)
    ->Arg(1 << 20)
    ->Arg(25 << 20)
    ->Arg(100 << 20)
    ->Iterations(20)
    ->Repetitions(3)
    ->UseRealTime();
#endif
