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

configure_package_config_file(cmake/tapegradConfig.cmake.in
  ${PROJECT_BINARY_DIR}/tapegradConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tapegrad)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/tapegradConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/tapegradConfig.cmake
              ${PROJECT_BINARY_DIR}/tapegradConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tapegrad)
