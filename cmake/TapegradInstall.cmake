# SPDX-License-Identifier: MIT
# Installs the libraries, headers and a CMake package so that a consumer needs only
#   find_package(tapegrad)  +  target_link_libraries(app tapegrad::tapegrad)
include(CMakePackageConfigHelpers)

# Note: tapegrad_viz uses stb's headers only, to build (viz/CMakeLists.txt), so neither the
# exported targets nor tapegradConfig.cmake ask a consumer for stb.

set(tapegrad_installed tapegrad tapegrad_framework tapegrad_layers tapegrad_optim tapegrad_data tapegrad_viz)
if(TAPEGRAD_HAS_DIST)
  list(APPEND tapegrad_installed tapegrad_dist)
endif()
install(TARGETS ${tapegrad_installed}
        EXPORT tapegradTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT tapegradTargets NAMESPACE tapegrad:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tapegrad)

# tapegradConfig.cmake asks for the link-only dependencies in a static build only.
if(BUILD_SHARED_LIBS)
  set(TAPEGRAD_SHARED_LIBS ON)
else()
  set(TAPEGRAD_SHARED_LIBS OFF)
endif()
configure_package_config_file(cmake/tapegradConfig.cmake.in
  ${PROJECT_BINARY_DIR}/tapegradConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tapegrad)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/tapegradConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/tapegradConfig.cmake
              ${PROJECT_BINARY_DIR}/tapegradConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tapegrad)

# pkg-config: tapegrad.pc (every library but dist) and, when dist is built, tapegrad-dist.pc.
# A static build's --libs brings what the archives need after them (fmt, zlib, OpenMP's flag,
# MPI for dist); a shared build's --libs names the tapegrad libraries and fmt (the headers call
# into it), with the rest private (--static). A sanitizer build passes its -fsanitize link flag
# on, as the exported targets do.
set(TAPEGRAD_PKGCONFIG_MPI "ompi-cxx" CACHE STRING
    "The pkg-config package tapegrad-dist.pc requires for MPI (Debian's Open MPI: ompi-cxx; MPICH: mpich)")
file(RELATIVE_PATH TAPEGRAD_PC_TO_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
string(REGEX REPLACE "/$" "" TAPEGRAD_PC_TO_PREFIX "${TAPEGRAD_PC_TO_PREFIX}")
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(TAPEGRAD_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(TAPEGRAD_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
set(tapegrad_pc_link_flags "")
if(TAPEGRAD_SANITIZE OR TAPEGRAD_FUZZ)
  set(tapegrad_pc_link_flags "-fsanitize=address,undefined")
elseif(TAPEGRAD_SANITIZE_THREAD)
  set(tapegrad_pc_link_flags "-fsanitize=thread")
endif()
string(JOIN " " tapegrad_pc_openmp ${OpenMP_CXX_FLAGS})
if(TAPEGRAD_SHARED_LIBS)
  set(TAPEGRAD_PC_REQUIRES "fmt")
  set(TAPEGRAD_PC_REQUIRES_PRIVATE "zlib")
  set(TAPEGRAD_PC_LIBS "${tapegrad_pc_link_flags}")
  set(TAPEGRAD_PC_LIBS_PRIVATE "${tapegrad_pc_openmp}")
  set(TAPEGRAD_PC_DIST_REQUIRES "")
  set(TAPEGRAD_PC_DIST_REQUIRES_PRIVATE "${TAPEGRAD_PKGCONFIG_MPI}")
else()
  set(TAPEGRAD_PC_REQUIRES "fmt zlib")
  set(TAPEGRAD_PC_REQUIRES_PRIVATE "")
  set(TAPEGRAD_PC_LIBS "${tapegrad_pc_openmp} ${tapegrad_pc_link_flags}")
  set(TAPEGRAD_PC_LIBS_PRIVATE "")
  set(TAPEGRAD_PC_DIST_REQUIRES "${TAPEGRAD_PKGCONFIG_MPI}")
  set(TAPEGRAD_PC_DIST_REQUIRES_PRIVATE "")
endif()
configure_file(cmake/tapegrad.pc.in ${PROJECT_BINARY_DIR}/pkgconfig/tapegrad.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/pkgconfig/tapegrad.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(TAPEGRAD_HAS_DIST)
  configure_file(cmake/tapegrad-dist.pc.in ${PROJECT_BINARY_DIR}/pkgconfig/tapegrad-dist.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/pkgconfig/tapegrad-dist.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()
