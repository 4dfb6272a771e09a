// pollard — an owning buffer of device memory, with views and host transfers.
#pragma once

#if !defined(__CUDACC__)
#error \
    "pollard/backends/cuda/device_buffer.cuh is CUDA code: include it from a .cu file compiled by nvcc"
#endif

#include <cuda_runtime.h>

#include <cstddef>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "pollard/backends/cuda/checked_call.cuh"
#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard::cuda {

namespace detail {

/// pollard's pools of stream-ordered device memory, one per device, created on first use. A
/// freed block stays reserved for the next allocation (release threshold: unlimited), so that
/// the primitives' per-call buffers cost no cudaMalloc and no device-wide synchronisation of
/// cudaFree; release_pooled_memory() gives the reserve back.
class stream_ordered_pools {
 public:
  static cudaMemPool_t of(int device) {
    const std::lock_guard<std::mutex> guard(lock());
    cudaMemPool_t& pool = pools()[device];
    if (pool == nullptr) {
      cudaMemPoolProps properties{};
      properties.allocType = cudaMemAllocationTypePinned;
      properties.location.type = cudaMemLocationTypeDevice;
      properties.location.id = device;
      POLLARD_CUDA_CHECK(cudaMemPoolCreate(&pool, &properties));
      unsigned long long threshold = ~0ull;
      POLLARD_CUDA_CHECK(
          cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));
    }
    return pool;
  }
  static void trim() {
    const std::lock_guard<std::mutex> guard(lock());
    for (const auto& [device, pool] : pools()) POLLARD_CUDA_CHECK(cudaMemPoolTrimTo(pool, 0));
  }

 private:
  static std::mutex& lock() {
    static std::mutex m;
    return m;
  }
  static std::map<int, cudaMemPool_t>& pools() {
    static std::map<int, cudaMemPool_t> p;  // never destroyed: they live as long as the process
    return p;
  }
};

}  // namespace detail

/// Gives the device memory that pollard's stream-ordered buffers have freed back to the system
/// (blocks still in use stay).
inline void release_pooled_memory() { detail::stream_ordered_pools::trim(); }

/// `size` elements of T in device memory (uninitialised), freed on destruction: either
/// allocated with cudaMalloc (usable anywhere; cudaFree synchronises the device), or
/// stream-ordered on a stream (pollard's pool; usable by work on that stream, or elsewhere once
/// that work is synchronised; freed in that stream's order, so work of other streams that reads
/// it must be synchronised before it is destroyed).
template <class T>
class device_buffer {
 public:
  device_buffer() = default;
  explicit device_buffer(std::size_t size) : size_(size) {
    if (size > 0)
      POLLARD_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&data_), size * sizeof(T)));
  }
  /// Stream-ordered on `stream` (cudaMallocFromPoolAsync).
  device_buffer(std::size_t size, cudaStream_t stream)
      : size_(size), stream_(stream), stream_ordered_(true) {
    if (size > 0) {
      int device = 0;
      POLLARD_CUDA_CHECK(cudaGetDevice(&device));
      POLLARD_CUDA_CHECK(cudaMallocFromPoolAsync(reinterpret_cast<void**>(&data_), size * sizeof(T),
                                                 detail::stream_ordered_pools::of(device), stream));
    }
  }
  /// A copy of the host values.
  explicit device_buffer(std::span<const T> values) : device_buffer(values.size()) {
    upload(values);
  }
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
  device_buffer(device_buffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        stream_(other.stream_),
        stream_ordered_(other.stream_ordered_) {}
  device_buffer& operator=(device_buffer&& other) noexcept {
    if (this != &other) {
      release();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
      stream_ = other.stream_;
      stream_ordered_ = other.stream_ordered_;
    }
    return *this;
  }
  ~device_buffer() { release(); }

  T* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }

  /// The first rows*cols elements as a row-major device view; shape_error when they do not fit.
  device_view<T> view(index_t rows, index_t cols) const {
    if (rows < 0 || cols < 0 || static_cast<std::size_t>(rows * cols) > size_)
      throw shape_error("device_buffer: a " + shape_text(rows, cols) + " view does not fit in " +
                        std::to_string(size_) + " elements");
    return device_view<T>(data_, rows, cols);
  }

  /// Waits for the work queued on the stream of a stream-ordered buffer (nothing otherwise):
  /// before the buffer is read or written outside that stream.
  void wait() const {
    if (stream_ordered_ && data_ != nullptr) POLLARD_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  /// Copies host values to the start of the buffer (synchronously).
  void upload(std::span<const T> values) {
    if (values.size() > size_)
      throw shape_error("device_buffer: " + std::to_string(values.size()) +
                        " values do not fit in " + std::to_string(size_) + " elements");
    wait();
    if (!values.empty())
      POLLARD_CUDA_CHECK(
          cudaMemcpy(data_, values.data(), values.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  /// The whole buffer copied to the host (synchronously).
  std::vector<T> download() const {
    std::vector<T> out(size_);
    wait();
    if (size_ > 0)
      POLLARD_CUDA_CHECK(cudaMemcpy(out.data(), data_, size_ * sizeof(T), cudaMemcpyDeviceToHost));
    return out;
  }

 private:
  void release() noexcept {
    // A failure here cannot be reported.
    if (data_ != nullptr) {
      if (stream_ordered_)
        cudaFreeAsync(data_, stream_);
      else
        cudaFree(data_);
    }
    data_ = nullptr;
    size_ = 0;
  }

  T* data_ = nullptr;
  std::size_t size_ = 0;
  cudaStream_t stream_ = nullptr;
  bool stream_ordered_ = false;
};

}  // namespace pollard::cuda
