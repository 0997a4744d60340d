#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The cost model of docs/distributed.md: data-parallel step time and scaling efficiency
on N machines, from one machine's measured compute time and ring all-reduce on paper.

    python3 bench/dist_cost_model.py            # the tables of docs/distributed.md (markdown)

Model (weak scaling: each machine keeps its own batch b, the global batch is N b):
  compute(b)  = b / (images or sequences per second of one machine)     measured here
  allreduce   = 2 (N - 1) / N * S / BW  +  2 (N - 1) * alpha * buckets   (ring all-reduce)
  step, no overlap   = compute + allreduce
  step, full overlap = max(compute, forward + allreduce), forward = compute / 3
  efficiency         = compute / step;  speedup = N * efficiency
S is the gradient in bytes (float32), BW the link's bandwidth in bytes per second, alpha the
latency of one message. Every input is a constant below, with where it comes from.
"""

# One machine = this 2-core VM, one process with 2 threads (docs/distributed.md, "Measured").
MODELS = {
    # name: (parameters, throughput per machine in items/s, items per machine per step, unit)
    "ResNet-18 28x28": (11_178_378, 825.0, 256, "images"),
    "ResNet-18 96x96": (11_178_378, 40.0, 256, "images"),
    "char-LM gpt": (434_033, 23_000.0 / 64, 32, "sequences of 64"),  # 23k tokens/s
}
NETWORKS = {  # name: (bytes per second, latency per message in seconds)
    "10 Gbit/s": (10e9 / 8, 30e-6),  # Ethernet with TCP
    "100 Gbit/s": (100e9 / 8, 5e-6),  # InfiniBand / RoCE
}
BUCKET_BYTES = 25 * 2**20
MACHINES = (2, 8, 64)


def buckets(params):
    size = params * 4
    return 1 + max(0, -(-(size - 2**20) // BUCKET_BYTES))  # a first bucket of 1 MiB, then 25 MiB


def step(params, rate, batch, n, bw, alpha, overlap):
    compute = batch / rate
    comm = 2 * (n - 1) / n * params * 4 / bw + 2 * (n - 1) * alpha * buckets(params)
    total = max(compute, compute / 3 + comm) if overlap else compute + comm
    return compute, comm, total


def main():
    print("| model | network | machines | compute (s) | all-reduce (s) | step, no overlap (s) | efficiency |"
          " step, overlap (s) | efficiency |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, (params, rate, batch, _) in MODELS.items():
        for net, (bw, alpha) in NETWORKS.items():
            for n in MACHINES:
                c, m, t0 = step(params, rate, batch, n, bw, alpha, False)
                _, _, t1 = step(params, rate, batch, n, bw, alpha, True)
                print(f"| {name} | {net} | {n} | {c:.3f} | {m:.4f} | {t0:.3f} | {c / t0:.2f} | {t1:.3f} | "
                      f"{c / t1:.2f} |")
    print()
    print("Smallest batch per machine for 80% efficiency without overlap (all-reduce <= compute / 4),"
          " for N -> infinity:")
    print()
    print("| model | network | gradient (MB) | batch per machine |")
    print("|---|---|---|---|")
    for name, (params, rate, batch, unit) in MODELS.items():
        for net, (bw, alpha) in NETWORKS.items():
            # comm ~ 2 S / BW + 2 N alpha k; take the bandwidth term (and alpha at N = 64)
            comm = 2 * params * 4 / bw + 2 * 63 * alpha * buckets(params)
            need = 4 * comm * rate
            print(f"| {name} | {net} | {params * 4 / 1e6:.1f} | {need:.0f} {unit} |")


if __name__ == "__main__":
    main()
