# SPDX-License-Identifier: MIT
# The examples data-parallel: `mpirun -np 2 lenet --distributed` against one process on the
# same global batches. Rank 0 alone prints (one epoch line) and writes the metrics file; the
# printed loss agrees with the one-process run (to float32 rounding: the two average the same
# gradients in another order), for the classic recipe and for the modern one (SyncBatchNorm).
#   cmake -DMPIEXEC=... -DLENET=... -DWORK_DIR=... -P examples.cmake
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(common --epochs 1 --limit 1024 --test-limit 512 --threads 1)
foreach(recipe classic modern)
  execute_process(COMMAND ${LENET} --recipe ${recipe} ${common}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE single ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "lenet --recipe ${recipe} failed:\n${err}")
  endif()
  execute_process(COMMAND ${MPIEXEC} -n 2 --oversubscribe ${LENET} --distributed --recipe ${recipe} ${common}
                          --metrics ${WORK_DIR}/${recipe}.csv
                  RESULT_VARIABLE rc OUTPUT_VARIABLE multi ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "mpirun -n 2 lenet --distributed --recipe ${recipe} failed:\n${multi}\n${err}")
  endif()
  message(STATUS "${recipe}, one process: ${single}${recipe}, two ranks: ${multi}")
  string(REGEX MATCHALL "epoch 1 " lines "${multi}")
  list(LENGTH lines count)
  if(NOT count EQUAL 1)
    message(FATAL_ERROR "${recipe}: expected one epoch line from rank 0 alone, got ${count}:\n${multi}")
  endif()
  if(NOT err MATCHES "data-parallel over 2 ranks, 128 images per rank per step" AND recipe STREQUAL "classic")
    message(FATAL_ERROR "${recipe}: rank 0 did not report the split of the global batch:\n${err}")
  endif()
  file(STRINGS ${WORK_DIR}/${recipe}.csv rows)
  list(LENGTH rows count)
  if(NOT count EQUAL 2)
    message(FATAL_ERROR "${recipe}: the metrics file should hold a header and one row, got:\n${rows}")
  endif()
  string(REGEX MATCH "loss ([0-9.]+) train_acc ([0-9.]+)" _ "${single}")
  set(loss1 ${CMAKE_MATCH_1})
  set(acc1 ${CMAKE_MATCH_2})
  string(REGEX MATCH "loss ([0-9.]+) train_acc ([0-9.]+)" _ "${multi}")
  set(loss2 ${CMAKE_MATCH_1})
  set(acc2 ${CMAKE_MATCH_2})
  # cmake has no floating point: compare the printed 4 decimals as integers, within 0.002
  string(REPLACE "." "" l1 "${loss1}")
  string(REPLACE "." "" l2 "${loss2}")
  math(EXPR diff "${l1} - ${l2}")
  if(diff GREATER 20 OR diff LESS -20)
    message(FATAL_ERROR "${recipe}: the loss of two ranks (${loss2}) is not the one-process loss (${loss1})")
  endif()
endforeach()
