// pollard — the CUDA execution policy: `pollard::cuda::par` runs on the default stream,
// `pollard::cuda::par.on(stream)` on `stream` (Thrust's spelling); each carries the cuBLAS and
// cuSOLVER handles and the reusable device workspace its primitives need.
#pragma once

#if !defined(__CUDACC__)
#error "pollard/backends/cuda/policy.cuh is CUDA code: include it from a .cu file compiled by nvcc"
#endif

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <concepts>
#include <cstddef>
#include <map>
#include <memory>

#include "pollard/backends/cuda/checked_call.cuh"
#include "pollard/core/execution_policy.hpp"
#include "pollard/core/memory_space.hpp"

namespace pollard::cuda {

/// What the primitives of one stream share: the stream, cuBLAS and cuSOLVER handles bound to
/// it (created on first use, destroyed with this object) and a device workspace that grows to
/// the largest request and is reused, stream-ordered, by every later call.
class execution_resources {
 public:
  explicit execution_resources(cudaStream_t stream) noexcept : stream_(stream) {}
  execution_resources(const execution_resources&) = delete;
  execution_resources& operator=(const execution_resources&) = delete;
  ~execution_resources() {
    // Failures while tearing down cannot be reported; the handles are gone either way.
    if (workspace_ != nullptr) cudaFreeAsync(workspace_, stream_);
    if (cublas_ != nullptr) cublasDestroy(cublas_);
    if (cusolver_ != nullptr) cusolverDnDestroy(cusolver_);
    if (status_ != nullptr) cudaFree(status_);
    if (staging_ != nullptr) cudaFreeHost(staging_);
  }

  cudaStream_t stream() const noexcept { return stream_; }

  /// The cuBLAS handle on this stream (default math mode: no TF32 unless asked for).
  cublasHandle_t cublas() {
    if (cublas_ == nullptr) {
      POLLARD_CUDA_CHECK(cublasCreate(&cublas_));
      POLLARD_CUDA_CHECK(cublasSetStream(cublas_, stream_));
    }
    return cublas_;
  }
  /// The cuSOLVER dense handle on this stream.
  cusolverDnHandle_t cusolver() {
    if (cusolver_ == nullptr) {
      POLLARD_CUDA_CHECK(cusolverDnCreate(&cusolver_));
      POLLARD_CUDA_CHECK(cusolverDnSetStream(cusolver_, stream_));
    }
    return cusolver_;
  }

  /// At least `bytes` of device memory, valid for work queued on this stream until the next
  /// call (which may reallocate; the old block is freed in stream order). 256-byte aligned.
  void* workspace(std::size_t bytes) {
    if (bytes > workspace_bytes_) {
      if (workspace_ != nullptr) POLLARD_CUDA_CHECK(cudaFreeAsync(workspace_, stream_));
      workspace_ = nullptr;
      workspace_bytes_ = 0;
      POLLARD_CUDA_CHECK(cudaMallocAsync(&workspace_, bytes, stream_));
      workspace_bytes_ = bytes;
    }
    return workspace_;
  }

  /// Eight device words for the primitives' flags and counters (the first non-finite entry
  /// found, ...), allocated on first use.
  unsigned long long* status_words() {
    if (status_ == nullptr)
      POLLARD_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&status_), 8 * sizeof(*status_)));
    return status_;
  }

  /// At least `bytes` of page-locked host memory for results copied back on this stream (a
  /// pageable destination makes the copy staged and slower), valid until the next call; grows
  /// to the largest request.
  void* host_staging(std::size_t bytes) {
    if (bytes > staging_bytes_) {
      synchronize();  // a copy into the old block may still be queued
      if (staging_ != nullptr) POLLARD_CUDA_CHECK(cudaFreeHost(staging_));
      staging_ = nullptr;
      staging_bytes_ = 0;
      POLLARD_CUDA_CHECK(cudaMallocHost(&staging_, bytes));
      staging_bytes_ = bytes;
    }
    return staging_;
  }

  /// Waits for everything queued on the stream; throws cuda_error on a failure it reports.
  void synchronize() const { POLLARD_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

 private:
  cudaStream_t stream_;
  cublasHandle_t cublas_ = nullptr;
  cusolverDnHandle_t cusolver_ = nullptr;
  void* workspace_ = nullptr;
  std::size_t workspace_bytes_ = 0;
  unsigned long long* status_ = nullptr;
  void* staging_ = nullptr;
  std::size_t staging_bytes_ = 0;
};

/// Device execution on one stream. A small value: copies share the stream's resources.
class stream_policy {
 public:
  using memory_space = device_space;

  explicit stream_policy(cudaStream_t stream)
      : resources_(std::make_shared<execution_resources>(stream)) {}

  /// Work on another stream (with resources of its own).
  stream_policy on(cudaStream_t stream) const { return stream_policy(stream); }

  cudaStream_t stream() const noexcept { return resources_->stream(); }
  /// Host threads that drive the device: one (the device schedules its own parallelism).
  int threads() const noexcept { return 1; }
  execution_resources& resources() const noexcept { return *resources_; }

 private:
  std::shared_ptr<execution_resources> resources_;
};

/// The default-stream policy: `par` itself uses the calling thread's resources for the current
/// device's default stream; `par.on(stream)` gives a policy on `stream`.
class par_t {
 public:
  using memory_space = device_space;

  constexpr par_t() = default;

  stream_policy on(cudaStream_t stream) const { return stream_policy(stream); }

  cudaStream_t stream() const noexcept { return cudaStream_t{}; }
  int threads() const noexcept { return 1; }
  execution_resources& resources() const {
    thread_local std::map<int, std::unique_ptr<execution_resources>> per_device;
    int device = 0;
    POLLARD_CUDA_CHECK(cudaGetDevice(&device));
    auto& slot = per_device[device];
    if (!slot) slot = std::make_unique<execution_resources>(cudaStream_t{});
    return *slot;
  }
};

/// The default stream; `par.on(stream)` for another.
inline constexpr par_t par{};

/// A CUDA execution policy: an execution_policy on device memory whose resources() gives the
/// stream, handles and workspace the CUDA primitives run with.
template <class P>
concept cuda_policy = execution_policy<P> && std::same_as<typename P::memory_space, device_space> &&
    requires(const P& p) {
  { p.resources() } -> std::same_as<execution_resources&>;
};

static_assert(cuda_policy<par_t>);
static_assert(cuda_policy<stream_policy>);

}  // namespace pollard::cuda
