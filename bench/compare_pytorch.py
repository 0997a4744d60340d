#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tapegrad and PyTorch side by side: the cases of tg_bench, timed in both, in one table.

Usage (from the repository root, after `cmake --build build --target tg_bench`):

    /usr/bin/python3 bench/compare_pytorch.py [--threads 1,2] [--filter REGEX]
        [--repetitions 3] [--bin build/bin/tg_bench] [--stat best|median]
        [--markdown] [--json OUT] [--competitor N]

For each thread count it runs tg_bench (Google Benchmark, JSON output), then the same cases
in PyTorch (bench/pytorch_cases.py: torch.set_num_threads(n); same shapes and definitions; a
warm-up call, then --repetitions samples of >= 0.25 s each, timed with time.perf_counter)
and, for the two tape cases, in libtorch C++ (bench/libtorch_ref.cpp, compiled once with g++ into
<build>/bench-libtorch/ when /usr/include/torch exists). The table shows the best (or
median) time per iteration, throughput where a case has one, and ratios
PyTorch time / tapegrad time: above 1, tapegrad is faster. The header gives the CPU model and the
measured float32 FMA peak (tg_bench's peak/fma), and each FLOP-counted case tapegrad's share of
it. With --competitor N, N CPU-bound
processes (a Python busy loop each) run beside every case on both sides: on a loaded machine a
second thread must not make anything slower (compare the 1- and 2-thread rows).

On Debian, PyTorch is `python3-torch`, installed for Debian's own interpreter: run this
script with /usr/bin/python3. Without torch it says so and prints tapegrad's numbers alone.
Only the standard library is needed besides the optional torch.

The char_lm example against its PyTorch twin (bench/char_lm.py), instead of the tg_bench cases:

    /usr/bin/python3 bench/compare_pytorch.py --char-lm [--char-lm-bin build/bin/char_lm]
        [--char-lm-parts speed,learning,check] [--char-lm-speed-steps 200] [--char-lm-runs 1]
        [--char-lm-steps 1000] [--char-lm-seeds 0,1,2] [--json OUT]

  speed     training tokens/s of gpt and lstm at one thread (the `tok_per_s` of a run of
            --char-lm-speed-steps steps, evaluation excluded), best of --char-lm-runs runs each;
            PyTorch runs once per OpenBLAS kernel choice (OPENBLAS_CORETYPE unset: OpenBLAS's own
            detection; forced to SKYLAKEX, the AVX-512 kernel; and an inherited setting, if any)
            and the fastest counts. Ratio tapegrad tok/s / PyTorch tok/s = PyTorch time / tapegrad
            time: above 1, tapegrad is faster. Run it on an idle machine.
  learning  gpt, default configuration, --char-lm-steps steps for each of --char-lm-seeds, each
            side from its own initialisation: `final val_loss` (whole validation text) per seed
            and the relative difference of the two seed averages (target: within 3%). The two
            sides of a seed run at the same time, one thread each.
  check     `bench/char_lm.py compare` for gpt and lstm: the same initial weights, 20 steps on
            both sides, logits, loss, gradients, losses and the checkpoint compared (see char_lm.py).
The exit status is 1 when a check fails or the learning target is missed.
"""
import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from pytorch_cases import blas_library, measure, set_blas_threads, torch_cases, work_of

REPO = Path(__file__).resolve().parent.parent
LIBTORCH_INCLUDE = Path("/usr/include/torch")
TIME_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
LIBTORCH_CASES = ("tape/tiny_loop", "tape/seed_20_steps")  # the cases of bench/libtorch_ref.cpp


# ---- running each side ----
def fail(message):
    sys.exit(f"compare_pytorch: {message}")


def case_name(benchmark_name):
    """tg_bench's cases use wall-clock time, which Google Benchmark adds to their names."""
    return re.sub(r"/real_time$", "", benchmark_name)


def list_tapegrad(binary):
    result = subprocess.run([str(binary), "--benchmark_list_tests"], capture_output=True, text=True)
    if result.returncode != 0:
        fail(f"{binary} --benchmark_list_tests exited with status {result.returncode}: {result.stderr}")
    return [case_name(line.strip()) for line in result.stdout.splitlines() if line.strip()]


def run_tapegrad(binary, threads, cases, repetitions):
    """case -> seconds per iteration, one per repetition; and tg_bench's context."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "tg_bench.json"
        # The cases by their exact names, so that a --filter means the same on both sides.
        exact = "^(" + "|".join(re.escape(c) for c in cases) + ")(/real_time)?$"
        command = [str(binary), f"--threads={threads}", f"--benchmark_out={out}", "--benchmark_out_format=json",
                   f"--benchmark_repetitions={repetitions}", f"--benchmark_filter={exact}"]
        print(f"compare_pytorch: {' '.join(command)}", file=sys.stderr, flush=True)
        # The console report goes to stderr, to show progress; the JSON goes to the file.
        result = subprocess.run(command, stdout=sys.stderr)
        if result.returncode != 0:
            fail(f"{binary} exited with status {result.returncode}")
        report = json.loads(out.read_text())
    samples = {}
    for entry in report["benchmarks"]:
        if entry.get("run_type") != "iteration" or "error_occurred" in entry:
            continue
        samples.setdefault(case_name(entry["run_name"]), []).append(entry["real_time"] * TIME_UNITS[entry["time_unit"]])
    return samples, report.get("context", {})


def fma_peak(binary, threads):
    """GFLOP/s of tg_bench's peak/fma (float32 multiply-adds at the CPU's widest vectors) on
    `threads` threads, or None where it cannot run."""
    result = subprocess.run([str(binary), f"--threads={threads}", "--benchmark_filter=^peak/fma",
                             "--benchmark_repetitions=3", "--benchmark_format=json"], capture_output=True, text=True)
    if result.returncode != 0:
        return None
    rates = [b["FLOPs"] for b in json.loads(result.stdout)["benchmarks"]
             if b.get("run_type") == "iteration" and "error_occurred" not in b and "FLOPs" in b]
    return max(rates) / 1e9 if rates else None


def run_pytorch(torch, setups, threads, names, repetitions):
    torch.set_num_threads(threads)
    set_blas_threads(threads)
    samples = {}
    for name in names:
        print(f"compare_pytorch: PyTorch, {threads} thread(s): {name}", file=sys.stderr, flush=True)
        torch.manual_seed(0)
        try:
            samples[name] = measure(setups[name](), repetitions)
        except Exception as e:  # one failing case should not hide the others
            print(f"compare_pytorch: PyTorch {name} failed: {e}", file=sys.stderr)
    return samples


def build_libtorch_ref(build_dir):
    """Path of the compiled libtorch_ref, or None (with a message) when it cannot be built."""
    if not LIBTORCH_INCLUDE.is_dir():
        print(f"compare_pytorch: no libtorch column ({LIBTORCH_INCLUDE} not found; Debian: libtorch-dev)",
              file=sys.stderr)
        return None
    source = REPO / "bench" / "libtorch_ref.cpp"
    binary = build_dir / "bench-libtorch" / "libtorch_ref"
    if binary.exists() and binary.stat().st_mtime >= source.stat().st_mtime:
        return binary
    compiler = shutil.which("g++")
    if compiler is None:
        print("compare_pytorch: no libtorch column (g++ not found)", file=sys.stderr)
        return None
    binary.parent.mkdir(parents=True, exist_ok=True)
    command = [compiler, "-O2", "-std=c++17", f"-I{LIBTORCH_INCLUDE}/csrc/api/include", str(source),
               "-o", str(binary), "-ltorch", "-ltorch_cpu", "-lc10"]
    print(f"compare_pytorch: compiling the libtorch reference (about a minute): {' '.join(command)}",
          file=sys.stderr, flush=True)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        print(f"compare_pytorch: no libtorch column (compiling {source.name} failed):\n{result.stderr[-2000:]}",
              file=sys.stderr)
        return None
    return binary


def run_libtorch(binary, threads, cases, repetitions):
    print(f"compare_pytorch: libtorch, {threads} thread(s): {', '.join(cases)}", file=sys.stderr, flush=True)
    result = subprocess.run([str(binary), str(threads), str(repetitions), *cases], capture_output=True, text=True)
    if result.returncode != 0:
        print(f"compare_pytorch: libtorch_ref failed ({result.returncode}): {result.stderr[-1000:]}", file=sys.stderr)
        return {}
    return json.loads(result.stdout)


# ---- the report ----
def machine():
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores"


def load_note():
    """Other programs running at the same time skew every number: say so when they are."""
    load = os.getloadavg()[0]
    busy = load > 0.5 * (os.cpu_count() or 1)
    return f"load average {load:.2f} at the start" + (" (a busy machine: expect noisy times)" if busy else "")


@contextlib.contextmanager
def competitors(count):
    """`count` CPU-bound processes (a busy loop each) running beside everything measured inside:
    a loaded machine, on which a second thread must not make anything slower."""
    processes = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for process in processes:
            process.kill()
            process.wait()


def format_time(seconds):
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def format_cell(case, seconds):
    if seconds is None:
        return "-"
    text = format_time(seconds)
    work = work_of(case)
    if work is None:
        return text
    amount, kind = work
    if kind == "FLOP":
        return f"{text} ({amount / seconds / 1e9:.1f} GFLOP/s)"
    if kind == "images":
        return f"{text} ({amount / seconds:,.0f} img/s)"
    return f"{text} ({seconds / amount * 1e9:.0f} ns/entry)"


def format_ratio(reference, ours):
    return "-" if reference is None or ours is None else f"{reference / ours:.2f}x"


def print_table(header, rows, markdown):
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    def line(cells):  # the case name left-aligned, numbers right-aligned
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.split("\n")[1:]))
    parser.add_argument("--bin", default=str(REPO / "build" / "bin" / "tg_bench"), help="the tg_bench binary")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default: 1,2)")
    parser.add_argument("--filter", default="", help="only the cases matching this regex (e.g. 'tape|conv2d/lenet')")
    parser.add_argument("--repetitions", type=int, default=3, help="timed samples per case (default: 3)")
    parser.add_argument("--stat", choices=("best", "median"), default="best", help="which sample the table shows")
    parser.add_argument("--markdown", action="store_true", help="print the table as markdown")
    parser.add_argument("--json", metavar="OUT", help="also save every sample and the context as JSON")
    parser.add_argument("--competitor", type=int, default=0, metavar="N",
                        help="run N CPU-bound processes beside every case, both sides (default: 0, an idle machine)")
    group = parser.add_argument_group("char_lm (--char-lm): the example against bench/char_lm.py")
    group.add_argument("--char-lm", action="store_true", help="run the char_lm comparison instead of tg_bench's cases")
    group.add_argument("--char-lm-bin", default=str(REPO / "build" / "bin" / "char_lm"), help="the char_lm binary")
    group.add_argument("--char-lm-parts", default="speed,learning,check", help="any of speed,learning,check")
    group.add_argument("--char-lm-speed-steps", type=int, default=200, help="steps of each speed run (200)")
    group.add_argument("--char-lm-runs", type=int, default=1, help="speed runs per side and kernel, best kept (1)")
    group.add_argument("--char-lm-steps", type=int, default=1000, help="steps of each learning run (1000)")
    group.add_argument("--char-lm-seeds", default="0,1,2", help="seeds of the learning runs (0,1,2)")
    args = parser.parse_args()
    if args.char_lm:
        return char_lm_main(args, parser)
    try:
        thread_counts = [int(t) for t in args.threads.split(",") if t.strip()]
    except ValueError:
        parser.error(f"--threads wants comma-separated whole numbers, got '{args.threads}'")
    if not thread_counts or min(thread_counts) < 1:
        parser.error("--threads wants at least one thread count, each >= 1")
    if args.repetitions < 1:
        parser.error("--repetitions must be >= 1")
    try:
        selected = re.compile(args.filter)
    except re.error as e:
        parser.error(f"--filter is not a valid regex: {e}")

    binary = Path(args.bin)
    if not binary.is_file() or not os.access(binary, os.X_OK):
        fail(f"{binary} not found; build it with cmake --build build --target tg_bench "
             "(or pass its path with --bin)")

    try:
        import torch
        setups, torch_version, blas = torch_cases(torch), torch.__version__, blas_library(torch)
    except (ImportError, OSError):
        torch, setups, torch_version, blas = None, {}, None, None
        print(f"compare_pytorch: torch is not installed for {sys.executable}: tapegrad's numbers only "
              "(on Debian, install python3-torch and run this script with /usr/bin/python3)", file=sys.stderr)
    wanted_torch = [c for c in setups if selected.search(c)]
    wanted_libtorch = [c for c in LIBTORCH_CASES if selected.search(c)] if torch else []
    libtorch_binary = build_libtorch_ref(binary.resolve().parent.parent) if wanted_libtorch else None

    wanted_tapegrad = [c for c in list_tapegrad(binary) if selected.search(c) and not c.startswith("peak/")]
    if not wanted_tapegrad and not wanted_torch:
        fail(f"no case matches --filter '{args.filter}'")
    if args.competitor < 0:
        parser.error("--competitor wants a count >= 0")
    load = load_note()
    if args.competitor:
        load += f"; {args.competitor} competing CPU-bound process(es) ran beside every case"
    results, context = [], {}
    peaks = {threads: fma_peak(binary, threads) for threads in thread_counts}
    with competitors(args.competitor):
        for threads in thread_counts:
            ours, context = (run_tapegrad(binary, threads, wanted_tapegrad, args.repetitions) if wanted_tapegrad
                             else ({}, {}))
            pytorch = run_pytorch(torch, setups, threads, wanted_torch, args.repetitions) if torch else {}
            libtorch = (run_libtorch(libtorch_binary, threads, wanted_libtorch, args.repetitions) if libtorch_binary
                        else {})
            for case in [*ours, *(c for c in pytorch if c not in ours)]:
                results.append({"case": case, "threads": threads, "tapegrad": ours.get(case),
                                "pytorch": pytorch.get(case), "libtorch": libtorch.get(case)})

    pick = min if args.stat == "best" else statistics.median
    value = lambda samples: pick(samples) if samples else None
    print(f"machine: {machine()}, {load}")
    print(f"tapegrad: {context.get('compiler', 'unknown compiler')}, {context.get('tapegrad_build', '')}")
    if torch:
        print(f"PyTorch: {torch_version} (Python {platform.python_version()}, {sys.executable})")
        print(f"PyTorch's BLAS: {blas or 'unknown'}")
        if blas and "/blas/libblas.so" in blas:
            print("  warning: that is the reference BLAS (Debian's libblas3), many times slower than OpenBLAS:"
                  " install libopenblas0-pthread for a representative matmul and Linear comparison")
    else:
        print(f"PyTorch: not installed for {sys.executable} (Debian: python3-torch, run with /usr/bin/python3)")
    print(f"libtorch: {'bench/libtorch_ref.cpp, g++ -O2' if libtorch_binary else 'not measured'}")
    print("measured float32 FMA peak (tg_bench peak/fma): " + ", ".join(
        f"{peaks[t]:.0f} GFLOP/s on {t} thread(s)" if peaks[t] else f"not measured on {t} thread(s)"
        for t in thread_counts))
    print(f"each cell: the {args.stat} of {args.repetitions} repetition(s), time per iteration; "
          "ratio = PyTorch time / tapegrad time (above 1: tapegrad is faster)")
    print()
    header = ["case", "threads", "tapegrad", "tapegrad % of peak", "PyTorch (Python)", "libtorch", "ratio PyTorch",
              "ratio libtorch"]
    rows = []
    for r in results:
        t, p, l = value(r["tapegrad"]), value(r["pytorch"]), value(r["libtorch"])
        work, peak = work_of(r["case"]), peaks.get(r["threads"])
        share = (f"{100 * work[0] / t / 1e9 / peak:.0f}%" if t and peak and work and work[1] == "FLOP" else "-")
        rows.append([r["case"], str(r["threads"]), format_cell(r["case"], t), share, format_cell(r["case"], p),
                     format_cell(r["case"], l), format_ratio(p, t), format_ratio(l, t)])
    print_table(header, rows, args.markdown)

    if args.json:
        Path(args.json).write_text(json.dumps({
            "machine": machine(), "load": load, "tg_bench_context": context, "torch": torch_version, "torch_blas": blas,
            "python": sys.executable, "repetitions": args.repetitions, "unit": "seconds per iteration",
            "fma_peak_gflops": {str(t): peaks[t] for t in thread_counts},
            "results": results}, indent=1) + "\n")


# ---- char_lm (--char-lm): the example against its PyTorch twin ----
CHAR_LM_TWIN = REPO / "bench" / "char_lm.py"
CHAR_LM_LEARNING_TARGET = 0.03  # relative difference of the seed averages of the final validation loss
NUMBER = r"([-+0-9.eEinfa]+)"


def blas_variants():
    """(label, environment) for each OpenBLAS kernel choice PyTorch is run with: the variable unset
    (OpenBLAS detects the CPU), forced to the AVX-512 kernel, and the inherited setting if another."""
    base = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    variants = [("detected", base), ("SKYLAKEX", {**base, "OPENBLAS_CORETYPE": "SKYLAKEX"})]
    inherited = os.environ.get("OPENBLAS_CORETYPE", "")
    if inherited and inherited.upper() != "SKYLAKEX":
        variants.append((f"{inherited} (inherited)", {**base, "OPENBLAS_CORETYPE": inherited}))
    named = []
    for label, env in variants:  # the kernel OpenBLAS picks under that environment
        probe = subprocess.run([sys.executable, "-c", "import ctypes; lib = ctypes.CDLL('libopenblas.so.0'); "
                                "lib.openblas_get_corename.restype = ctypes.c_char_p; "
                                "print(lib.openblas_get_corename().decode())"], env=env, capture_output=True, text=True)
        core = probe.stdout.strip() if probe.returncode == 0 else "?"
        named.append((f"{label}: {core}", env))
    return named


def char_lm_command(side, binary, model, steps, seed=0, eval_every=None, eval_batches=None):
    """The command line of one run, the same flags on both sides."""
    program = [str(binary)] if side == "tapegrad" else [sys.executable, str(CHAR_LM_TWIN), "train"]
    flags = ["--model", model, "--steps", steps, "--seed", seed, "--threads", 1, "--sample", 0]
    if eval_every is not None:
        flags += ["--eval-every", eval_every]
    if eval_batches is not None:
        flags += ["--eval-batches", eval_batches]
    return program + [str(f) for f in flags]


def start_char_lm(command, env=None):
    print(f"compare_pytorch: {' '.join(command)}", file=sys.stderr, flush=True)
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_char_lm(process):
    """The run's step lines (step, train_loss, val_loss, tok_per_s) and its final validation loss."""
    out, err = process.communicate()
    if process.returncode != 0:
        fail(f"{' '.join(process.args)} exited with status {process.returncode}:\n{out[-1500:]}\n{err[-1500:]}")
    steps = [tuple(float(v) for v in m.groups()) for m in re.finditer(
        rf"^step {NUMBER} train_loss {NUMBER} val_loss {NUMBER} tok_per_s {NUMBER}", out, re.M)]
    final = re.search(rf"^final val_loss {NUMBER}", out, re.M)
    if not final:
        fail(f"no `final val_loss` line in the output of {' '.join(process.args)}:\n{out[-1500:]}")
    return {"steps": steps, "final_val_loss": float(final.group(1))}


def tokens_per_second(process):
    """The tok_per_s of a run's last step line (with --eval-every = --steps: the rate over every step)."""
    steps = finish_char_lm(process)["steps"]
    if not steps:
        fail(f"no `step ... tok_per_s` line in the output of {' '.join(process.args)}")
    return steps[-1][3]


def char_lm_speed(binary, steps, runs):
    """model -> tok/s of tapegrad and of PyTorch under each OpenBLAS kernel (best of `runs`)."""
    variants = blas_variants()
    results = {}
    for model in ("gpt", "lstm"):
        row = {"tapegrad": 0.0, "pytorch": {}}
        for _ in range(runs):
            # one line, at the last step: the rate over every step (evaluation excluded)
            row["tapegrad"] = max(row["tapegrad"], tokens_per_second(
                start_char_lm(char_lm_command("tapegrad", binary, model, steps, 0, steps, 1))))
            for label, env in variants:
                row["pytorch"][label] = max(row["pytorch"].get(label, 0.0), tokens_per_second(
                    start_char_lm(char_lm_command("pytorch", binary, model, steps, 0, steps, 1), env)))
        results[model] = row
    return results


def char_lm_learning(binary, steps, seeds):
    """seed -> final validation loss of each side (default configuration; both sides at once)."""
    results = {}
    for seed in seeds:
        both = {side: start_char_lm(char_lm_command(side, binary, "gpt", steps, seed)) for side in ("tapegrad", "pytorch")}
        results[seed] = {side: finish_char_lm(p)["final_val_loss"] for side, p in both.items()}
    return results


def char_lm_check(binary):
    """model -> True when `char_lm.py compare` passes; its report goes to stdout as it runs."""
    passed = {}
    for model in ("gpt", "lstm"):
        command = [sys.executable, str(CHAR_LM_TWIN), "compare", "--model", model, "--tg", str(binary)]
        print(f"compare_pytorch: {' '.join(command)}", file=sys.stderr, flush=True)
        sys.stdout.flush()
        passed[model] = subprocess.run(command).returncode == 0
    return passed


def char_lm_main(args, parser):
    parts = {p.strip() for p in args.char_lm_parts.split(",") if p.strip()}
    if not parts or parts - {"speed", "learning", "check"}:
        parser.error(f"--char-lm-parts wants some of speed,learning,check, got '{args.char_lm_parts}'")
    try:
        seeds = [int(s) for s in args.char_lm_seeds.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--char-lm-seeds wants comma-separated whole numbers, got '{args.char_lm_seeds}'")
    binary = Path(args.char_lm_bin)
    if not binary.is_file() or not os.access(binary, os.X_OK):
        fail(f"{binary} not found; build the char_lm example (or pass its path with --char-lm-bin)")
    try:
        import torch
    except ImportError:
        fail(f"--char-lm needs torch, which is not installed for {sys.executable} (Debian: python3-torch, "
             "run this script with /usr/bin/python3)")

    print(f"machine: {machine()}, {load_note()}")
    print(f"tapegrad: {binary}; PyTorch: {torch.__version__} ({sys.executable}), {CHAR_LM_TWIN.relative_to(REPO)}")
    report, failed = {"machine": machine(), "load": load_note(), "torch": torch.__version__}, False
    if "speed" in parts:
        speed = char_lm_speed(binary, args.char_lm_speed_steps, args.char_lm_runs)
        labels = list(next(iter(speed.values()))["pytorch"])
        print(f"\nspeed: training tokens/s, one thread, {args.char_lm_speed_steps} steps of batch 32 x 64, "
              f"best of {args.char_lm_runs} run(s); PyTorch under each OpenBLAS kernel, the fastest counts; "
              f"ratio = tapegrad tok/s / PyTorch tok/s = PyTorch time / tapegrad time (above 1: tapegrad is faster)")
        rows = []
        for model, row in speed.items():
            best = max(row["pytorch"].values())
            rows.append([model, f"{row['tapegrad']:,.0f}", *(f"{row['pytorch'][l]:,.0f}" for l in labels),
                         f"{best:,.0f}", format_ratio(row["tapegrad"], best)])
        print_table(["model", "tapegrad", *(f"PyTorch, {l}" for l in labels), "PyTorch best", "ratio"], rows,
                    args.markdown)
        print(f"(load average {os.getloadavg()[0]:.2f} at the end of the speed runs)")
        report["speed"] = speed
    if "learning" in parts:
        learning = char_lm_learning(binary, args.char_lm_steps, seeds)
        print(f"\nlearning: gpt, default configuration, {args.char_lm_steps} steps, final val_loss "
              "(whole validation text), each side from its own initialisation")
        rows = [[str(seed), f"{r['tapegrad']:.4f}", f"{r['pytorch']:.4f}"] for seed, r in learning.items()]
        mean = {side: statistics.mean(r[side] for r in learning.values()) for side in ("tapegrad", "pytorch")}
        difference = abs(mean["tapegrad"] - mean["pytorch"]) / mean["pytorch"]
        rows.append(["mean", f"{mean['tapegrad']:.4f}", f"{mean['pytorch']:.4f}"])
        print_table(["seed", "tapegrad", "PyTorch"], rows, args.markdown)
        within = difference <= CHAR_LM_LEARNING_TARGET
        print(f"relative difference of the means |tapegrad - PyTorch| / PyTorch: {difference:.2%} "
              f"({'within' if within else 'NOT within'} the {CHAR_LM_LEARNING_TARGET:.0%} target)")
        failed |= not within
        report["learning"] = {"steps": args.char_lm_steps, "final_val_loss": learning,
                              "relative_difference_of_means": difference}
    if "check" in parts:
        print("\ncorrectness: bench/char_lm.py compare (same initial weights, 20 steps, one thread)", flush=True)
        check = char_lm_check(binary)
        print("correctness: " + ", ".join(f"{m} {'ok' if ok else 'FAILED'}" for m, ok in check.items()))
        failed |= not all(check.values())
        report["check"] = check
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
