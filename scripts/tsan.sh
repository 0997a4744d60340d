#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the tests that use more than one thread under ThreadSanitizer: configures a clang
# RelWithDebInfo build with TAPEGRAD_SANITIZE_THREAD=ON in BUILD_DIR, builds
# tapegrad_thread_tests (only those tests' files), and runs the [thread], [threads] and
# [determinism] test cases. Any report fails the run.
#
# OpenMP: the intra-op threads come from LLVM's libomp, with its Archer tool loaded, so that
# ThreadSanitizer sees the ordering OpenMP's fork and barriers give (GCC's libgomp hides it,
# and every buffer filled in a parallel region would be reported). The run checks that
# Archer said it was active.
#
#   scripts/tsan.sh [BUILD_DIR]      BUILD_DIR defaults to build-tsan in the repository
# Environment:
#   TAPEGRAD_TSAN_JOBS   build parallelism (default: nproc)
# Needs: clang, libomp-14-dev (libomp and Archer); Debian: apt-get install clang libomp-14-dev
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:-build-tsan}
jobs=${TAPEGRAD_TSAN_JOBS:-$(nproc)}
command -v clang++ >/dev/null || { echo "tsan.sh: needs clang++ (Debian: apt-get install clang)" >&2; exit 2; }
llvm_lib=$(dirname "$(readlink -f "$(command -v clang++)")")/../lib
archer=$(readlink -f "$llvm_lib/libarcher.so" || true)
[[ -f $archer ]] || { echo "tsan.sh: no libarcher.so next to clang in $llvm_lib (Debian: apt-get install libomp-14-dev)" >&2; exit 2; }

echo "== configure and build (clang, ThreadSanitizer, libomp + Archer) in $build"
# Line tables (not full debug info): what a report prints, function, file and line, built faster.
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -gline-tables-only -DNDEBUG" -DTAPEGRAD_SANITIZE_THREAD=ON \
  -DTAPEGRAD_BUILD_BENCH=OFF -DTAPEGRAD_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target tapegrad_thread_tests

export OMP_TOOL_LIBRARIES=$archer ARCHER_OPTIONS="verbose=1 ${ARCHER_OPTIONS:-}"
# tests/tsan.supp: one false positive inside libomp, and why. Note: Archer then prints a
# warning that asks for ignore_noninstrumented_modules=1; that option would also hide reports
# from intercepted calls made by libstdc++ and every other uninstrumented library, so the
# narrower suppression is used instead.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp ${TSAN_OPTIONS:-}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
tests=$build/bin/tapegrad_thread_tests

# The controls first: a deliberate race between std::threads, and one inside an OpenMP
# region, must each be reported, or a clean run below would prove nothing.
for control in threads openmp; do
  echo "== control: a deliberate data race ($control) must be reported"
  if "$tests" "[tsan_control_$control]" >"$log" 2>&1; then
    cat "$log"
    echo "tsan.sh: the deliberate race ($control) was not reported; ThreadSanitizer is not checking this build" >&2
    exit 1
  fi
  grep -q "WARNING: ThreadSanitizer: data race" "$log" ||
    { cat "$log"; echo "tsan.sh: the control ($control) failed without a race report" >&2; exit 1; }
  echo "reported, as it must be"
done

echo "== [thread],[threads],[determinism] under ThreadSanitizer"
"$tests" "[thread],[threads],[determinism]" 2>&1 | tee "$log"  # pipefail: the tests' status
grep -q "Archer detected OpenMP application with TSan" "$log" ||
  { echo "tsan.sh: Archer did not report itself active, so OpenMP's ordering was invisible to the run" >&2; exit 1; }
echo "tsan.sh: no data race reported"
