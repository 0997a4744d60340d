# SPDX-License-Identifier: MIT
# Checks tapegrad's safetensors writer against an independent reader: the test binary writes
# a file and the summary it expects, then tests/tools/read_safetensors.py (json + numpy only)
# reads the file and must print exactly that summary.
# Arguments: -DTESTS=<tapegrad_tests> -DWORK_DIR=<scratch dir>.
# Prints "SKIPPED: ..." (the test's SKIP_REGULAR_EXPRESSION) when no python3 has numpy.
include(${CMAKE_CURRENT_LIST_DIR}/find_python.cmake)
find_python_with(numpy python)
if(NOT python)
  message("SKIPPED: python3 with numpy is unavailable")
  return()
endif()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(file ${WORK_DIR}/check.safetensors)
execute_process(COMMAND ${CMAKE_COMMAND} -E env TAPEGRAD_SAFETENSORS_OUT=${file}
                        ${TESTS} "[write-safetensors-for-python]"
                RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT result EQUAL 0 OR NOT EXISTS ${file}.expected)
  message(FATAL_ERROR "writing ${file} failed (${result}):\n${out}")
endif()
execute_process(COMMAND ${python} ${CMAKE_CURRENT_LIST_DIR}/read_safetensors.py ${file}
                RESULT_VARIABLE result OUTPUT_VARIABLE actual ERROR_VARIABLE error)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${python} read_safetensors.py ${file} failed (${result}):\n${error}")
endif()
file(READ ${file}.expected expected)
if(NOT actual STREQUAL expected)
  message(FATAL_ERROR "Python read ${file} differently.\nexpected:\n${expected}\nPython printed:\n${actual}")
endif()
message(STATUS "Python (${python}) read the same tensors:\n${actual}")
