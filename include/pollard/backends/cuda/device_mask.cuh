// pollard — a pruning mask in device memory (1 = pruned, 0 = kept, row-major), and applying it.
#pragma once

#if !defined(__CUDACC__)
#error \
    "pollard/backends/cuda/device_mask.cuh is CUDA code: include it from a .cu file compiled by nvcc"
#endif

#include <cuda_runtime.h>

#include <cstdint>
#include <span>

#include "pollard/backends/cuda/checked_call.cuh"
#include "pollard/backends/cuda/device_buffer.cuh"
#include "pollard/backends/cuda/policy.cuh"
#include "pollard/core/checks.hpp"
#include "pollard/core/mask.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard::cuda {

/// The device counterpart of pollard::mask: rows x cols flags, same polarity and layout.
class device_mask {
 public:
  device_mask() = default;
  /// Every entry kept.
  device_mask(index_t rows, index_t cols)
      : rows_(rows), cols_(cols), flags_(static_cast<std::size_t>(checked(rows, cols))) {
    if (flags_.size() > 0) POLLARD_CUDA_CHECK(cudaMemset(flags_.data(), 0, flags_.size()));
  }
  /// Every entry kept, stream-ordered on `stream` (see device_buffer).
  device_mask(index_t rows, index_t cols, cudaStream_t stream)
      : device_mask(for_overwrite(rows, cols, stream)) {
    if (flags_.size() > 0)
      POLLARD_CUDA_CHECK(cudaMemsetAsync(flags_.data(), 0, flags_.size(), stream));
  }
  /// Flags not set, stream-ordered on `stream`: for the primitives that write every flag.
  static device_mask for_overwrite(index_t rows, index_t cols, cudaStream_t stream) {
    device_mask out;
    out.rows_ = rows;
    out.cols_ = cols;
    out.flags_ = device_buffer<std::uint8_t>(static_cast<std::size_t>(checked(rows, cols)), stream);
    return out;
  }
  /// A copy of a host mask.
  explicit device_mask(const mask& m) : device_mask(m.rows(), m.cols()) {
    flags_.upload(std::span<const std::uint8_t>(m.flags()));
  }

  index_t rows() const noexcept { return rows_; }
  index_t cols() const noexcept { return cols_; }
  /// The flags as a device view (writable: the selection primitives fill it).
  device_view<std::uint8_t> view() const noexcept {
    return device_view<std::uint8_t>(flags_.data(), rows_, cols_);
  }
  /// A host copy (synchronous: waits for the work that writes the flags).
  mask to_host() const {
    mask out(rows_, cols_);
    flags_.wait();
    if (out.size() > 0)
      POLLARD_CUDA_CHECK(cudaMemcpy(out.data(), flags_.data(), static_cast<std::size_t>(out.size()),
                                    cudaMemcpyDeviceToHost));
    return out;
  }

 private:
  static index_t checked(index_t rows, index_t cols) {
    if (rows < 0 || cols < 0) throw shape_error("device_mask: negative shape");
    return rows * cols;
  }

  index_t rows_ = 0;
  index_t cols_ = 0;
  device_buffer<std::uint8_t> flags_;
};

namespace detail {

template <class T>
__global__ void zero_pruned(matrix_view<const std::uint8_t, device_space> flags,
                            matrix_view<T, device_space> w) {
  const index_t count = w.rows() * w.cols();
  for (index_t k = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x; k < count;
       k += static_cast<index_t>(gridDim.x) * blockDim.x) {
    const index_t i = k / w.cols(), j = k % w.cols();
    if (flags(i, j) != 0) w(i, j) = T{};
  }
}

}  // namespace detail

/// Sets the pruned entries of the device weights w to zero, on p's stream. Throws shape_error
/// when the shapes differ.
template <cuda_policy P, class T>
void apply_mask(const P& p, const device_mask& m, device_view<T> w) {
  require_same_shape("apply_mask", "mask", m.rows(), m.cols(), "weights", w.rows(), w.cols());
  if (w.empty()) return;
  const index_t count = w.rows() * w.cols();
  const auto blocks = static_cast<unsigned>(std::min<index_t>((count + 255) / 256, 8192));
  detail::zero_pruned<T><<<blocks, 256, 0, p.resources().stream()>>>(m.view(), w);
  POLLARD_CUDA_CHECK_LAUNCH("zero_pruned");
}

}  // namespace pollard::cuda
