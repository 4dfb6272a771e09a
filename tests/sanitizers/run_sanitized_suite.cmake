# Configures, builds and runs the whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer.
set(flags "-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -O1")
execute_process(
  COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${BINARY_DIR}
    -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS=${flags} "-DCMAKE_CXX_FLAGS_DEBUG=-g1 -gz"
    "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined -gz"
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
# The instrumented objects (about 40 MB each) are not needed once linked; a CI disk holds only
# a few GB.
file(GLOB_RECURSE objects "${BINARY_DIR}/*.o")
file(REMOVE ${objects})
execute_process(COMMAND ${CMAKE_CTEST_COMMAND} --test-dir ${BINARY_DIR} --output-on-failure -j ${jobs}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "tests failed under ASan+UBSan")
endif()
