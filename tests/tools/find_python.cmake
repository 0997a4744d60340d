# SPDX-License-Identifier: MIT
# find_python_with(<module> <out_var>): sets <out_var> to the first python3 that can import
# <module> (a Python expression list such as "numpy" or "torch, numpy"), or to "" when none
# can. Debian's /usr/bin/python3 is tried first: Debian's python3-* packages (numpy, torch,
# selenium) import only there, and another python3 may come first on PATH.
function(find_python_with module out_var)
  foreach(candidate /usr/bin/python3 python3)
    find_program(found NAMES ${candidate} NO_CACHE)
    if(found)
      execute_process(COMMAND ${found} -c "import ${module}" RESULT_VARIABLE result OUTPUT_QUIET ERROR_QUIET)
      if(result EQUAL 0)
        set(${out_var} ${found} PARENT_SCOPE)
        return()
      endif()
    endif()
    unset(found)
  endforeach()
  set(${out_var} "" PARENT_SCOPE)
endfunction()
