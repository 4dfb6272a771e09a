# Configures, builds and runs tests/packaging/consumer against pollard. MODE=find_package first
# installs a fresh configure of SOURCE_DIR (tests, benchmarks, examples off) into PREFIX;
# MODE=add_subdirectory lets the consumer add SOURCE_DIR itself.
function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "packaging (${MODE}): ${what} failed (exit ${rc}): ${ARGN}")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(common -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_BUILD_TYPE=Release)

if(MODE STREQUAL "find_package")
  file(REMOVE_RECURSE ${PREFIX})
  run_step("configuring pollard for installation"
    ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/pollard ${common}
      -DCMAKE_INSTALL_PREFIX=${PREFIX} -DPOLLARD_BUILD_TESTS=OFF -DPOLLARD_BUILD_BENCHMARKS=OFF
      -DPOLLARD_BUILD_EXAMPLES=OFF -DPOLLARD_SANITIZER_SUITE=OFF)
  run_step("building pollard" ${CMAKE_COMMAND} --build ${WORK_DIR}/pollard)
  run_step("installing pollard" ${CMAKE_COMMAND} --install ${WORK_DIR}/pollard)
  # Without the `cuda` component the package must not look for the CUDA toolkit at all.
  set(consumer_options -DCMAKE_PREFIX_PATH=${PREFIX} -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
                       -DPOLLARD_EXPECTED_PREFIX=${PREFIX} -DCMAKE_DISABLE_FIND_PACKAGE_CUDAToolkit=ON)
elseif(MODE STREQUAL "add_subdirectory")
  set(consumer_options -DPOLLARD_SOURCE_DIR=${SOURCE_DIR})
else()
  message(FATAL_ERROR "packaging: unknown MODE '${MODE}'")
endif()

run_step("configuring the consumer"
  ${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/consumer ${common}
    -DPOLLARD_CONSUMER_MODE=${MODE} ${consumer_options})
run_step("building the consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/consumer)
run_step("running the consumer" ${WORK_DIR}/consumer/pollard_consumer)

# With the CUDA backend installed, a CUDA consumer asks for the `cuda` component and compiles a
# .cu file against pollard::cuda (it runs only where a GPU is; elsewhere it says so and passes).
if(MODE STREQUAL "find_package" AND HAVE_CUDA)
  run_step("configuring the CUDA consumer"
    ${CMAKE_COMMAND} -S ${CONSUMER_DIR}/cuda -B ${WORK_DIR}/consumer_cuda ${common}
      -DCMAKE_PREFIX_PATH=${PREFIX} -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
      -DCMAKE_CUDA_COMPILER=${CUDA_COMPILER})
  run_step("building the CUDA consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/consumer_cuda)
  run_step("running the CUDA consumer" ${WORK_DIR}/consumer_cuda/pollard_cuda_consumer)
endif()
