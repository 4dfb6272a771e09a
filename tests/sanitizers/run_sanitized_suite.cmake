# Configures, builds and runs the whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer.
set(flags "-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -O1 -g")
execute_process(
  COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${BINARY_DIR}
    -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS=${flags}
    -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined
    -DPOLLARD_BUILD_BENCHMARKS=OFF -DPOLLARD_BUILD_EXAMPLES=ON -DPOLLARD_WITH_TORCH=OFF
    -DPOLLARD_SANITIZER_SUITE=OFF -DPOLLARD_PACKAGING_TESTS=OFF -DPOLLARD_WITH_CUDA=OFF -DPOLLARD_DATA_DIR=${DATA_DIR}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "sanitizer configure failed")
endif()
include(ProcessorCount)
ProcessorCount(jobs)
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BINARY_DIR} -j ${jobs} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "sanitizer build failed")
endif()
execute_process(COMMAND ${CMAKE_CTEST_COMMAND} --test-dir ${BINARY_DIR} --output-on-failure -j ${jobs}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "tests failed under ASan+UBSan")
endif()
