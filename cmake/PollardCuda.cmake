# The optional CUDA backend: the INTERFACE target pollard::cuda (nvcc, cuBLAS, cuSOLVER, and
# CCCL's Thrust/CUB from the toolkit). POLLARD_WITH_CUDA: AUTO builds it when nvcc is found, ON
# requires it, OFF never looks. Sets POLLARD_HAVE_CUDA.
set(POLLARD_WITH_CUDA AUTO CACHE STRING "Build the CUDA backend pollard::cuda: AUTO (when nvcc is found), ON or OFF")
set_property(CACHE POLLARD_WITH_CUDA PROPERTY STRINGS AUTO ON OFF)
option(POLLARD_BUILD_CUDA_BENCHMARKS "Build the CUDA benchmarks (benchmarks/cuda)" ${POLLARD_BUILD_BENCHMARKS})
set(POLLARD_HAVE_CUDA OFF)
if(POLLARD_WITH_CUDA STREQUAL "OFF")
  return()
endif()
if(NOT POLLARD_WITH_CUDA MATCHES "^(AUTO|ON)$")
  message(FATAL_ERROR "POLLARD_WITH_CUDA must be AUTO, ON or OFF, got '${POLLARD_WITH_CUDA}'")
endif()

include(CheckLanguage)
if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
endif()
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  if(POLLARD_WITH_CUDA STREQUAL "ON")
    message(FATAL_ERROR "POLLARD_WITH_CUDA=ON but no CUDA compiler (nvcc) was found; set CUDACXX")
  endif()
  message(STATUS "pollard: nvcc not found, the CUDA backend (pollard::cuda) is not built")
  return()
endif()

# Hopper machine code plus PTX of the same architecture, which newer GPUs compile at load time.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES "90-real;90-virtual")
endif()
enable_language(CUDA)
find_package(CUDAToolkit 12.0 REQUIRED)

add_library(pollard_cuda INTERFACE)
add_library(pollard::cuda ALIAS pollard_cuda)
set_target_properties(pollard_cuda PROPERTIES EXPORT_NAME cuda)
target_link_libraries(pollard_cuda INTERFACE pollard CUDA::cudart CUDA::cublas CUDA::cusolver)
# C++20 for nvcc by flag: CMake 3.25 does not know nvcc 13's C++20 switch. Relaxed constexpr
# lets device code call pollard's constexpr host-and-device helpers (std::bit_cast). The CPU
# headers' `#pragma GCC unroll` is meant for the host compiler; nvcc's front end need not warn.
target_compile_options(pollard_cuda INTERFACE
  $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20 --expt-relaxed-constexpr --diag-suppress=1675>)
set(POLLARD_HAVE_CUDA ON)
message(STATUS "pollard: CUDA backend on (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES})")

# Warnings as errors for pollard's own CUDA targets: nvcc's own diagnostics, and the host
# compiler's on the host side of .cu files.
function(pollard_set_cuda_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:-Werror=all-warnings -Xcompiler=-Wall,-Wextra,-Werror>
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wconversion -Wshadow -Werror>)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12)
    # As for the CPU targets (PollardWarnings.cmake): GCC 12+ at -O3 reports -Wrestrict inside
    # libstdc++'s std::string operator+ (GCC bug 105329), here on the host side of .cu files.
    target_compile_options(${target} PRIVATE
      $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wno-restrict>
      $<$<COMPILE_LANGUAGE:CXX>:-Wno-restrict>)
  endif()
endfunction()
