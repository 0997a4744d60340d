# SPDX-License-Identifier: MIT
# LeNet checkpoints both ways with PyTorch (scripts/torch_lenet.py, safetensors with json + numpy):
#  1. tapegrad trains the classic and the modern LeNet briefly and saves them (--save); PyTorch
#     loads each into the same nn.Sequential with load_state_dict(strict=True), and its logits on
#     the first test images must equal tapegrad's (lenet --init ... --epochs 0 --logits) within
#     1e-5 absolute: both compute in float32, with sums in different orders (convolutions, the
#     400-wide matmul), which moves logits of magnitude ~1 by a few float32 ulps (measured: 1e-7
#     to 1e-6); a wrong weight, layout or batch-norm statistic moves them by far more.
#  2. PyTorch trains the modern LeNet (one epoch on 4000 images, seed 0) and writes its
#     state_dict; tapegrad loads it (--init, strict) and must count the same number of test
#     images right as PyTorch did on the same 1000.
# Arguments: -DLENET=<lenet> -DSCRIPT=<scripts/torch_lenet.py> -DWORK_DIR=<scratch dir>.
# Prints "SKIPPED: ..." (the test's SKIP_REGULAR_EXPRESSION) without torch or Fashion-MNIST.
include(${CMAKE_CURRENT_LIST_DIR}/find_python.cmake)
find_python_with("torch, numpy" python)
if(NOT python)
  message("SKIPPED: no python3 imports torch and numpy (Debian: apt install python3-torch)")
  return()
endif()
if(DEFINED ENV{TAPEGRAD_FASHION_MNIST})
  set(data $ENV{TAPEGRAD_FASHION_MNIST})
else()
  set(data /usr/share/datasets/fashion-mnist)
endif()
if(NOT EXISTS ${data}/t10k-images-idx3-ubyte.gz)
  message("SKIPPED: Fashion-MNIST is not in ${data} (Debian: apt install dataset-fashion-mnist)")
  return()
endif()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

function(run)
  execute_process(COMMAND ${ARGN} WORKING_DIRECTORY ${WORK_DIR} RESULT_VARIABLE result OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  string(REPLACE ";" " " command "${ARGN}")
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${command} failed (${result}):\n${out}${err}")
  endif()
  message(STATUS "${command}\n${out}")
  set(out "${out}" PARENT_SCOPE)
endfunction()

set(test_limit 500)
foreach(recipe classic modern)
  run(${LENET} --data ${data} --recipe ${recipe} --epochs 1 --limit 1000 --test-limit ${test_limit} --threads 2
      --save ${recipe}.safetensors)
  run(${LENET} --data ${data} --recipe ${recipe} --init ${recipe}.safetensors --epochs 0 --test-limit ${test_limit}
      --threads 2 --logits ${recipe}_logits.safetensors)
  run(${python} ${SCRIPT} --data ${data} logits --recipe ${recipe} --weights ${recipe}.safetensors
      --test-limit ${test_limit} --expect ${recipe}_logits.safetensors --tolerance 1e-5)
endforeach()

run(${python} ${SCRIPT} --data ${data} train --limit 4000 --test-limit 1000 --seed 0 --threads 2
    --out torch.safetensors)
if(NOT out MATCHES "correct ([0-9]+)/1000")
  message(FATAL_ERROR "torch_lenet.py train printed no 'correct N/1000':\n${out}")
endif()
set(torch_correct ${CMAKE_MATCH_1})
run(${LENET} --data ${data} --recipe modern --init torch.safetensors --epochs 0 --test-limit 1000 --threads 2)
if(NOT out MATCHES "correct ([0-9]+)/1000")
  message(FATAL_ERROR "lenet --epochs 0 printed no 'correct N/1000':\n${out}")
endif()
if(NOT CMAKE_MATCH_1 EQUAL torch_correct)
  message(FATAL_ERROR "PyTorch's LeNet got ${torch_correct}/1000 test images right, tapegrad with its weights "
                      "${CMAKE_MATCH_1}/1000")
endif()
message(STATUS "PyTorch and tapegrad both count ${torch_correct}/1000 right with PyTorch's weights")
