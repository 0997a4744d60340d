#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fuzzes the file readers with libFuzzer: configures a clang build with TAPEGRAD_FUZZ=ON,
# builds fuzz_npy, fuzz_safetensors and fuzz_idx, and runs each for SECONDS seconds on a
# fresh copy of its seed corpus (tests/fuzz/<reader>/). Prints executions, coverage and time
# per target; exits non-zero on any crash, leak, timeout or sanitizer report, naming the
# input that caused it.
#
#   scripts/fuzz.sh [SECONDS] [READER...]      SECONDS defaults to 60; READER is npy,
#                                              safetensors or idx (default: all three)
# Environment:
#   TAPEGRAD_FUZZ_BUILD   build directory (default: build-fuzz in the repository)
#   TAPEGRAD_FUZZ_JOBS    build parallelism (default: nproc)
#   TAPEGRAD_FUZZ_FLAGS   extra libFuzzer flags, e.g. "-max_len=65536" for a long run
# The grown corpus of the last run stays in $TAPEGRAD_FUZZ_BUILD/fuzz-corpus/<reader>/ and
# crash inputs in $TAPEGRAD_FUZZ_BUILD/fuzz-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

seconds=${1:-60}
[[ $seconds =~ ^[0-9]+$ && $seconds -gt 0 ]] || { echo "fuzz.sh: SECONDS must be a positive integer, not '$seconds'" >&2; exit 2; }
shift || true
readers=("$@")
[[ ${#readers[@]} -gt 0 ]] || readers=(npy safetensors idx)
for r in "${readers[@]}"; do
  [[ -d tests/fuzz/$r ]] || { echo "fuzz.sh: unknown reader '$r'; use npy, safetensors or idx" >&2; exit 2; }
done

build=${TAPEGRAD_FUZZ_BUILD:-$repo/build-fuzz}
jobs=${TAPEGRAD_FUZZ_JOBS:-$(nproc)}
command -v clang++ >/dev/null || { echo "fuzz.sh: needs clang++ with libFuzzer (Debian: apt-get install clang)" >&2; exit 2; }

echo "== configure and build (clang, libFuzzer + ASan + UBSan) in $build"
# Line tables (not full debug info): what a report prints, function, file and line, built faster.
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -gline-tables-only -DNDEBUG" -DTAPEGRAD_FUZZ=ON \
  -DTAPEGRAD_BUILD_TESTS=OFF -DTAPEGRAD_BUILD_EXAMPLES=OFF -DTAPEGRAD_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target "${readers[@]/#/fuzz_}"

# The readers' round trips write files (with fsync): keep them in memory when /dev/shm exists.
scratch_root=/tmp
[[ -d /dev/shm && -w /dev/shm ]] && scratch_root=/dev/shm
scratch=$(mktemp -d "$scratch_root/tapegrad_fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export TMPDIR=$scratch
# The storage cache off: ASan then sees every tensor buffer's real bounds and lifetime.
export TAPEGRAD_STORAGE_CACHE_MB=0
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

status=0
summary=()
for r in "${readers[@]}"; do
  corpus=$build/fuzz-corpus/$r
  artifacts=$build/fuzz-artifacts
  rm -rf "$corpus"
  mkdir -p "$corpus" "$artifacts"
  cp tests/fuzz/"$r"/* "$corpus"/
  log=$build/fuzz-$r.log
  echo "== fuzz_$r for ${seconds} s (log: $log)"
  start=$(date +%s)
  set +e
  # -timeout: one input taking 10 s is a hang. TAPEGRAD_FUZZ_FLAGS is split into words on purpose.
  # shellcheck disable=SC2086
  "$build/bin/fuzz_$r" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -dict="tests/fuzz/$r.dict" -artifact_prefix="$artifacts/$r-" ${TAPEGRAD_FUZZ_FLAGS:-} "$corpus" >"$log" 2>&1
  code=$?
  set -e
  elapsed=$(($(date +%s) - start))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
  files=$(find "$corpus" -type f | wc -l)
  # UBSan and LeakSanitizer reports fail the run even if the fuzzer's exit code missed them.
  if [[ $code -ne 0 ]] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|^SUMMARY: ' "$log"; then
    result="FAILED (exit $code)"
    status=1
    grep -E 'ERROR:|runtime error:|^fuzz_|SUMMARY:|Test unit written to' "$log" | head -20 || true
  else
    result=ok
  fi
  summary+=("$(printf '%-17s %-9s %12s %9s %6s %6s %7s %7s  %s' "fuzz_$r" "${elapsed}s" "${runs:-?}" "${rate:-?}" \
    "${cov:-?}" "${ft:-?}" "$files" "${rss:-?}" "$result")")
done

echo "== summary"
printf '%-17s %-9s %12s %9s %6s %6s %7s %7s  %s\n' target time executions exec/s cov ft corpus rss_mb result
printf '%s\n' "${summary[@]}"
if [[ $status -ne 0 ]]; then
  echo "fuzz.sh: a fuzz target failed; the input is in $build/fuzz-artifacts/. Reproduce with" \
    "$build/bin/fuzz_<reader> <input>, fix the reader, and commit the input under tests/fuzz/<reader>/."
fi
exit $status
