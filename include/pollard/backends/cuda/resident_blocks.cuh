// pollard — how many thread blocks a kernel of the CUDA backend launches: as many as the
// current device holds at once, each then taking rows (or work items) in turn.
#pragma once

#if !defined(__CUDACC__)
#error \
    "pollard/backends/cuda/resident_blocks.cuh is CUDA code: include it from a .cu file compiled by nvcc"
#endif

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>

#include "pollard/backends/cuda/checked_call.cuh"
#include "pollard/core/config.hpp"

namespace pollard::cuda::detail {

/// The multiprocessors of the current device. Throws cuda_error.
inline int multiprocessor_count() {
  int device = 0, sms = 0;
  POLLARD_CUDA_CHECK(cudaGetDevice(&device));
  POLLARD_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  return sms;
}

/// The blocks of `kernel` (`threads` each, `shared_bytes` of dynamic shared memory) resident on
/// the current device at once, by the occupancy calculator (0 when one does not fit). Throws
/// cuda_error.
template <class Kernel>
index_t resident_blocks(Kernel kernel, int threads, std::size_t shared_bytes) {
  int per_sm = 0;
  POLLARD_CUDA_CHECK(
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, shared_bytes));
  return static_cast<index_t>(multiprocessor_count()) * per_sm;
}

/// The number of blocks for a per-row kernel (one block per row): at most `per_sm` blocks per
/// multiprocessor at a time, each taking rows in turn.
inline unsigned row_blocks(index_t rows, int per_sm) {
  return static_cast<unsigned>(
      std::min<index_t>(rows, static_cast<index_t>(multiprocessor_count()) * per_sm));
}

}  // namespace pollard::cuda::detail
