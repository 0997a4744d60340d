// SPDX-License-Identifier: MIT
#include "tapegrad/cpu.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <fmt/core.h>

#include "tapegrad/error.hpp"

namespace tg {

namespace {

CpuFeatures detect() {
  CpuFeatures f;
  f.supported = IsaLevel::baseline;
#if defined(__x86_64__) || defined(__i386__)
  // __builtin_cpu_supports checks the OS as well: AVX and AVX-512 count only when XGETBV
  // shows that the kernel saves their registers.
  __builtin_cpu_init();
  f.sse4_2 = __builtin_cpu_supports("sse4.2");
  f.avx = __builtin_cpu_supports("avx");
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512dq = __builtin_cpu_supports("avx512dq");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
  // x86-64-v3 and v4 feature by feature (clang 14's builtin has no "x86-64-v3"); F16C, MOVBE
  // (CPUID 1, ECX bits 29 and 22) and LZCNT (CPUID 0x80000001, ECX bit 5) from cpuid.
  unsigned a = 0, b = 0, c = 0, d = 0;
  const bool f16c_movbe = __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1) && (c >> 22 & 1);
  const bool lzcnt = __get_cpuid(0x80000001u, &a, &b, &c, &d) && (c >> 5 & 1);
  const bool v3 =
      f.avx2 && f.fma && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") && f16c_movbe && lzcnt;
  const bool v4 = v3 && f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl && __builtin_cpu_supports("avx512cd");
  if (v3) f.supported = IsaLevel::avx2;
  if (v4) f.supported = IsaLevel::avx512;
  unsigned regs[12] = {};
  unsigned top = __get_cpuid_max(0x80000000u, nullptr);
  if (top >= 0x80000004u) {
    for (unsigned i = 0; i < 3; ++i)
      __get_cpuid(0x80000002u + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
    char brand[49] = {};
    std::memcpy(brand, regs, 48);
    f.model = brand;
    auto first = f.model.find_first_not_of(' ');
    auto last = f.model.find_last_not_of(' ');
    f.model = first == std::string::npos ? std::string() : f.model.substr(first, last - first + 1);
  }
#endif
  if (f.model.empty()) f.model = "unknown CPU";
  f.active = f.supported;
  return f;
}

IsaLevel parse_level(std::string_view text, std::string_view where) {
  for (IsaLevel l : {IsaLevel::baseline, IsaLevel::avx2, IsaLevel::avx512})
    if (text == isa_name(l)) return l;
  fail<ValueError>(
      "{}: unknown kernel level '{}'; use baseline, avx2 or avx512 (or unset it to use the best the "
      "CPU has)",
      where, text);
}

void check_supported(IsaLevel level, const CpuFeatures& f, std::string_view where) {
  if (level > f.supported)
    fail<ValueError>(
        "{}: this CPU ({}) cannot run the {} kernels; the best it supports is {}; ask for that or a "
        "lower level",
        where, f.model, isa_name(level), isa_name(f.supported));
}

// Detected once; TAPEGRAD_ISA applied at the first call (which throws, and the next call
// tries again, when the variable is bad).
struct State {
  CpuFeatures features;
  std::atomic<int> active;
  State() : features(detect()), active(static_cast<int>(features.supported)) {
    if (const char* env = std::getenv("TAPEGRAD_ISA"); env && *env) {
      IsaLevel want = parse_level(env, "TAPEGRAD_ISA");
      check_supported(want, features, "TAPEGRAD_ISA");
      active = static_cast<int>(want);
    }
  }
};

State& state() {
  static State s;
  return s;
}

}  // namespace

std::string_view isa_name(IsaLevel level) {
  switch (level) {
    case IsaLevel::baseline:
      return "baseline";
    case IsaLevel::avx2:
      return "avx2";
    case IsaLevel::avx512:
      return "avx512";
  }
  return "unknown";
}

CpuFeatures cpu_features() {
  State& s = state();
  CpuFeatures f = s.features;
  f.active = static_cast<IsaLevel>(s.active.load(std::memory_order_relaxed));
  return f;
}

IsaLevel isa_level() { return static_cast<IsaLevel>(state().active.load(std::memory_order_relaxed)); }

void set_isa_level(IsaLevel level) {
  State& s = state();
  if (level != IsaLevel::baseline && level != IsaLevel::avx2 && level != IsaLevel::avx512)
    fail<ValueError>("set_isa_level: unknown level {}; use IsaLevel::baseline, avx2 or avx512",
                     static_cast<int>(level));
  check_supported(level, s.features, "set_isa_level");
  s.active.store(static_cast<int>(level), std::memory_order_relaxed);
}

std::string cpu_summary() {
  CpuFeatures f = cpu_features();
  return fmt::format("CPU: {}; kernels: {} (supported: {})", f.model, isa_name(f.active), isa_name(f.supported));
}

}  // namespace tg
