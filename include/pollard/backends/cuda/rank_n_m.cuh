// pollard — the CUDA backend's N:M ranking: in every window of M consecutive columns of each row,
// prune the N lowest scores (ties: the lower column first), one thread per window, one kernel.
#pragma once

#if !defined(__CUDACC__)
#error \
    "pollard/backends/cuda/rank_n_m.cuh is CUDA code: include it from a .cu file compiled by nvcc"
#endif

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "pollard/backends/cuda/checked_call.cuh"
#include "pollard/backends/cuda/device_checks.cuh"
#include "pollard/backends/cuda/policy.cuh"
#include "pollard/backends/cuda/select_lowest.cuh"
#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard::cuda::detail {

/// Ranks the window at column j0 of row i: entry l is pruned when fewer than `pruned` entries
/// come before it in (key, column) order. M is the window width when known at compile time
/// (keys then stay in registers), 0 otherwise (m <= 64).
template <index_t M, class T>
__device__ void rank_window(matrix_view<const T, device_space> scores, index_t i, index_t j0,
                            index_t m, index_t pruned,
                            matrix_view<std::uint8_t, device_space> out) {
  using Key = key_t<T>;
  constexpr index_t capacity = M > 0 ? M : 64;
  Key keys[capacity];
  constexpr int unroll = M > 0 ? static_cast<int>(M) : 1;
  const index_t width = M > 0 ? M : m;
#pragma unroll unroll
  for (index_t l = 0; l < width; ++l)
    keys[l] = ordered_key(to_compute<compute_type_for<T>>(scores(i, j0 + l)));
#pragma unroll unroll
  for (index_t l = 0; l < width; ++l) {
    index_t before = 0;
#pragma unroll unroll
    for (index_t o = 0; o < width; ++o)
      before += (keys[o] < keys[l] || (keys[o] == keys[l] && o < l)) ? 1 : 0;
    out(i, j0 + l) = before < pruned ? 1 : 0;
  }
}

template <index_t M, class T>
__global__ void rank_n_m_windows(matrix_view<const T, device_space> scores, index_t pruned,
                                 index_t m, matrix_view<std::uint8_t, device_space> out) {
  const index_t per_row = scores.cols() / m;
  const index_t windows = scores.rows() * per_row;
  for (index_t w = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x; w < windows;
       w += static_cast<index_t>(gridDim.x) * blockDim.x)
    rank_window<M>(scores, w / per_row, (w % per_row) * m, m, pruned, out);
}

/// Windows of 4 with the score check fused: each thread reads 16 bytes of scores (whole
/// windows: 4 floats, 8 bf16/fp16 values), lowers *first to the row-major index of each NaN or
/// -inf score, and writes the windows' flags in one store. Scores and flags whole row-major.
template <class T>
__global__ void rank_windows_of_4_checked(const T* scores, index_t count, index_t pruned,
                                          std::uint8_t* out, unsigned long long* first) {
  using Key = key_t<T>;
  using C = compute_type_for<T>;
  constexpr int width = static_cast<int>(16 / sizeof(T));
  static_assert(width % 4 == 0, "whole windows of 4 per 16-byte load");
  const auto* v = reinterpret_cast<const uint4*>(scores);
  for (index_t k = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x; k < count / width;
       k += static_cast<index_t>(gridDim.x) * blockDim.x) {
    const uint4 raw = v[k];
    T values[width];
    std::memcpy(values, &raw, sizeof raw);
    std::uint8_t flags[width];
#pragma unroll
    for (int w0 = 0; w0 < width; w0 += 4) {
      Key keys[4];
#pragma unroll
      for (int l = 0; l < 4; ++l) {
        const C value = to_compute<C>(values[w0 + l]);
        if (is_bad(value, bad_value::unrankable))
          atomicMin(first, static_cast<unsigned long long>(k * width + w0 + l));
        keys[l] = ordered_key(value);
      }
#pragma unroll
      for (int l = 0; l < 4; ++l) {
        index_t before = 0;
#pragma unroll
        for (int o = 0; o < 4; ++o)
          before += (keys[o] < keys[l] || (keys[o] == keys[l] && o < l)) ? 1 : 0;
        flags[w0 + l] = before < pruned ? 1 : 0;
      }
    }
    if constexpr (width == 4) {
      std::uint32_t packed;
      std::memcpy(&packed, flags, 4);
      reinterpret_cast<std::uint32_t*>(out)[k] = packed;
    } else {
      std::uint64_t packed;
      std::memcpy(&packed, flags, 8);
      reinterpret_cast<std::uint64_t*>(out)[k] = packed;
    }
  }
}

}  // namespace pollard::cuda::detail

namespace pollard::cuda {

/// The backend primitive: writes to `out` (the shape of `scores`, every flag overwritten) the
/// `pruned` lowest scores of every window of `group_size` consecutive columns of each row
/// (columns [0, M), [M, 2M), ...). Ties: the lower column first; +inf ranks above every finite
/// score; option_error unless 0 < pruned < group_size <= 64 and group_size divides the width;
/// non_finite_error naming the first NaN or -inf score, before anything is written.
template <cuda_policy P, class T>
void rank_n_m(const P& p, const char* who, matrix_view<const T, device_space> scores,
              index_t pruned, index_t group_size, matrix_view<std::uint8_t, device_space> out) {
  require_n_m(who, pruned, group_size, scores.cols());
  if (group_size > 64)
    throw option_error(std::string(who) +
                       ": the CUDA backend ranks windows of up to 64 columns, got " +
                       std::to_string(group_size));
  require_same_shape(who, "scores", scores.rows(), scores.cols(), "mask", out.rows(), out.cols());
  if (scores.empty()) return;
  detail::require_rankable(p, scores, who);
  const index_t windows = scores.rows() * (scores.cols() / group_size);
  const auto blocks = static_cast<unsigned>(std::min<index_t>((windows + 255) / 256, 65536));
  const cudaStream_t stream = p.resources().stream();
  if (group_size == 4)
    detail::rank_n_m_windows<4, T><<<blocks, 256, 0, stream>>>(scores, pruned, 4, out);
  else if (group_size == 8)
    detail::rank_n_m_windows<8, T><<<blocks, 256, 0, stream>>>(scores, pruned, 8, out);
  else
    detail::rank_n_m_windows<0, T><<<blocks, 256, 0, stream>>>(scores, pruned, group_size, out);
  POLLARD_CUDA_CHECK_LAUNCH("rank_n_m_windows");
}

namespace detail {

/// N:M selection into a fresh mask (nothing else to keep unwritten on bad input): windows of 4
/// in one pass with the score check fused where the layout allows, rank_n_m otherwise. Throws
/// non_finite_error naming the first NaN or -inf score, as rank_n_m does.
template <cuda_policy P, class T>
void rank_n_m_into_fresh_mask(const P& p, const char* who,
                              matrix_view<const T, device_space> scores, index_t pruned,
                              index_t group_size, matrix_view<std::uint8_t, device_space> out) {
  constexpr bool narrow = sizeof(T) <= 4;
  if constexpr (narrow) {
    if (group_size == 4 && !scores.empty() && is_whole_row_major(scores) &&
        scores.cols() % 4 == 0 && (scores.rows() * scores.cols()) % (16 / sizeof(T)) == 0 &&
        out.col_stride() == 1 && out.row_stride() == out.cols() &&
        reinterpret_cast<std::uintptr_t>(out.data()) % 8 == 0) {
      require_n_m(who, pruned, group_size, scores.cols());
      require_same_shape(who, "scores", scores.rows(), scores.cols(), "mask", out.rows(),
                         out.cols());
      auto& r = p.resources();
      unsigned long long* const first = r.status_words();
      POLLARD_CUDA_CHECK(cudaMemsetAsync(first, 0xff, sizeof(*first), r.stream()));
      const index_t count = scores.rows() * scores.cols();
      const index_t loads = count / static_cast<index_t>(16 / sizeof(T));
      const auto blocks = static_cast<unsigned>(std::clamp<index_t>((loads + 255) / 256, 1, 8192));
      rank_windows_of_4_checked<T>
          <<<blocks, 256, 0, r.stream()>>>(scores.data(), count, pruned, out.data(), first);
      POLLARD_CUDA_CHECK_LAUNCH("rank_windows_of_4_checked");
      unsigned long long found = no_entry;
      POLLARD_CUDA_CHECK(
          cudaMemcpyAsync(&found, first, sizeof(found), cudaMemcpyDeviceToHost, r.stream()));
      r.synchronize();
      if (found != no_entry) {
        const auto i = static_cast<index_t>(found) / scores.cols(),
                   j = static_cast<index_t>(found) % scores.cols();
        pollard::detail::throw_bad_score(who, i, j, value_at(scores, i, j));
      }
      return;
    }
  }
  rank_n_m(p, who, scores, pruned, group_size, out);
}

}  // namespace detail

}  // namespace pollard::cuda
