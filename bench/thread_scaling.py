#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Does a second thread help, and never hurt? tapegrad alone, 1 and 2 threads, idle and loaded.

Usage (from the repository root, after `cmake --build build --target tg_bench char_lm`):

    python3 bench/thread_scaling.py [--threads 1,2] [--competitors 0,1] [--rounds 3]
        [--filter REGEX] [--bin build/bin/tg_bench] [--char-lm-bin build/bin/char_lm]
        [--char-lm-steps 60] [--markdown]

For each load (0 or N CPU-bound competing processes, a Python busy loop each, running beside
every measurement) it times each tg_bench case matching --filter (default: the small product,
the two LeNet steps and matmul 1024) and the char_lm example's gpt and lstm training (tokens/s
over --char-lm-steps steps, evaluation excluded) at each thread count. The thread counts are
run in alternation, --rounds times, and the best time of each counts. The table gives the time
per thread count and the gain of the most threads over one thread (above 1: faster).
The targets (docs/performance.md, "Threads that never hurt"): with one competitor every case at
least 0.9; idle, the LeNet step at least 1.6 and char_lm above 1.
"""
import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_pytorch import competitors, format_time, load_note, machine  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_FILTER = r"^(matmul/shape/n:32/k:28/m:128|matmul/1024|lenet/(classic|modern)_step)/"


def tg_bench(binary, threads, pattern):
    """case -> seconds per iteration (the median of three repetitions)."""
    out = subprocess.run([str(binary), "--threads", str(threads), f"--benchmark_filter={pattern}",
                          "--benchmark_repetitions=3", "--benchmark_report_aggregates_only=true",
                          "--benchmark_format=json"], check=True, capture_output=True, text=True).stdout
    times = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("aggregate_name") == "median":
            scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
            times[b["run_name"].removesuffix("/real_time")] = b["real_time"] * scale
    if not times:
        sys.exit(f"thread_scaling: no tg_bench case matches {pattern!r}")
    return times


def char_lm(binary, model, threads, steps):
    """Seconds per token of one training run (the inverse of its tok_per_s)."""
    out = subprocess.run([str(binary), "--model", model, "--steps", str(steps), "--eval-every", str(steps),
                          "--eval-batches", "1", "--threads", str(threads), "--sample", "0", "--seed", "0"],
                         check=True, capture_output=True, text=True).stdout
    rates = re.findall(r"^step \S+ train_loss \S+ val_loss \S+ tok_per_s (\S+)", out, re.M)
    if not rates:
        sys.exit(f"thread_scaling: no tok_per_s line from {binary} --model {model}:\n{out[-800:]}")
    return 1.0 / float(rates[-1])


def measure(args, threads):
    times = tg_bench(args.bin, threads, args.filter)
    if args.char_lm_steps > 0:
        for model in ("gpt", "lstm"):
            times[f"char_lm/{model} (per token)"] = char_lm(args.char_lm_bin, model, threads, args.char_lm_steps)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", default="1,2", help="thread counts, comma-separated (first: the baseline)")
    parser.add_argument("--competitors", default="0,1", help="loads to run under, comma-separated process counts")
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds; the best time counts")
    parser.add_argument("--filter", default=DEFAULT_FILTER, help="tg_bench cases (a regex)")
    parser.add_argument("--bin", default=str(REPO / "build" / "bin" / "tg_bench"))
    parser.add_argument("--char-lm-bin", default=str(REPO / "build" / "bin" / "char_lm"))
    parser.add_argument("--char-lm-steps", type=int, default=60, help="training steps per char_lm run (0: skip)")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    thread_counts = [int(t) for t in args.threads.split(",")]
    loads = [int(c) for c in args.competitors.split(",")]
    if len(thread_counts) < 2 or min(thread_counts) < 1 or min(loads) < 0 or args.rounds < 1:
        parser.error("want at least two thread counts >= 1, loads >= 0 and rounds >= 1")
    for path in [args.bin] + ([args.char_lm_bin] if args.char_lm_steps > 0 else []):
        if not os.access(path, os.X_OK):
            parser.error(f"{path} is not an executable: build it first (cmake --build build --target tg_bench char_lm)")

    print(f"# {machine()}; {load_note()}")
    for load in loads:
        best = {}
        with competitors(load):
            for _ in range(args.rounds):
                for threads in thread_counts:
                    for case, seconds in measure(args, threads).items():
                        key = (case, threads)
                        best[key] = min(best.get(key, seconds), seconds)
        cases = sorted({case for case, _ in best})
        header = ["case"] + [f"{t} thread{'s' if t > 1 else ''}" for t in thread_counts] + \
                 [f"gain {thread_counts[-1]} / {thread_counts[0]}"]
        rows = [[case] + [format_time(best[(case, t)]) for t in thread_counts] +
                [f"{best[(case, thread_counts[0])] / best[(case, thread_counts[-1])]:.2f}"] for case in cases]
        print(f"\n## {load} competing process{'es' if load != 1 else ''} (best of {args.rounds} rounds)")
        if args.markdown:
            print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
            for row in rows:
                print("| " + " | ".join(row) + " |")
        else:
            widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
            for row in [header] + rows:
                print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))


if __name__ == "__main__":
    main()
