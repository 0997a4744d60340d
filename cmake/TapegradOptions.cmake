# SPDX-License-Identifier: MIT
# Compiler flags shared by every tapegrad target, applied through tapegrad_set_options().
include(GNUInstallDirs)

if(TAPEGRAD_SANITIZE AND TAPEGRAD_SANITIZE_THREAD)
  message(FATAL_ERROR "TAPEGRAD_SANITIZE (ASan + UBSan) and TAPEGRAD_SANITIZE_THREAD (TSan) cannot be combined; "
                      "configure a separate build directory for each")
endif()
if(TAPEGRAD_SANITIZE_THREAD AND NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  # GCC's OpenMP runtime (libgomp) hides its barriers from ThreadSanitizer, which then reports
  # every buffer an OpenMP region fills; clang's libomp with its Archer tool does not.
  message(FATAL_ERROR "TAPEGRAD_SANITIZE_THREAD needs clang (OpenMP from libomp, checked through Archer): configure "
                      "with -DCMAKE_CXX_COMPILER=clang++, or run scripts/tsan.sh (Debian: apt-get install clang libomp-14-dev)")
endif()
if(TAPEGRAD_FUZZ AND NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "TAPEGRAD_FUZZ needs clang for libFuzzer: configure with -DCMAKE_CXX_COMPILER=clang++ "
                      "(Debian: apt-get install clang)")
endif()

function(tapegrad_set_options target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  if(TAPEGRAD_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(TAPEGRAD_NATIVE)
    target_compile_options(${target} PRIVATE -march=native)
  endif()
  target_compile_options(${target} PRIVATE $<$<CONFIG:Release>:-O3>)
  if(TAPEGRAD_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer
                                             -fno-sanitize-recover=undefined)
    target_link_options(${target} PUBLIC -fsanitize=address,undefined)
  endif()
  if(TAPEGRAD_SANITIZE_THREAD)
    target_compile_options(${target} PRIVATE -fsanitize=thread -fno-omit-frame-pointer)
    target_link_options(${target} PUBLIC -fsanitize=thread)
  endif()
  if(TAPEGRAD_FUZZ)
    # The libraries get libFuzzer's coverage instrumentation and ASan + UBSan; fuzz/ links
    # the fuzzer's main into each target.
    target_compile_options(${target} PRIVATE -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                                             -fno-sanitize-recover=undefined)
    target_link_options(${target} PUBLIC -fsanitize=address,undefined)
  endif()
endfunction()

# One library per folder: sources under src/, public headers under include/tapegrad/.
#   DEPENDS                what the public headers need (exported)
#   PRIVATE_DEPENDS        libraries the sources link (exported as link-only in a static build,
#                          whose archives need them; absent from a shared build's export)
#   HEADER_ONLY_DEPENDS    header-only libraries the sources include (Eigen, nlohmann_json):
#                          used to build, never exported, so a consumer is not asked for them
# Static (default) or shared as BUILD_SHARED_LIBS says. A shared library's SONAME carries
# major.minor: before 1.0 a minor release may change the ABI (tapegrad/version.hpp). The
# installed libraries find each other through their RUNPATH $ORIGIN (they are installed together).
function(tapegrad_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPENDS;PRIVATE_DEPENDS;HEADER_ONLY_DEPENDS" ${ARGN})
  add_library(tapegrad_${name} ${ARG_SOURCES})
  add_library(tapegrad::${name} ALIAS tapegrad_${name})
  set_target_properties(tapegrad_${name} PROPERTIES EXPORT_NAME ${name}
    VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
  if(NOT APPLE)
    set_target_properties(tapegrad_${name} PROPERTIES INSTALL_RPATH "$ORIGIN")
  endif()
  target_include_directories(tapegrad_${name} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(tapegrad_${name} PUBLIC ${ARG_DEPENDS} PRIVATE ${ARG_PRIVATE_DEPENDS})
  foreach(dep IN LISTS ARG_HEADER_ONLY_DEPENDS)
    target_link_libraries(tapegrad_${name} PRIVATE $<BUILD_INTERFACE:${dep}>)
  endforeach()
  target_compile_features(tapegrad_${name} PUBLIC cxx_std_20)
  tapegrad_set_options(tapegrad_${name})
  install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endfunction()
