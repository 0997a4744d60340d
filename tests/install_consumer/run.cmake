# Installs the build tree into WORK_DIR/prefix, then configures, builds and runs the
# consumer project beside this file against it. Fails on any step that fails.
file(REMOVE_RECURSE ${WORK_DIR})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "failed (${result}): ${ARGN}\n${out}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

run(${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${WORK_DIR}/prefix --config ${CONFIG})
# The consumer uses the compiler tapegrad was built with: the static libraries carry that
# compiler's OpenMP calls (GCC's GOMP_*, clang's __kmpc_*) and, in a sanitizer build, its
# sanitizer runtime.
run(${CMAKE_COMMAND} -S ${CMAKE_CURRENT_LIST_DIR}/project -B ${WORK_DIR}/build
    -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/consumer)
string(FIND "${last_output}" "tensor([[19., 25.]," found)
if(found EQUAL -1)
  message(FATAL_ERROR "the consumer printed something unexpected:\n${last_output}")
endif()
message(STATUS "consumer output:\n${last_output}")
