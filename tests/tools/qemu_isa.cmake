# SPDX-License-Identifier: MIT
# The default build's examples on CPUs this machine is not: under qemu-user (Debian's
# qemu-user package), `-cpu Nehalem` has only SSE2..SSE4.2 (the baseline kernels) and
# `-cpu Haswell` has AVX2 and FMA without AVX-512 (the avx2 kernels; QEMU 7.2 emulates AVX2
# but no AVX-512). Each emulated run must pick its level, finish (no illegal instruction, as a
# -march=native build or an AVX2 copy of an inline function kept by the linker would cause),
# and print exactly what a native run forced to the same level (TAPEGRAD_ISA) prints; lenet
# also prints the level it picked.
# Run as: cmake -DEDGE=... -DLENET=... -DWORK_DIR=... -P qemu_isa.cmake
find_program(QEMU qemu-x86_64)
if(NOT QEMU)
  message("SKIPPED: qemu-user is not installed (apt-get install qemu-user)")
  return()
endif()
file(MAKE_DIRECTORY ${WORK_DIR})

# Runs `command` (a list), with TAPEGRAD_ISA=`isa` unless it is empty; sets `out` to its
# stdout without the timing field (img_per_s, the last one) and `err` to its stderr.
function(run_case name isa out err)
  set(command ${ARGN})
  if(isa)
    set(command ${CMAKE_COMMAND} -E env TAPEGRAD_ISA=${isa} ${command})
  endif()
  execute_process(COMMAND ${command} OUTPUT_VARIABLE stdout ERROR_VARIABLE stderr RESULT_VARIABLE status
                  TIMEOUT 600)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "${name} failed (${status}):\n${command}\n${stderr}")
  endif()
  string(REGEX REPLACE " img_per_s [0-9.]+" "" stdout "${stdout}")
  set(${out} "${stdout}" PARENT_SCOPE)
  set(${err} "${stderr}" PARENT_SCOPE)
endfunction()

set(lenet_args --limit 512 --test-limit 256 --epochs 1 --batch-size 128 --threads 1)
foreach(pair "Nehalem;baseline" "Haswell;avx2")
  list(GET pair 0 cpu)
  list(GET pair 1 level)
  foreach(program edge lenet)
    if(program STREQUAL "edge")
      set(command ${EDGE})
    else()
      set(command ${LENET} ${lenet_args})
    endif()
    run_case("${program} (native, TAPEGRAD_ISA=${level})" ${level} native native_err ${command})
    run_case("${program} (qemu -cpu ${cpu})" "" emulated emulated_err ${QEMU} -cpu ${cpu} ${command})
    if(program STREQUAL "lenet" AND NOT emulated_err MATCHES "kernels: ${level} \\(supported: ${level}\\)")
      message(FATAL_ERROR "${program} under qemu -cpu ${cpu} should pick the ${level} kernels; its stderr:\n"
                          "${emulated_err}")
    endif()
    if(NOT native STREQUAL emulated)
      message(FATAL_ERROR "${program}: qemu -cpu ${cpu} printed\n${emulated}\nbut the native run at ${level} printed\n"
                          "${native}")
    endif()
    string(LENGTH "${native}" length)
    message(STATUS "${program} under qemu -cpu ${cpu} (${level}): the native run's ${length} characters")
  endforeach()
endforeach()
