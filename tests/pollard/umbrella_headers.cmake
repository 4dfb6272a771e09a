cmake_minimum_required(VERSION 3.25)
# The umbrella headers are complete and light where they promise to be: every header under
# include/pollard is reached from pollard/pollard.hpp or pollard/llm.hpp, following the includes as
# the preprocessor does (`-M`), except the two included on their own (pollard/adapters/torch.hpp,
# LibTorch; the CUDA .cuh headers are not .hpp); and pollard/pollard.hpp reaches neither <zlib.h>
# nor <pcre2.h>, the LLM layer's dependencies, so it needs only the pollard::pollard target.
#
# cmake -DCOMPILER=... -DSOURCE_DIR=<repository> -DWORK_DIR=<scratch> -DINCLUDE_DIRS=<a|b|...>
#       -P umbrella_headers.cmake
set(include_dir ${SOURCE_DIR}/include)
string(REPLACE "|" ";" extra_dirs "${INCLUDE_DIRS}")
set(flags -std=c++20 -M -MG -DPCRE2_CODE_UNIT_WIDTH=8 -I${include_dir})
foreach(dir IN LISTS extra_dirs)
  if(dir)
    list(APPEND flags -I${dir})
  endif()
endforeach()
file(MAKE_DIRECTORY ${WORK_DIR})

# The files the preprocessor opens for `#include "<umbrella>"`, as real paths.
function(files_reached umbrella out)
  set(source ${WORK_DIR}/reach.cpp)
  file(WRITE ${source} "#include \"${umbrella}\"\n")
  execute_process(COMMAND ${COMPILER} ${flags} ${source} OUTPUT_VARIABLE deps
                  ERROR_VARIABLE errors RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${COMPILER} -M on ${umbrella} failed:\n${errors}")
  endif()
  string(REPLACE "\\\n" " " deps "${deps}")
  string(REGEX REPLACE "[ \n]+" ";" deps "${deps}")
  set(files)
  foreach(d IN LISTS deps)
    if(d MATCHES "^/" AND EXISTS "${d}")
      file(REAL_PATH "${d}" real)
      list(APPEND files "${real}")
    endif()
  endforeach()
  set(${out} ${files} PARENT_SCOPE)
endfunction()

files_reached(pollard/pollard.hpp core)
files_reached(pollard/llm.hpp all)

set(failures "")
foreach(heavy IN ITEMS zlib.h pcre2.h)
  foreach(f IN LISTS core)
    if(f MATCHES "/${heavy}$")
      string(APPEND failures "pollard/pollard.hpp reaches <${heavy}> (${f}), an LLM-layer dependency\n")
    endif()
  endforeach()
endforeach()

file(GLOB_RECURSE headers RELATIVE ${include_dir} ${include_dir}/pollard/*.hpp)
list(LENGTH headers count)
if(count LESS 50)
  message(FATAL_ERROR "found only ${count} headers under ${include_dir}/pollard")
endif()
set(own_include pollard/adapters/torch.hpp)
foreach(h IN LISTS headers)
  file(REAL_PATH "${include_dir}/${h}" real)
  if(h IN_LIST own_include OR real IN_LIST all OR real IN_LIST core)
    continue()
  endif()
  # The DLPack adapter is included when <dlpack/dlpack.h> is found.
  if(h STREQUAL "pollard/adapters/dlpack.hpp")
    continue()
  endif()
  string(APPEND failures "${h} is reached from neither pollard/pollard.hpp nor pollard/llm.hpp\n")
endforeach()
if(failures)
  message(FATAL_ERROR "${failures}")
endif()
message(STATUS "umbrellas: ${count} headers, every one reached; pollard/pollard.hpp needs no zlib or PCRE2")
