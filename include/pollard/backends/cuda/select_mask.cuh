// pollard — the mask policies on the device: unstructured (per row, per matrix, per column
// block) and N:M selections of device scores, with the host policies' rules and tie order.
#pragma once

#if !defined(__CUDACC__)
#error \
    "pollard/backends/cuda/select_mask.cuh is CUDA code: include it from a .cu file compiled by nvcc"
#endif

#include <cmath>

#include "pollard/backends/cuda/device_mask.cuh"
#include "pollard/backends/cuda/policy.cuh"
#include "pollard/backends/cuda/rank_n_m.cuh"
#include "pollard/backends/cuda/select_lowest.cuh"
#include "pollard/core/matrix_view.hpp"
#include "pollard/masks/n_m.hpp"
#include "pollard/masks/unstructured.hpp"

namespace pollard::cuda {

/// policy.select(scores) for device scores: the floor(n·s) lowest of every comparison group
/// (ties: the earlier row-major position in the group first); non_finite_error on NaN or -inf.
/// The mask is stream-ordered on p's stream (see device_buffer).
template <cuda_policy P, class T>
device_mask select_mask(const P& p, const unstructured& policy, device_view<T> any_scores) {
  const device_view<const std::remove_const_t<T>> scores = any_scores;
  auto out = device_mask::for_overwrite(scores.rows(), scores.cols(), p.resources().stream());
  const double s = policy.sparsity();
  const auto prune_count = [s](index_t n) {
    return static_cast<index_t>(std::floor(static_cast<double>(n) * s));
  };
  const char* const who = "unstructured";
  switch (policy.comparison_group()) {
    case unstructured::group::row:
      if (detail::fits_row_select<std::remove_const_t<T>>(scores.cols()))
        detail::select_lowest_per_row(p, who, scores, prune_count(scores.cols()), out.view());
      else
        select_lowest(p, who, scores, 1, scores.cols(), prune_count, out.view());
      break;
    case unstructured::group::matrix:
      select_lowest(p, who, scores, scores.rows(), scores.cols(), prune_count, out.view());
      break;
    case unstructured::group::column_block:
      select_lowest(p, who, scores, scores.rows(), policy.block_width(), prune_count, out.view());
      break;
  }
  return out;
}

/// N:M on device scores: the pruned() lowest of every window of group_size() columns of a row.
template <cuda_policy P, class T>
device_mask select_mask(const P& p, const n_m& policy, device_view<T> any_scores) {
  const device_view<const std::remove_const_t<T>> scores = any_scores;
  auto out = device_mask::for_overwrite(scores.rows(), scores.cols(), p.resources().stream());
  detail::rank_n_m_into_fresh_mask(p, "n_m", scores, policy.pruned(), policy.group_size(),
                                   out.view());
  return out;
}
template <cuda_policy P, class T, index_t N, index_t M>
device_mask select_mask(const P& p, const pruned_of<N, M>&, device_view<T> any_scores) {
  const device_view<const std::remove_const_t<T>> scores = any_scores;
  auto out = device_mask::for_overwrite(scores.rows(), scores.cols(), p.resources().stream());
  detail::rank_n_m_into_fresh_mask(p, "n_m", scores, N, M, out.view());
  return out;
}

}  // namespace pollard::cuda
