// pollard — per-column moments of device activations in one coalesced pass: count, Σx, Σx²,
// mean and M2 = Σ(x − mean)², combined across row chunks with Chan's update in a fixed order.
#pragma once

#if !defined(__CUDACC__)
#error \
    "pollard/backends/cuda/column_moments.cuh is CUDA code: include it from a .cu file compiled by nvcc"
#endif

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "pollard/backends/cuda/checked_call.cuh"
#include "pollard/backends/cuda/device_checks.cuh"
#include "pollard/backends/cuda/policy.cuh"
#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard::cuda {

/// Moments of each column j of a batch X [tokens x channels], accumulated in Acc.
template <class Acc>
struct column_moments {
  index_t tokens = 0;
  std::vector<Acc> sum, sum_squares, mean, m2;
};

namespace detail {

/// The moments of a run of values, with the sums shifted by the run's first value so that
/// mean and M2 stay accurate when |mean| ≫ std (the shifted-data algorithm: no division per
/// value).
/// first_bad: the lowest row-major index of a NaN or infinity among the values (no_entry: none).
template <class Acc>
struct moment_partial {
  Acc count, sum, sum_squares, mean, m2;
  unsigned long long first_bad;
};

template <class Acc>
__device__ inline moment_partial<Acc> combine(const moment_partial<Acc>& a,
                                              const moment_partial<Acc>& b) {
  const unsigned long long first_bad = a.first_bad < b.first_bad ? a.first_bad : b.first_bad;
  if (a.count == Acc(0)) return {b.count, b.sum, b.sum_squares, b.mean, b.m2, first_bad};
  if (b.count == Acc(0)) return {a.count, a.sum, a.sum_squares, a.mean, a.m2, first_bad};
  const Acc n = a.count + b.count;
  const Acc delta = b.mean - a.mean;
  return {n,
          a.sum + b.sum,
          a.sum_squares + b.sum_squares,
          a.mean + delta * (b.count / n),
          a.m2 + b.m2 + delta * delta * (a.count * b.count / n),
          first_bad};
}

inline constexpr int moment_columns = 32;  // column threads per block: one warp per row segment
inline constexpr int moment_lanes = 8;     // rows read at once per block

/// Block (column tile, row chunk): the partial moments of its columns over its rows, written to
/// partials[chunk * cols + j]. Each thread owns `Width` adjacent columns, read in one load of
/// Width entries (16 bytes when Width > 1: columns adjacent and aligned); the threads of a warp
/// read consecutive column groups of one row, and each thread keeps four rows' loads in flight.
/// Every column sees its rows in the same order whatever Width is, so the result does not depend
/// on the layout. The finiteness check is fused: each partial holds its first NaN or infinity.
template <class T, class Acc, int Width>
__global__ void __launch_bounds__(moment_columns* moment_lanes)
    column_moment_partials(matrix_view<const T, device_space> x, index_t chunk_rows,
                           moment_partial<Acc>* partials) {
  using C = compute_type_for<T>;
  struct alignas(Width > 1 ? 16 : alignof(T)) group {
    T value[Width];
  };
  __shared__ moment_partial<Acc> lanes[moment_lanes][moment_columns];
  const index_t j0 = (blockIdx.x * static_cast<index_t>(moment_columns) + threadIdx.x) *
                     static_cast<index_t>(Width);
  const index_t r0 = blockIdx.y * chunk_rows;
  const index_t r1 = std::min(x.rows(), r0 + chunk_rows);
  const bool active = j0 < x.cols();
  const index_t first_row = r0 + threadIdx.y;
  Acc count = 0;
  unsigned long long first_bad = no_entry;
  Acc shift[Width], s[Width], q[Width], raw[Width], raw_sq[Width];
#pragma unroll
  for (int t = 0; t < Width; ++t) shift[t] = s[t] = q[t] = raw[t] = raw_sq[t] = Acc(0);
  const auto load = [&](index_t i) {
    group g;
    if constexpr (Width > 1)
      g = *reinterpret_cast<const group*>(x.data() + i * x.row_stride() + j0);
    else
      g.value[0] = x(i, j0);
    return g;
  };
  const auto add = [&](index_t i, const group& g) {
#pragma unroll
    for (int t = 0; t < Width; ++t) {
      if (!isfinite(to_compute<C>(g.value[t])))
        first_bad = std::min(first_bad, static_cast<unsigned long long>(i * x.cols() + j0 + t));
      const Acc v = to_compute<Acc>(g.value[t]);
      const Acc d = v - shift[t];
      s[t] += d;
      q[t] += d * d;
      raw[t] += v;
      raw_sq[t] += v * v;
    }
    count += Acc(1);
  };
  if (active && first_row < r1) {
    const group g0 = load(first_row);
#pragma unroll
    for (int t = 0; t < Width; ++t) shift[t] = to_compute<Acc>(g0.value[t]);
    constexpr index_t step = moment_lanes;
    index_t i = first_row;
    for (; i + 3 * step < r1; i += 4 * step) {
      const group a = load(i), b = load(i + step), c = load(i + 2 * step), d = load(i + 3 * step);
      add(i, a);
      add(i + step, b);
      add(i + 2 * step, c);
      add(i + 3 * step, d);
    }
    for (; i < r1; i += step) add(i, load(i));
  }
  // The lanes' partials of each owned column, combined in lane order by the first lane.
#pragma unroll 1
  for (int t = 0; t < Width; ++t) {
    moment_partial<Acc> mine{count, raw[t], raw_sq[t], Acc(0), Acc(0), first_bad};
    if (count > Acc(0)) {
      mine.mean = shift[t] + s[t] / count;
      const Acc m2 = q[t] - s[t] * s[t] / count;
      mine.m2 = m2 < Acc(0) ? Acc(0) : m2;
    }
    lanes[threadIdx.y][threadIdx.x] = mine;
    __syncthreads();
    if (threadIdx.y == 0 && active) {
      moment_partial<Acc> total = lanes[0][threadIdx.x];
      for (int l = 1; l < moment_lanes; ++l) total = combine(total, lanes[l][threadIdx.x]);
      partials[blockIdx.y * x.cols() + j0 + t] = total;
    }
    __syncthreads();
  }
}

inline constexpr int combine_lanes = 16;

/// Per column (32 columns per block): lane l combines chunks l, l + 16, ... in order, then the
/// lanes' results are combined pairwise in a fixed tree; every load of a column is in flight at
/// once. The order depends on the number of chunks alone. With first_bad_of_all, the lowest
/// first-bad index of all columns is also folded into it (atomicMin, only where one is found).
template <class Acc>
__global__ void __launch_bounds__(moment_columns* combine_lanes)
    combine_chunks(const moment_partial<Acc>* partials, index_t chunks, index_t cols,
                   moment_partial<Acc>* out, unsigned long long* first_bad_of_all) {
  __shared__ moment_partial<Acc> lanes[combine_lanes][moment_columns];
  const index_t j = blockIdx.x * static_cast<index_t>(moment_columns) + threadIdx.x;
  moment_partial<Acc> total{Acc(0), Acc(0), Acc(0), Acc(0), Acc(0), no_entry};
  if (j < cols)
    for (index_t c = threadIdx.y; c < chunks; c += combine_lanes)
      total = combine(total, partials[c * cols + j]);
  lanes[threadIdx.y][threadIdx.x] = total;
  __syncthreads();
  for (int half = combine_lanes / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.y) < half)
      lanes[threadIdx.y][threadIdx.x] =
          combine(lanes[threadIdx.y][threadIdx.x], lanes[threadIdx.y + half][threadIdx.x]);
    __syncthreads();
  }
  if (threadIdx.y == 0 && j < cols) {
    out[j] = lanes[0][threadIdx.x];
    if (first_bad_of_all != nullptr && out[j].first_bad != no_entry)
      atomicMin(first_bad_of_all, out[j].first_bad);
  }
}

/// Launches the two passes over x on p's stream (nothing waits): the moments of each column,
/// with its first NaN or infinity, in the returned device array of x.cols() entries (in p's
/// workspace, valid until the workspace is next requested). x is not empty. Rows are split into
/// chunks fixed by the shape, so the result does not depend on the device. With
/// first_bad_of_all (a device word holding no_entry), the lowest row-major index of a NaN or
/// infinity in x is also folded into it.
template <class Acc, cuda_policy P, class T>
moment_partial<Acc>* launch_column_totals(const P& p, matrix_view<const T, device_space> x,
                                          unsigned long long* first_bad_of_all = nullptr) {
  const auto cols = static_cast<std::size_t>(x.cols());
  // About 1024 blocks of 128 columns (one 16-byte load per thread and row for float; enough
  // loads in flight to fill the device), at least 64 rows per chunk. The chunks depend on the
  // shape alone, not on the layout or the device.
  const index_t tiles = (x.cols() + moment_columns - 1) / moment_columns;
  const index_t wide_tiles = (x.cols() + 127) / 128;
  const index_t chunks =
      std::clamp<index_t>((1024 + wide_tiles - 1) / wide_tiles, 1, (x.rows() + 63) / 64);
  const index_t chunk_rows = (x.rows() + chunks - 1) / chunks;
  auto& r = p.resources();
  using partial = moment_partial<Acc>;
  auto* const partials = static_cast<partial*>(
      r.workspace((static_cast<std::size_t>(chunks) + 1) * cols * sizeof(partial)));
  partial* const totals = partials + static_cast<std::size_t>(chunks) * cols;
  using V = std::remove_const_t<T>;
  constexpr int width = static_cast<int>(16 / sizeof(V));
  const bool vectorised = width > 1 && x.col_stride() == 1 && x.cols() % width == 0 &&
                          x.row_stride() % width == 0 &&
                          reinterpret_cast<std::uintptr_t>(x.data()) % 16 == 0;
  const dim3 threads(moment_columns, moment_lanes);
  if (vectorised)
    column_moment_partials<V, Acc, width>
        <<<dim3(static_cast<unsigned>((tiles + width - 1) / width), static_cast<unsigned>(chunks)),
           threads, 0, r.stream()>>>(x, chunk_rows, partials);
  else
    column_moment_partials<V, Acc, 1>
        <<<dim3(static_cast<unsigned>(tiles), static_cast<unsigned>(chunks)), threads, 0,
           r.stream()>>>(x, chunk_rows, partials);
  POLLARD_CUDA_CHECK_LAUNCH("column_moment_partials");
  combine_chunks<Acc><<<static_cast<unsigned>((cols + moment_columns - 1) / moment_columns),
                        dim3(moment_columns, combine_lanes), 0, r.stream()>>>(
      partials, chunks, x.cols(), totals, first_bad_of_all);
  POLLARD_CUDA_CHECK_LAUNCH("combine_chunks");
  return totals;
}

/// The host copy of n columns' totals as column_moments over `tokens` rows.
template <class Acc>
column_moments<Acc> moments_from_totals(const moment_partial<Acc>* host, std::size_t n,
                                        index_t tokens) {
  column_moments<Acc> out;
  out.tokens = tokens;
  out.sum.resize(n);
  out.sum_squares.resize(n);
  out.mean.resize(n);
  out.m2.resize(n);
  for (std::size_t j = 0; j < n; ++j) {
    out.sum[j] = host[j].sum;
    out.sum_squares[j] = host[j].sum_squares;
    out.mean[j] = host[j].mean;
    out.m2[j] = host[j].m2;
  }
  return out;
}

}  // namespace detail

/// The moments of every column of the device batch x (tokens x channels, any strides; fastest
/// when columns are adjacent). Throws non_finite_error naming the first NaN or infinity. Rows
/// are split into chunks fixed by the shape, so the result does not depend on the device.
/// One pass over x, the finiteness check included; synchronises p's stream once (the result is
/// on the host). device_moment_statistics accumulates batches without that synchronisation.
template <class Acc = double, cuda_policy P, class T>
column_moments<Acc> moments_of_columns(const P& p, device_view<T> batch) {
  static_assert(compute_type<Acc>, "moments_of_columns: Acc must be float or double");
  const device_view<const std::remove_const_t<T>> x = batch;
  column_moments<Acc> out;
  out.tokens = x.rows();
  const auto cols = static_cast<std::size_t>(x.cols());
  if (cols == 0 || x.rows() == 0) {
    out.sum.assign(cols, Acc(0));
    out.sum_squares = out.mean = out.m2 = out.sum;
    return out;
  }
  using partial = detail::moment_partial<Acc>;
  partial* const totals = detail::launch_column_totals<Acc>(p, x);
  auto& r = p.resources();
  // The totals, each with its column's first bad index, come back in one copy into page-locked
  // memory.
  auto* const host = static_cast<partial*>(r.host_staging(cols * sizeof(partial)));
  POLLARD_CUDA_CHECK(
      cudaMemcpyAsync(host, totals, cols * sizeof(partial), cudaMemcpyDeviceToHost, r.stream()));
  r.synchronize();
  unsigned long long found = detail::no_entry;
  for (std::size_t j = 0; j < cols; ++j) found = std::min(found, host[j].first_bad);
  // The error's message and position come from the device check (read again only then).
  if (found != detail::no_entry) detail::require_finite(p, x, "moment_statistics", "x");
  return detail::moments_from_totals(host, cols, x.rows());
}

}  // namespace pollard::cuda
