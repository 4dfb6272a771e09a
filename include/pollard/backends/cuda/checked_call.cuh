// pollard — checked CUDA, cuBLAS and cuSOLVER calls: every status that is not success becomes a
// cuda_error naming the call, the status and where it was made.
#pragma once

#if !defined(__CUDACC__)
#error \
    "pollard/backends/cuda/checked_call.cuh is CUDA code: include it from a .cu file compiled by nvcc"
#endif

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <string>

#include "pollard/core/error.hpp"

namespace pollard::cuda {

/// A CUDA runtime, cuBLAS or cuSOLVER call that failed (or a kernel launch that did).
class cuda_error : public error {
 public:
  using error::error;
};

namespace detail {

inline const char* status_name(cusolverStatus_t status) noexcept {
  switch (status) {
    case CUSOLVER_STATUS_SUCCESS:
      return "CUSOLVER_STATUS_SUCCESS";
    case CUSOLVER_STATUS_NOT_INITIALIZED:
      return "CUSOLVER_STATUS_NOT_INITIALIZED";
    case CUSOLVER_STATUS_ALLOC_FAILED:
      return "CUSOLVER_STATUS_ALLOC_FAILED";
    case CUSOLVER_STATUS_INVALID_VALUE:
      return "CUSOLVER_STATUS_INVALID_VALUE";
    case CUSOLVER_STATUS_ARCH_MISMATCH:
      return "CUSOLVER_STATUS_ARCH_MISMATCH";
    case CUSOLVER_STATUS_EXECUTION_FAILED:
      return "CUSOLVER_STATUS_EXECUTION_FAILED";
    case CUSOLVER_STATUS_INTERNAL_ERROR:
      return "CUSOLVER_STATUS_INTERNAL_ERROR";
    case CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED:
      return "CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED";
    case CUSOLVER_STATUS_NOT_SUPPORTED:
      return "CUSOLVER_STATUS_NOT_SUPPORTED";
    default:
      return "cusolverStatus_t (unnamed)";
  }
}

[[noreturn]] inline void throw_failed(const char* call, const std::string& status, const char* file,
                                      int line) {
  throw cuda_error(std::string("pollard: ") + call + " failed with " + status + " (" + file + ":" +
                   std::to_string(line) + ")");
}

inline void check(cudaError_t status, const char* call, const char* file, int line) {
  if (status != cudaSuccess) {
    // The runtime also records the error as the thread's last error; reset it, so that the next
    // launch check reports that launch's own status (a sticky error stays regardless).
    cudaGetLastError();
    throw_failed(call, std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status),
                 file, line);
  }
}
inline void check(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw_failed(call,
                 std::string(cublasGetStatusName(status)) + ": " + cublasGetStatusString(status),
                 file, line);
}
inline void check(cusolverStatus_t status, const char* call, const char* file, int line) {
  if (status != CUSOLVER_STATUS_SUCCESS)
    throw_failed(
        call,
        std::string(status_name(status)) + " (" + std::to_string(static_cast<int>(status)) + ")",
        file, line);
}

}  // namespace detail

}  // namespace pollard::cuda

/// Runs a CUDA runtime, cuBLAS or cuSOLVER call and throws pollard::cuda::cuda_error, naming
/// the call and its status, unless it succeeds.
#define POLLARD_CUDA_CHECK(call) ::pollard::cuda::detail::check((call), #call, __FILE__, __LINE__)

/// Checks the launch of `kernel` (the launch configuration's errors surface here).
#define POLLARD_CUDA_CHECK_LAUNCH(kernel) \
  ::pollard::cuda::detail::check(cudaGetLastError(), "launch of " kernel, __FILE__, __LINE__)
