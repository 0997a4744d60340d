#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Two builds of tg_bench side by side, in paired rounds.

    python3 bench/compare_builds.py BEFORE/tg_bench AFTER/tg_bench --filter tape/tiny_loop --rounds 15

Each round runs one case on both binaries back to back (which goes first alternates), so a
machine that changes speed between runs (a virtual machine's CPU state, a neighbour's load)
moves both halves of a pair together. It prints, per case, the median time of each build and
the median over rounds of after / before, with its range. Only the standard library: build
the "before" binary from an older commit in a directory of its own, e.g.

    git worktree add /tmp/before <commit> && cmake -S /tmp/before -B /tmp/before/build \\
        -DCMAKE_BUILD_TYPE=Release && cmake --build /tmp/before/build --target tg_bench
"""

import argparse
import json
import statistics
import subprocess
import sys

UNITS = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}


def run(binary, case, min_time):
    """Microseconds per iteration of the benchmarks whose names match `case`, by name."""
    try:
        out = subprocess.run(
            [binary, f"--benchmark_filter={case}", f"--benchmark_min_time={min_time}", "--benchmark_format=json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"compare_builds.py: could not run {binary}: {e}")
    if not out.strip():  # Google Benchmark prints nothing when the filter matches no case
        return {}
    return {b["run_name"]: b["real_time"] * UNITS[b["time_unit"]] for b in json.loads(out)["benchmarks"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", help="tg_bench of the reference build")
    parser.add_argument("after", help="tg_bench of the build measured against it")
    parser.add_argument("--filter", default="tape/(tiny_loop|seed_20_steps)", help="Google Benchmark filter (regex)")
    parser.add_argument("--rounds", type=int, default=15, help="paired rounds (default 15)")
    parser.add_argument("--min-time", type=float, default=0.3, help="seconds per case per run (default 0.3)")
    args = parser.parse_args()
    if args.rounds < 1:
        sys.exit("compare_builds.py: --rounds must be at least 1")

    times = {"before": {}, "after": {}}
    ratios = {}
    for r in range(args.rounds):
        order = ("before", "after") if r % 2 == 0 else ("after", "before")
        got = {who: run(getattr(args, who), args.filter, args.min_time) for who in order}
        for name in sorted(set(got["before"]) & set(got["after"])):
            for who in ("before", "after"):
                times[who].setdefault(name, []).append(got[who][name])
            ratios.setdefault(name, []).append(got["after"][name] / got["before"][name])
    if not ratios:
        sys.exit(f"compare_builds.py: no case matches '{args.filter}' in both builds")

    width = max(len(n) for n in ratios)
    print(f"{'case':{width}}  {'before':>12}  {'after':>12}  after/before (median of {args.rounds} pairs, range)")
    for name, rs in ratios.items():
        b, a = statistics.median(times["before"][name]), statistics.median(times["after"][name])
        print(f"{name:{width}}  {b:10.3f}us  {a:10.3f}us  {statistics.median(rs):.3f} ({min(rs):.3f} - {max(rs):.3f})")


if __name__ == "__main__":
    main()
