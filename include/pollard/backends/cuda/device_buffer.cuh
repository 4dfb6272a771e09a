// pollard — an owning buffer of device memory, with views and host transfers.
#pragma once

#if !defined(__CUDACC__)
#error \
    "pollard/backends/cuda/device_buffer.cuh is CUDA code: include it from a .cu file compiled by nvcc"
#endif

#include <cuda_runtime.h>

#include <cstddef>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "pollard/backends/cuda/checked_call.cuh"
#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard::cuda {

/// `size` elements of T in device memory (cudaMalloc; uninitialised), freed on destruction.
template <class T>
class device_buffer {
 public:
  device_buffer() = default;
  explicit device_buffer(std::size_t size) : size_(size) {
    if (size > 0)
      POLLARD_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&data_), size * sizeof(T)));
  }
  /// A copy of the host values.
  explicit device_buffer(std::span<const T> values) : device_buffer(values.size()) {
    upload(values);
  }
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
  device_buffer(device_buffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  device_buffer& operator=(device_buffer&& other) noexcept {
    if (this != &other) {
      release();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  ~device_buffer() { release(); }

  T* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }

  /// The first rows*cols elements as a row-major device view; shape_error when they do not fit.
  device_view<T> view(index_t rows, index_t cols) const {
    if (rows < 0 || cols < 0 || static_cast<std::size_t>(rows * cols) > size_)
      throw shape_error("device_buffer: a " + std::to_string(rows) + "x" + std::to_string(cols) +
                        " view does not fit in " + std::to_string(size_) + " elements");
    return device_view<T>(data_, rows, cols);
  }

  /// Copies host values to the start of the buffer (synchronously).
  void upload(std::span<const T> values) {
    if (values.size() > size_)
      throw shape_error("device_buffer: " + std::to_string(values.size()) +
                        " values do not fit in " + std::to_string(size_) + " elements");
    if (!values.empty())
      POLLARD_CUDA_CHECK(
          cudaMemcpy(data_, values.data(), values.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  /// The whole buffer copied to the host (synchronously).
  std::vector<T> download() const {
    std::vector<T> out(size_);
    if (size_ > 0)
      POLLARD_CUDA_CHECK(cudaMemcpy(out.data(), data_, size_ * sizeof(T), cudaMemcpyDeviceToHost));
    return out;
  }

 private:
  void release() noexcept {
    if (data_ != nullptr) cudaFree(data_);  // a failure here cannot be reported
    data_ = nullptr;
    size_ = 0;
  }

  T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace pollard::cuda
