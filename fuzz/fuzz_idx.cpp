// SPDX-License-Identifier: MIT
// libFuzzer target for read_idx_images and read_idx_labels (gzip IDX files): every input is written to a file and
// checked by tg::fuzz::check_idx (fuzz_checks.hpp). Seeds: tests/fuzz/idx/; run it with scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>

#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return tg::fuzz::run_one("idx", data, size, tg::fuzz::check_idx);
}
