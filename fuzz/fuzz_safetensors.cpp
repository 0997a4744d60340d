// SPDX-License-Identifier: MIT
// libFuzzer target for load_safetensors and load_safetensors_metadata: every input is written to a file and checked by
// tg::fuzz::check_safetensors (fuzz_checks.hpp). Seeds: tests/fuzz/safetensors/; run it with scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>

#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return tg::fuzz::run_one("safetensors", data, size, tg::fuzz::check_safetensors);
}
