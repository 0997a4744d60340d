#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs whatever tapegrad needs that this Debian 12 machine lacks, then configures a
# Release build in build/. Run from anywhere; arguments after the mode go to cmake.
#
#   scripts/setup.sh --minimal   what the edge-learning experiment needs, and a build of the
#                                libraries and examples only (no tests, no benchmarks):
#       scripts/setup.sh --minimal && cmake --build build --target edge_detection -j"$(nproc)" && build/bin/edge_detection
#   scripts/setup.sh [--full]    everything the test suite uses (the default):
#       scripts/setup.sh --full && cmake --build build -j"$(nproc)" && ctest --test-dir build -j"$(nproc)"
#
# Packages are installed with `apt-get install` as root, or through
# `sudo env DEBIAN_FRONTEND=noninteractive apt-get ...` (plain `sudo VAR=... cmd` loses the
# variable under Debian's default sudoers). Without root or sudo it lists what is missing and
# the command that installs it, and stops.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=full
case "${1:-}" in
  --minimal) mode=minimal; shift ;;
  --full) shift ;;
  -h | --help)
    sed -n '3,15p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
esac

# The minimal set: a C++20 compiler and CMake; Eigen (kernels), fmt, nlohmann-json (JSON
# output), zlib (gzip'd datasets), stb (PNG pictures) for the libraries; CLI11 for the examples.
packages=(g++ cmake make libeigen3-dev libfmt-dev libcli11-dev nlohmann-json3-dev zlib1g-dev libstb-dev)
if [ "$mode" = full ]; then
  # catch2, libbenchmark-dev: the test suite and the benchmarks.
  # dataset-fashion-mnist: lenet and resnet train on it; fortunes: the default text char_lm trains on.
  # graphviz: renders --graph FILE.svg and the tape explorer's graph (optional at run time).
  # qemu-user: the test qemu_isa runs the examples on emulated older CPUs (baseline and AVX2 kernels).
  # libopenmpi-dev, openmpi-bin: tapegrad::dist (data-parallel training); its tests run under mpirun.
  # chromium, chromium-driver, python3-selenium: the tape explorer's test drives its page in headless Chromium.
  # python3-numpy: the tests read checkpoints back with an independent reader (json + numpy);
  # python3-torch: the checkpoint tests load tapegrad's LeNet into PyTorch and PyTorch's into tapegrad.
  # pkg-config: the install test builds a consumer with `pkg-config --cflags --libs tapegrad`.
  packages+=(catch2 libbenchmark-dev dataset-fashion-mnist fortunes graphviz qemu-user libopenmpi-dev openmpi-bin
             chromium chromium-driver python3-selenium python3-numpy python3-torch pkg-config)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup ($mode): installing ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "setup: these packages are missing and this user can neither install them (not root) nor use sudo (not installed):" >&2
    echo "  ${missing[*]}" >&2
    echo "Install them as root, then run scripts/setup.sh again:" >&2
    echo "  apt-get update && apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

flags=(-DCMAKE_BUILD_TYPE=Release)
if [ "$mode" = minimal ]; then
  flags+=(-DTAPEGRAD_BUILD_TESTS=OFF -DTAPEGRAD_BUILD_BENCH=OFF)
else
  flags+=(-DTAPEGRAD_BUILD_TESTS=ON -DTAPEGRAD_BUILD_BENCH=ON)
fi
# CI builds treat warnings as errors.
[ "${CI:-}" = "true" ] && flags+=(-DTAPEGRAD_WERROR=ON)
cmake -S . -B build "${flags[@]}" "$@"
