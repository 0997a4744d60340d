# SPDX-License-Identifier: MIT
# Finds Debian's libstb-dev: Sean Barrett's single-file libraries, with their headers in
# <prefix>/include/stb and their implementations compiled into libstb.
#
#   find_package(stb REQUIRED)
#
# Result variables: stb_FOUND, stb_INCLUDE_DIRS (the directory holding stb_image_write.h, so
# that sources include <stb_image_write.h>), stb_LIBRARIES.
# Imported target: stb::stb (the headers and the compiled library).
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(PC_stb QUIET stb)
endif()

find_path(stb_INCLUDE_DIR stb_image_write.h
  HINTS ${PC_stb_INCLUDE_DIRS}
  PATH_SUFFIXES stb)
find_library(stb_LIBRARY NAMES stb
  HINTS ${PC_stb_LIBRARY_DIRS})

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(stb
  REQUIRED_VARS stb_INCLUDE_DIR stb_LIBRARY
  REASON_FAILURE_MESSAGE "install Debian's libstb-dev (apt-get install libstb-dev), or set stb_INCLUDE_DIR and stb_LIBRARY")

if(stb_FOUND)
  set(stb_INCLUDE_DIRS ${stb_INCLUDE_DIR})
  set(stb_LIBRARIES ${stb_LIBRARY})
  if(NOT TARGET stb::stb)
    add_library(stb::stb UNKNOWN IMPORTED)
    set_target_properties(stb::stb PROPERTIES
      IMPORTED_LOCATION "${stb_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${stb_INCLUDE_DIR}")
  endif()
endif()
mark_as_advanced(stb_INCLUDE_DIR stb_LIBRARY)
