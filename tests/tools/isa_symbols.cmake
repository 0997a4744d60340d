# SPDX-License-Identifier: MIT
# The per-level kernel objects (framework/CMakeLists.txt, tapegrad_isa) must define no global
# symbol outside their own namespaces: an inline function or template instantiation compiled
# there with AVX2 or AVX-512 under a name the baseline units also define could be the copy
# the linker keeps, and a baseline CPU would then run it (isa/gemm_kernel.hpp).
# Run as: cmake -DNM=nm -DOBJECTS="a.o|b.o" -P isa_symbols.cmake
set(allowed "tg_eigen_(baseline|avx2|avx512)::|tg::isa::(baseline|avx2|avx512)::|^tg::conv::(forward|backward)_direct\\(|^DW\\.ref\\.__gxx_personality_v0$")
string(REPLACE "|" ";" OBJECTS "${OBJECTS}")
set(bad "")
set(count 0)
foreach(object IN LISTS OBJECTS)
  execute_process(COMMAND ${NM} -C --defined-only ${object} OUTPUT_VARIABLE listing RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "nm failed on ${object}")
  endif()
  string(REPLACE "\n" ";" lines "${listing}")
  foreach(line IN LISTS lines)
    # "<address> <type> <name>": upper-case types are global (W, V weak; T, D, B, R, u strong).
    if(line MATCHES "^[0-9a-f]+ ([A-Zu]) (.*)$")
      set(type "${CMAKE_MATCH_1}")
      set(name "${CMAKE_MATCH_2}")
      math(EXPR count "${count} + 1")
      if(NOT name MATCHES "${allowed}")
        string(APPEND bad "  ${object}: ${type} ${name}\n")
      endif()
    endif()
  endforeach()
endforeach()
if(count EQUAL 0)
  message(FATAL_ERROR "no global symbols read from ${OBJECTS}: the check would pass on nothing")
endif()
if(bad)
  message(FATAL_ERROR "global symbols outside the per-level namespaces (rename what defines them, as "
                      "isa/gemm_kernel.hpp does for Eigen):\n${bad}")
endif()
list(LENGTH OBJECTS objects)
message(STATUS "${count} global symbols in ${objects} objects, all in per-level namespaces")
