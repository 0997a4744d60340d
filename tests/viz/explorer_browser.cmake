# SPDX-License-Identifier: MIT
# Runs tests/viz/explorer_browser.py (the tape explorer in headless Chromium) with the first
# python3 that has selenium: Debian's /usr/bin/python3 with python3-selenium.
# Arguments: -DSCRIPT=<explorer_browser.py> -DEDGE=<edge_detection> -DWORK_DIR=<scratch dir>.
# Prints "SKIPPED: ..." (the test's SKIP_REGULAR_EXPRESSION) when selenium or Chromium is
# missing. (A `cmake -P` script cannot choose its exit code before CMake 3.29.)
include(${CMAKE_CURRENT_LIST_DIR}/../tools/find_python.cmake)
find_python_with(selenium python)
if(NOT python)
  message("SKIPPED: no python3 with selenium (apt-get install python3-selenium chromium chromium-driver)")
  return()
endif()
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${python} ${SCRIPT} ${EDGE} ${WORK_DIR} RESULT_VARIABLE result OUTPUT_VARIABLE out
                ERROR_VARIABLE out)
message("${out}")
if(result EQUAL 77)
  message("SKIPPED: Chromium or its driver is missing")
elseif(NOT result EQUAL 0)
  message(FATAL_ERROR "the tape explorer failed in Chromium (exit status ${result})")
endif()
