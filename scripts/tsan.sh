#!/usr/bin/env bash
# Runs the concurrency and determinism tests under ThreadSanitizer: configures a
# RelWithDebInfo build with TAPEGRAD_SANITIZE_THREAD=ON in BUILD_DIR, builds tapegrad_tests,
# and runs the [threads] and [determinism] tests. Any report fails the run (halt_on_error).
#
#   scripts/tsan.sh [BUILD_DIR]      BUILD_DIR defaults to build-tsan in the repository
# Environment:
#   TAPEGRAD_TSAN_JOBS   build parallelism (default: nproc)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

build=${1:-build-tsan}
jobs=${TAPEGRAD_TSAN_JOBS:-$(nproc)}

echo "== configure and build (ThreadSanitizer) in $build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTAPEGRAD_SANITIZE_THREAD=ON -DTAPEGRAD_BUILD_BENCH=OFF \
  -DTAPEGRAD_BUILD_EXAMPLES=OFF \
  >/dev/null
cmake --build "$build" -j"$jobs" --target tapegrad_tests

# tests/tsan.supp says which reports are silenced, and why.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 history_size=7 suppressions=$repo/tests/tsan.supp ${TSAN_OPTIONS:-}"
for tag in "[threads]" "[determinism]"; do
  echo "== $tag"
  "$build/bin/tapegrad_tests" "$tag"
done
