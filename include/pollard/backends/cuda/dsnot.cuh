// pollard — DSnoT on the GPU: the mask refinement of pollard::dsnot (solvers/dsnot.hpp), one
// warp per row, every choice made as the CPU makes it.
#pragma once

#if !defined(__CUDACC__)
#error "pollard/backends/cuda/dsnot.cuh is CUDA code: include it from a .cu file compiled by nvcc"
#endif

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include "pollard/backends/cuda/checked_call.cuh"
#include "pollard/backends/cuda/device_checks.cuh"
#include "pollard/backends/cuda/device_mask.cuh"
#include "pollard/backends/cuda/policy.cuh"
#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/solvers/dsnot.hpp"

namespace pollard::cuda::detail {

/// A candidate of a warp-wide search: the column and the value it is ranked by (column -1:
/// none). `better(a, b)` is a strict total order, so the winner does not depend on the order
/// in which the lanes' candidates meet.
struct dsnot_candidate {
  double value;
  index_t column;
  int rank_class;  // the prune list's part (0 before 1); 0 for the regrowth search
};

__device__ inline dsnot_candidate warp_best(dsnot_candidate mine,
                                            bool (*better)(const dsnot_candidate&,
                                                           const dsnot_candidate&)) {
  for (int offset = 16; offset > 0; offset /= 2) {
    dsnot_candidate other;
    other.value = __shfl_xor_sync(0xffffffffu, mine.value, offset);
    other.column = __shfl_xor_sync(0xffffffffu, mine.column, offset);
    other.rank_class = __shfl_xor_sync(0xffffffffu, mine.rank_class, offset);
    if (other.column >= 0 && (mine.column < 0 || better(other, mine))) mine = other;
  }
  return mine;
}

// Regrowth with e > 0: the largest key, of equal keys the highest column (the top of a stable
// ascending sort); with e < 0: the smallest key, of equal keys the lowest column.
__device__ inline bool regrow_high(const dsnot_candidate& a, const dsnot_candidate& b) {
  return a.value > b.value || (a.value == b.value && a.column > b.column);
}
__device__ inline bool lowest_first(const dsnot_candidate& a, const dsnot_candidate& b) {
  return a.value < b.value || (a.value == b.value && a.column < b.column);
}
// The unstructured prune list walked from one end: part 0 ascending by (score, column), then
// part 1 descending by (score, column) (the reversed tail of a stable ascending sort).
__device__ inline bool prune_list_order(const dsnot_candidate& a, const dsnot_candidate& b) {
  if (a.rank_class != b.rank_class) return a.rank_class < b.rank_class;
  return a.rank_class == 0 ? lowest_first(a, b) : lowest_first(b, a);
}

/// One warp per row (grid-stride by warp): `out` holds the initial mask on entry and the
/// refined one on exit. The arithmetic on e is the CPU's, in its order, without contraction:
/// metric = W·E[x] (__dmul_rn), e summed in column order, next = (e + metric_p) − metric_r.
/// denominator[j] = Var(x_j)^power (0 where the variance is 0), computed on the host by the CPU's
/// std::pow.
template <class T, class S>
__global__ void dsnot_rows(matrix_view<const T, device_space> w,
                           matrix_view<const S, device_space> scores,
                           matrix_view<const std::uint8_t, device_space> initial,
                           matrix_view<std::uint8_t, device_space> out, const double* mean,
                           const double* denominator, index_t window, double threshold,
                           int max_cycles) {
  constexpr unsigned all = 0xffffffffu;
  const int lane = static_cast<int>(threadIdx.x % 32);
  const index_t warps = static_cast<index_t>(gridDim.x) * blockDim.x / 32;
  const index_t cols = w.cols();
  const auto metric = [&](index_t i, index_t j) {
    return __dmul_rn(to_compute<double>(w(i, j)), mean[j]);
  };
  const auto key = [&](double m, index_t j) {
    const double d = denominator[j];
    return d > 0.0 ? m / d : m > 0.0 ? INFINITY : m < 0.0 ? -INFINITY : 0.0;
  };
  const auto score = [&](index_t i, index_t j) { return to_compute<double>(scores(i, j)); };
  for (index_t i = (blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x) / 32; i < w.rows();
       i += warps) {
    // e: the pruned weights' contributions added in column order, 32 columns at a time.
    double e = 0.0;
    for (index_t base = 0; base < cols; base += 32) {
      const index_t j = base + lane;
      const double m = j < cols && initial(i, j) != 0 ? metric(i, j) : 0.0;
      const int count = static_cast<int>(std::min<index_t>(32, cols - base));
      for (int t = 0; t < count; ++t) {
        const double v = __shfl_sync(all, m, t);
        const bool pruned = __shfl_sync(all, j < cols && initial(i, j) != 0 ? 1 : 0, t) != 0;
        if (pruned) e = __dadd_rn(e, v);
      }
    }
    if (e == 0.0 || !(fabs(e) > threshold) || max_cycles == 0) continue;
    const double sign = e > 0.0 ? 1.0 : -1.0;
    for (int cycle = 0; cycle < max_cycles && fabs(e) > threshold; ++cycle) {
      // r: an initially pruned weight not regrown yet.
      dsnot_candidate r{0.0, -1, 0};
      for (index_t j = lane; j < cols; j += 32) {
        if (initial(i, j) == 0 || out(i, j) == 0) continue;
        const dsnot_candidate c{key(metric(i, j), j), j, 0};
        if (r.column < 0 || (e > 0.0 ? regrow_high(c, r) : lowest_first(c, r))) r = c;
      }
      r = warp_best(r, e > 0.0 ? regrow_high : lowest_first);
      if (r.column < 0) break;
      const double metric_r = metric(i, r.column);
      if (!(metric_r * sign > 0.0)) break;
      // p: a weight kept initially and still kept.
      dsnot_candidate p{0.0, -1, 0};
      if (window > 0) {
        const index_t start = r.column - r.column % window;
        const index_t end = std::min(start + window, cols);
        for (index_t j = start + lane; j < end; j += 32) {
          if (initial(i, j) != 0 || out(i, j) != 0) continue;
          const dsnot_candidate c{score(i, j), j, 0};
          if (p.column < 0 || lowest_first(c, p)) p = c;
        }
        p = warp_best(p, lowest_first);
      } else {
        // e > 0 walks the list from the front: negative contributions by ascending score,
        // then the others by descending score; e < 0 from the back: the others by ascending
        // score, then the negative ones by descending score.
        for (index_t j = lane; j < cols; j += 32) {
          if (initial(i, j) != 0 || out(i, j) != 0) continue;
          const bool negative = metric(i, j) < 0.0;
          const dsnot_candidate c{score(i, j), j, negative == (e > 0.0) ? 0 : 1};
          if (p.column < 0 || prune_list_order(c, p)) p = c;
        }
        p = warp_best(p, prune_list_order);
      }
      if (p.column < 0) break;
      const double metric_p = metric(i, p.column);
      if (window == 0 && metric_p * sign > 0.0) break;
      const double next = __dadd_rn(__dadd_rn(e, metric_p), -metric_r);
      if (!(next * sign > 0.0) || !(next * sign < e * sign)) break;
      if (lane == 0) {
        out(i, r.column) = 0;
        out(i, p.column) = 1;
      }
      __syncwarp();
      e = next;
    }
  }
}

}  // namespace pollard::cuda::detail

namespace pollard::cuda {

/// pollard::dsnot on device weights, scores and mask: the mask refined by DSnoT's swaps, with
/// the CPU's rules, order and options (solvers/dsnot.hpp documents them); mean and variance are
/// the host statistics of the CPU overload (E[x_j] per sequence for the reference threshold).
/// One warp per row searches the row for each swap; nothing is sorted.
/// Checks as the CPU: shapes, options and statistics (before any device work), the initial mask
/// against the policy (a host copy of the mask is checked), non-finite weights and scores
/// (non_finite_error naming the first, weight before score, as the CPU). The result is
/// stream-ordered on p's stream. Equal to the CPU's mask: the device adds e in the CPU's order
/// without fused multiply-adds; a CPU build that contracts W·E[x] + e into one FMA rounds e
/// differently, which matters only where a comparison with e is decided by its last bit.
template <cuda_policy P, class W, class S, pollard::detail::dsnot_mask_policy Policy>
device_mask dsnot(const P& p, device_view<W> weights, const device_mask& initial,
                  std::span<const double> mean, std::span<const double> variance,
                  device_view<S> initial_scores, const Policy& policy,
                  const dsnot_options& o = {}) {
  using T = std::remove_const_t<W>;
  using V = std::remove_const_t<S>;
  const device_view<const T> w = weights;
  const device_view<const V> scores = initial_scores;
  const index_t rows = w.rows(), cols = w.cols();
  pollard::detail::check_dsnot_arguments(rows, cols, initial.rows(), initial.cols(), scores.rows(),
                                         scores.cols(), mean, variance, o);
  const pollard::detail::dsnot_pattern pattern =
      pollard::detail::dsnot_pattern_of(policy, initial.to_host());
  const unsigned long long bad_w = detail::first_bad_entry(p, w, detail::bad_value::non_finite);
  const unsigned long long bad_s =
      detail::first_bad_entry(p, scores, detail::bad_value::non_finite);
  if (bad_w != detail::no_entry || bad_s != detail::no_entry) {
    const auto k = static_cast<index_t>(std::min(bad_w, bad_s));
    throw non_finite_error(pollard::detail::dsnot_non_finite_message(
        static_cast<unsigned long long>(k) == bad_s, k / cols, k % cols));
  }

  auto& r = p.resources();
  const cudaStream_t stream = r.stream();
  device_mask out = device_mask::for_overwrite(rows, cols, stream);
  if (out.view().empty()) return out;
  POLLARD_CUDA_CHECK(cudaMemcpyAsync(out.view().data(), initial.view().data(),
                                     static_cast<std::size_t>(rows * cols),
                                     cudaMemcpyDeviceToDevice, stream));
  std::vector<double> host(2 * static_cast<std::size_t>(cols));
  for (index_t j = 0; j < cols; ++j) {
    const auto k = static_cast<std::size_t>(j);
    host[k] = mean[k];
    host[static_cast<std::size_t>(cols) + k] =
        variance[k] > 0.0 ? std::pow(variance[k], o.variance_power) : 0.0;
  }
  auto* const statistics = static_cast<double*>(r.workspace(host.size() * sizeof(double)));
  POLLARD_CUDA_CHECK(cudaMemcpyAsync(statistics, host.data(), host.size() * sizeof(double),
                                     cudaMemcpyHostToDevice, stream));
  constexpr unsigned threads = 128;  // four rows per block
  const auto blocks = static_cast<unsigned>(std::min<index_t>((rows + 3) / 4, 1 << 16));
  detail::dsnot_rows<T, V><<<blocks, threads, 0, stream>>>(
      w, scores, initial.view(), out.view(), statistics, statistics + cols, pattern.window,
      o.update_threshold, o.max_cycles);
  POLLARD_CUDA_CHECK_LAUNCH("dsnot_rows");
  r.synchronize();  // the statistics on the host and in the workspace are free again
  return out;
}

}  // namespace pollard::cuda
