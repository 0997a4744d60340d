# SPDX-License-Identifier: MIT
# Installs the build tree into WORK_DIR/prefix, then configures, builds and runs the
# consumer project beside this file against it. Fails on any step that fails.
#
# The same project also builds the documentation's programs: every ```cpp block of DOCS
# (comma-separated paths relative to SOURCE_DIR) that contains `int main` is written to
# WORK_DIR/snippets/<doc>_<n>.cpp, compiled as its own executable against the installed
# package and run; a block that does not compile or exits with a nonzero status fails the
# test with a message naming the document, the block and its line.
cmake_minimum_required(VERSION 3.25)  # script mode: today's policies (while(TRUE), if(... MATCHES ...))
file(REMOVE_RECURSE ${WORK_DIR})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "failed (${result}): ${ARGN}\n${out}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

# Writes each ```cpp block of SOURCE_DIR/<doc> that has an `int main` to
# WORK_DIR/snippets/<stem>_<n>.cpp (n counts those blocks from 1), and appends
# "<stem>_<n>|<doc>|<line>" to the list named by `out_var` (line: the line of the fence).
function(extract_snippets doc out_var)
  file(READ ${SOURCE_DIR}/${doc} text)
  get_filename_component(stem ${doc} NAME_WE)
  set(text "\n${text}")  # every fence then follows a newline, the first line's too
  set(found ${${out_var}})
  set(n 0)
  set(offset 0)
  while(TRUE)
    string(SUBSTRING "${text}" ${offset} -1 rest)
    string(FIND "${rest}" "\n```cpp\n" open)
    if(open EQUAL -1)
      break()
    endif()
    math(EXPR fence "${offset} + ${open} + 1")  # where the opening fence starts in text
    math(EXPR body_start "${fence} + 7")
    string(SUBSTRING "${text}" ${body_start} -1 body)
    string(FIND "${body}" "\n```" close)
    if(close EQUAL -1)
      message(FATAL_ERROR "${doc}: a ```cpp block is never closed")
    endif()
    math(EXPR offset "${body_start} + ${close} + 4")
    math(EXPR code_length "${close} + 1")
    string(SUBSTRING "${body}" 0 ${code_length} code)
    if(NOT code MATCHES "int main")
      continue()
    endif()
    math(EXPR n "${n} + 1")
    # The fence's line: the newlines before it in text, where one was added at the start.
    string(SUBSTRING "${text}" 0 ${fence} prefix)
    string(REGEX REPLACE "[^\n]" "" newlines "${prefix}")
    string(LENGTH "${newlines}" line)
    file(WRITE ${WORK_DIR}/snippets/${stem}_${n}.cpp "${code}")
    list(APPEND found "${stem}_${n}|${doc}|${line}")
  endwhile()
  set(${out_var} ${found} PARENT_SCOPE)
endfunction()

if(NOT DOCS)
  message(FATAL_ERROR "run.cmake: pass -DDOCS=<documents with compiled snippets> (paths relative to SOURCE_DIR)")
endif()
string(REPLACE "," ";" DOCS "${DOCS}")
set(snippets "")
foreach(doc IN LISTS DOCS)
  extract_snippets(${doc} snippets)
endforeach()
list(LENGTH snippets count)
if(count EQUAL 0)
  message(FATAL_ERROR "no ```cpp block with `int main` found in ${DOCS}: the snippet check would test nothing")
endif()

run(${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${WORK_DIR}/prefix --config ${CONFIG})

# The package asks a consumer only for what the installed headers need: Eigen and
# nlohmann_json are header-only libraries the sources use, so neither tapegradConfig.cmake
# nor the exported targets may name them (cmake/tapegradConfig.cmake.in).
file(GLOB package_files ${WORK_DIR}/prefix/lib*/cmake/tapegrad/tapegrad*.cmake)
if(NOT package_files)
  message(FATAL_ERROR "no tapegrad*.cmake installed under ${WORK_DIR}/prefix/lib*/cmake/tapegrad")
endif()
foreach(file IN LISTS package_files)
  file(READ ${file} text)
  if(text MATCHES "(Eigen|nlohmann)")
    message(FATAL_ERROR "${file} names ${CMAKE_MATCH_1}, a private header-only dependency: a consumer would be asked for it")
  endif()
  # Shared libraries carry their link-only dependencies: no exported target names them.
  if(SHARED_LIBS AND file MATCHES "Targets" AND text MATCHES "(ZLIB|OpenMP|MPI::)")
    message(FATAL_ERROR "${file} of a shared build names ${CMAKE_MATCH_1}, which only static archives need")
  endif()
endforeach()
# The consumer uses the compiler tapegrad was built with: the static libraries carry that
# compiler's OpenMP calls (GCC's GOMP_*, clang's __kmpc_*) and, in a sanitizer build, its
# sanitizer runtime.
run(${CMAKE_COMMAND} -S ${CMAKE_CURRENT_LIST_DIR}/project -B ${WORK_DIR}/build
    -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
    -DSNIPPETS_DIR=${WORK_DIR}/snippets)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build --target consumer)
run(${WORK_DIR}/build/consumer)
string(FIND "${last_output}" "tensor([[19., 25.]," found)
if(found EQUAL -1)
  message(FATAL_ERROR "the consumer printed something unexpected:\n${last_output}")
endif()
message(STATUS "consumer output:\n${last_output}")

# The documentation's programs, one at a time, so that a failure names its block.
foreach(snippet IN LISTS snippets)
  string(REPLACE "|" ";" fields "${snippet}")
  list(GET fields 0 name)
  list(GET fields 1 doc)
  list(GET fields 2 line)
  set(where "${doc}, the C++ block at line ${line} (${WORK_DIR}/snippets/${name}.cpp)")
  execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build --target ${name}
                  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${where} does not compile against the installed package:\n${out}")
  endif()
  # A program that starts MPI (tg::dist) runs as a one-rank world; under AddressSanitizer its
  # LeakSanitizer is off, as for the MPI tests (Open MPI leaves allocations unfreed at exit).
  file(READ ${WORK_DIR}/snippets/${name}.cpp source)
  set(launcher "")
  if(source MATCHES "tg::dist::")
    set(launcher ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=0 OMPI_MCA_btl_vader_single_copy_mechanism=none)
  endif()
  execute_process(COMMAND ${launcher} ${WORK_DIR}/build/${name} WORKING_DIRECTORY ${WORK_DIR}/snippets TIMEOUT 120
                  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${where} failed when run (exit status ${result}):\n${out}")
  endif()
  message(STATUS "${doc}, block at line ${line}: compiled and ran")
endforeach()
message(STATUS "${count} documentation program(s) compiled and ran")

# pkg-config: the same program built by `c++ -std=c++20 main.cpp $(pkg-config --cflags --libs
# tapegrad)`, and a tg::dist program through tapegrad-dist when dist is installed.
find_program(PKG_CONFIG NAMES pkg-config pkgconf)
if(NOT PKG_CONFIG)
  message(STATUS "pkg-config is not installed: the pkg-config consumer is NOT tested (Debian: apt-get install pkg-config)")
  return()
endif()
set(ENV{PKG_CONFIG_PATH} ${WORK_DIR}/prefix/${LIBDIR}/pkgconfig)
set(run_env ${CMAKE_COMMAND} -E env LD_LIBRARY_PATH=${WORK_DIR}/prefix/${LIBDIR} ASAN_OPTIONS=detect_leaks=0
            OMPI_MCA_btl_vader_single_copy_mechanism=none)
function(pkg_config_consumer package source)
  run(${PKG_CONFIG} --cflags --libs ${package})
  string(STRIP "${last_output}" flags)
  # What --libs must (static build) or must not (shared build: Libs.private) bring.
  foreach(flag -lfmt -lz ${OPENMP_FLAG})
    string(FIND " ${flags} " " ${flag} " at)
    if(SHARED_LIBS AND NOT flag STREQUAL "-lfmt" AND NOT at EQUAL -1)
      message(FATAL_ERROR "pkg-config --libs ${package} of a shared build brings ${flag}: ${flags}")
    elseif(NOT SHARED_LIBS AND at EQUAL -1)
      message(FATAL_ERROR "pkg-config --libs ${package} of a static build lacks ${flag}: ${flags}")
    endif()
  endforeach()
  separate_arguments(flags UNIX_COMMAND "${flags}")
  get_filename_component(name ${source} NAME_WE)
  run(${CXX_COMPILER} -std=c++20 ${source} ${flags} -o ${WORK_DIR}/pkgconfig_${name})
  # A shared build's libraries are found through LD_LIBRARY_PATH (pkg-config sets no RUNPATH).
  run(${run_env} ${WORK_DIR}/pkgconfig_${name})
  set(last_output "${last_output}" PARENT_SCOPE)
  list(JOIN flags " " shown)
  message(STATUS "pkg-config ${package}: `${CXX_COMPILER} -std=c++20 ${name}.cpp ${shown}` built and ran")
endfunction()
pkg_config_consumer(tapegrad ${CMAKE_CURRENT_LIST_DIR}/project/main.cpp)
string(FIND "${last_output}" "tensor([[19., 25.]," found)
if(found EQUAL -1)
  message(FATAL_ERROR "the pkg-config consumer printed something unexpected:\n${last_output}")
endif()
if(EXISTS ${WORK_DIR}/prefix/${LIBDIR}/pkgconfig/tapegrad-dist.pc)
  file(WRITE ${WORK_DIR}/dist_consumer.cpp [=[
#include <tapegrad/tapegrad.hpp>
int main(int argc, char** argv) {
  tg::dist::Environment env(argc, argv);
  tg::Tensor t = tg::Tensor{1.0, 2.0} * static_cast<double>(tg::dist::rank() + 1);
  tg::Tensor sum = tg::dist::all_reduce_sum(t);
  fmt::print("world {}: {}\n", tg::dist::world_size(), sum);
  return sum.at({1}) == tg::dist::world_size() * (tg::dist::world_size() + 1) ? 0 : 1;
}
]=])
  pkg_config_consumer(tapegrad-dist ${WORK_DIR}/dist_consumer.cpp)
endif()
