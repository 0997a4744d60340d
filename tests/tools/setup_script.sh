#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs scripts/setup.sh against stand-ins for dpkg-query, id, sudo, apt-get and cmake (on a
# PATH that holds nothing else), and checks what it would run: which packages each mode
# installs, that sudo gets `env DEBIAN_FRONTEND=noninteractive apt-get`, the clear stop when
# there is neither root nor sudo, and the build each mode configures.
# Usage: setup_script.sh <repository>
set -euo pipefail
repo=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# stubs/<name> records its arguments in $work/calls; dpkg-query says "installed" only for the
# packages listed in $work/installed; id -u prints $work/uid.
make_path() {  # make_path <with sudo: yes|no>
  rm -rf "$work/bin" && mkdir -p "$work/bin"
  for tool in dirname grep sed env cat; do ln -s "$(command -v $tool)" "$work/bin/$tool"; done
  printf '#!/bin/bash\necho "cmake $*" >> %s/calls\n' "$work" > "$work/bin/cmake"
  # apt-get records the DEBIAN_FRONTEND it was given; sudo records its command, then runs it.
  printf '#!/bin/bash\necho "apt-get (DEBIAN_FRONTEND=$DEBIAN_FRONTEND) $*" >> %s/calls\n' "$work" > "$work/bin/apt-get"
  [ "$1" = yes ] && printf '#!/bin/bash\necho "sudo $*" >> %s/calls\nexec "$@"\n' "$work" > "$work/bin/sudo"
  printf '#!/bin/bash\ncat %s/uid\n' "$work" > "$work/bin/id"
  cat > "$work/bin/dpkg-query" <<STUB
#!/bin/bash
package="\${@: -1}"
if grep -qx "\$package" $work/installed; then echo -n "install ok installed"; else exit 1; fi
STUB
  chmod +x "$work"/bin/*
}
run() {  # run <expected status> <args...>; output in $work/out, calls in $work/calls
  local expected=$1; shift
  : > "$work/calls"
  set +e
  PATH="$work/bin" /bin/bash "$repo/scripts/setup.sh" "$@" > "$work/out" 2>&1
  local status=$?
  set -e
  [ "$status" -eq "$expected" ] || { cat "$work/out" >&2; fail "setup.sh $* exited $status, expected $expected"; }
}
calls() { cat "$work/calls"; }

# 1. Not root, no sudo, packages missing: a clear stop naming them, nothing run.
make_path no; echo 1000 > "$work/uid"; echo g++ > "$work/installed"
run 1 --minimal
grep -q "neither install them (not root) nor use sudo" "$work/out" || fail "no clear message without root or sudo: $(cat "$work/out")"
grep -q "libeigen3-dev" "$work/out" || fail "the message does not list the missing packages"
grep -q "apt-get update && apt-get install --no-install-recommends" "$work/out" || fail "the message gives no command"
[ ! -s "$work/calls" ] || fail "it ran something anyway: $(calls)"

# 2. Not root, with sudo: the variable goes through env, past sudo; minimal = no test tools.
make_path yes
run 0 --minimal
calls | grep -q "^sudo env DEBIAN_FRONTEND=noninteractive apt-get update" || fail "apt-get update not run via sudo env: $(calls)"
install=$(calls | grep "^sudo env DEBIAN_FRONTEND=noninteractive apt-get install") || fail "no sudo env ... apt-get install: $(calls)"
calls | grep -q "^apt-get (DEBIAN_FRONTEND=noninteractive) install" || fail "DEBIAN_FRONTEND did not reach apt-get: $(calls)"
for p in cmake libeigen3-dev libfmt-dev libcli11-dev nlohmann-json3-dev zlib1g-dev libstb-dev; do
  [[ " $install " == *" $p "* ]] || fail "--minimal does not install $p: $install"
done
[[ " $install " == *" g++ "* ]] && fail "--minimal reinstalls g++, which is installed"
for p in catch2 chromium libopenmpi-dev python3-torch dataset-fashion-mnist; do
  [[ " $install " == *" $p "* ]] && fail "--minimal installs $p, which the experiment does not need"
done
calls | grep -q "^cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_BUILD_TESTS=OFF -DTAPEGRAD_BUILD_BENCH=OFF" ||
  fail "--minimal does not configure a build without tests and benchmarks: $(calls)"

# 3. Root, full mode (the default): everything the tests use, apt-get without sudo; extra
#    arguments reach cmake.
echo 0 > "$work/uid"
run 0 -DTAPEGRAD_NATIVE=ON
install=$(calls | grep "^apt-get (DEBIAN_FRONTEND=noninteractive) install") || fail "root: no noninteractive apt-get install: $(calls)"
for p in catch2 libbenchmark-dev chromium chromium-driver python3-selenium libopenmpi-dev openmpi-bin python3-torch \
         python3-numpy dataset-fashion-mnist pkg-config; do
  [[ " $install " == *" $p "* ]] || fail "full mode does not install $p: $install"
done
calls | grep -q "^sudo" && fail "root went through sudo: $(calls)"
calls | grep -q "^cmake .*-DTAPEGRAD_BUILD_TESTS=ON -DTAPEGRAD_BUILD_BENCH=ON.* -DTAPEGRAD_NATIVE=ON" ||
  fail "full mode does not configure tests, benchmarks and the extra argument: $(calls)"

# 4. Nothing missing: no apt-get at all, even without root or sudo.
make_path no; echo 1000 > "$work/uid"
printf '%s\n' g++ cmake make libeigen3-dev libfmt-dev libcli11-dev nlohmann-json3-dev zlib1g-dev libstb-dev > "$work/installed"
run 0 --minimal
calls | grep -q "apt-get" && fail "apt-get ran with nothing missing: $(calls)"
calls | grep -q "^cmake" || fail "no cmake configure"

# 5. --help describes both modes.
run 0 --help
grep -q -- "--minimal" "$work/out" && grep -q -- "--full" "$work/out" || fail "--help does not describe the modes"
# 6. The README's two commands are these modes, and .ci/run runs the second one verbatim.
first=$(grep -m1 '^scripts/setup.sh --minimal ' "$repo/README.md") || fail "README has no scripts/setup.sh --minimal command"
[[ "$first" == *"--target edge_detection"*"build/bin/edge_detection" ]] || fail "README's first command does not build and run only edge_detection: $first"
second=$(grep -m1 '^scripts/setup.sh --full ' "$repo/README.md") || fail "README has no scripts/setup.sh --full command"
grep -qxF "$second" "$repo/.ci/run" || fail ".ci/run does not run the README's test command: $second"
echo "setup.sh: 6 scenarios behaved"
