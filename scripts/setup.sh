#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs whatever tapegrad needs that this Debian 12 machine lacks, then configures a
# Release build in build/. Run from anywhere; extra arguments go to cmake.
#   scripts/setup.sh && cmake --build build -j"$(nproc)" && build/bin/edge_detection
set -euo pipefail
cd "$(dirname "$0")/.."

# python3-numpy: the tests read checkpoints back with an independent reader (json + numpy).
# libstb-dev: stb_image_write encodes the examples' PNG pictures; the tests decode them with its stb_image.
# graphviz: renders --graph FILE.svg (optional at run time; its tests run when it is installed).
# fortunes: the fortune cookies in /usr/share/games/fortunes are the default text char_lm trains on.
# qemu-user: the test qemu_isa runs the examples on emulated older CPUs (baseline and AVX2 kernels).
# libopenmpi-dev, openmpi-bin: tapegrad::dist (data-parallel training); its tests run under mpirun.
# chromium, chromium-driver, python3-selenium: the tape explorer's test drives its page in headless Chromium.
packages=(g++ cmake make libeigen3-dev libfmt-dev catch2 libcli11-dev nlohmann-json3-dev zlib1g-dev python3-numpy
          dataset-fashion-mnist libbenchmark-dev libstb-dev graphviz fortunes qemu-user libopenmpi-dev openmpi-bin
          chromium chromium-driver python3-selenium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

flags=(-DCMAKE_BUILD_TYPE=Release)
# CI builds treat warnings as errors.
[ "${CI:-}" = "true" ] && flags+=(-DTAPEGRAD_WERROR=ON)
cmake -S . -B build "${flags[@]}" "$@"
