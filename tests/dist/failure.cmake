# SPDX-License-Identifier: MIT
# Runs tapegrad_dist_failure under mpirun with two ranks in MODE (killed or hung) and checks
# that the job ends non-zero within the time allowed, with the message the mode calls for.
#   cmake -DMPIEXEC=... -DPROGRAM=... -DMODE=killed|hung -P failure.cmake
set(ENV{TAPEGRAD_DIST_TIMEOUT} 5)
string(TIMESTAMP start "%s")
execute_process(
  COMMAND ${MPIEXEC} -n 2 --oversubscribe ${PROGRAM} ${MODE}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 90)
string(TIMESTAMP end "%s")
math(EXPR seconds "${end} - ${start}")
message(STATUS "mode ${MODE}: exit ${rc} after ${seconds} s\n--- stdout\n${out}\n--- stderr\n${err}")
if(rc STREQUAL "0" OR rc MATCHES "timeout")
  message(FATAL_ERROR "mode ${MODE}: the job should have ended non-zero, got '${rc}'")
endif()
if(seconds GREATER 60)
  message(FATAL_ERROR "mode ${MODE}: the job took ${seconds} s to end; the timeout is 5 s")
endif()
if(MODE STREQUAL "hung")
  # rank 0's own timeout ended it, naming the call and how to wait longer
  if(NOT err MATCHES "all_reduce_: rank 0 of 2 waited 5 s" OR NOT err MATCHES "TAPEGRAD_DIST_TIMEOUT")
    message(FATAL_ERROR "mode hung: rank 0 did not report its timeout")
  endif()
else()
  # mpirun saw rank 1 die (or rank 0 timed out first): either way, a message says what died
  if(NOT err MATCHES "(signal 9|Killed|waited 5 s)")
    message(FATAL_ERROR "mode killed: no message says that rank 1 died")
  endif()
endif()
