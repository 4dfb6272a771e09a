// pollard — per-column moments of device activations in one coalesced pass: count, Σx, Σx²,
// mean and M2 = Σ(x − mean)², combined across row chunks with Chan's update in a fixed order.
#pragma once

#if !defined(__CUDACC__)
#error \
    "pollard/backends/cuda/column_moments.cuh is CUDA code: include it from a .cu file compiled by nvcc"
#endif

#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
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
template <class Acc>
struct moment_partial {
  Acc count, sum, sum_squares, mean, m2;
};

template <class Acc>
__device__ inline moment_partial<Acc> combine(const moment_partial<Acc>& a,
                                              const moment_partial<Acc>& b) {
  if (a.count == Acc(0)) return b;
  if (b.count == Acc(0)) return a;
  const Acc n = a.count + b.count;
  const Acc delta = b.mean - a.mean;
  return {n, a.sum + b.sum, a.sum_squares + b.sum_squares, a.mean + delta * (b.count / n),
          a.m2 + b.m2 + delta * delta * (a.count * b.count / n)};
}

inline constexpr int moment_columns = 32;  // columns per block: one warp reads a row segment
inline constexpr int moment_lanes = 8;     // rows read at once per block

/// Block (column tile, row chunk): the partial moments of its columns over its rows, written to
/// partials[chunk * cols + j]. Threads of a warp read consecutive columns of one row. The
/// finiteness check is fused: *first is lowered to the row-major index of each NaN or infinity.
template <class T, class Acc>
__global__ void column_moment_partials(matrix_view<const T, device_space> x, index_t chunk_rows,
                                       moment_partial<Acc>* partials, unsigned long long* first) {
  __shared__ moment_partial<Acc> lanes[moment_lanes][moment_columns];
  const index_t j = blockIdx.x * static_cast<index_t>(moment_columns) + threadIdx.x;
  const index_t r0 = blockIdx.y * chunk_rows;
  const index_t r1 = std::min(x.rows(), r0 + chunk_rows);
  Acc count = 0, shift = 0, s = 0, q = 0, raw = 0, raw_sq = 0;
  if (j < x.cols()) {
    const index_t first_row = r0 + threadIdx.y;
    if (first_row < r1) shift = to_compute<Acc>(x(first_row, j));
#pragma unroll 4
    for (index_t i = first_row; i < r1; i += moment_lanes) {
      const T stored = x(i, j);
      if (!isfinite(to_compute<compute_type_for<T>>(stored)))
        atomicMin(first, static_cast<unsigned long long>(i * x.cols() + j));
      const Acc v = to_compute<Acc>(stored);
      const Acc d = v - shift;
      count += Acc(1);
      s += d;
      q += d * d;
      raw += v;
      raw_sq += v * v;
    }
  }
  moment_partial<Acc> mine{count, raw, raw_sq, Acc(0), Acc(0)};
  if (count > Acc(0)) {
    mine.mean = shift + s / count;
    const Acc m2 = q - s * s / count;
    mine.m2 = m2 < Acc(0) ? Acc(0) : m2;
  }
  lanes[threadIdx.y][threadIdx.x] = mine;
  __syncthreads();
  if (threadIdx.y == 0 && j < x.cols()) {
    moment_partial<Acc> total = lanes[0][threadIdx.x];
    for (int l = 1; l < moment_lanes; ++l) total = combine(total, lanes[l][threadIdx.x]);
    partials[blockIdx.y * x.cols() + j] = total;
  }
}

/// Per column: the chunks' partials combined in chunk order.
template <class Acc>
__global__ void combine_chunks(const moment_partial<Acc>* partials, index_t chunks, index_t cols,
                               moment_partial<Acc>* out) {
  const index_t j = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  if (j >= cols) return;
  moment_partial<Acc> total = partials[j];
  for (index_t c = 1; c < chunks; ++c) total = combine(total, partials[c * cols + j]);
  out[j] = total;
}

}  // namespace detail

/// The moments of every column of the device batch x (tokens x channels, any strides; fastest
/// when columns are adjacent). Throws non_finite_error naming the first NaN or infinity. Rows
/// are split into chunks fixed by the shape, so the result does not depend on the device.
/// One pass over x, the finiteness check included; synchronises p's stream once (the result is
/// on the host).
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
  // About 4096 blocks in all (enough loads in flight), at least 64 rows per chunk.
  const index_t tiles = (x.cols() + detail::moment_columns - 1) / detail::moment_columns;
  const index_t chunks = std::clamp<index_t>((4096 + tiles - 1) / tiles, 1, (x.rows() + 63) / 64);
  const index_t chunk_rows = (x.rows() + chunks - 1) / chunks;
  auto& r = p.resources();
  using partial = detail::moment_partial<Acc>;
  auto* const partials = static_cast<partial*>(
      r.workspace((static_cast<std::size_t>(chunks) + 1) * cols * sizeof(partial)));
  partial* const totals = partials + static_cast<std::size_t>(chunks) * cols;
  unsigned long long* const first = r.status_words();
  POLLARD_CUDA_CHECK(cudaMemsetAsync(first, 0xff, sizeof(*first), r.stream()));
  detail::column_moment_partials<std::remove_const_t<T>, Acc>
      <<<dim3(static_cast<unsigned>(tiles), static_cast<unsigned>(chunks)),
         dim3(detail::moment_columns, detail::moment_lanes), 0, r.stream()>>>(x, chunk_rows,
                                                                              partials, first);
  POLLARD_CUDA_CHECK_LAUNCH("column_moment_partials");
  detail::combine_chunks<Acc><<<static_cast<unsigned>((cols + 127) / 128), 128, 0, r.stream()>>>(
      partials, chunks, x.cols(), totals);
  POLLARD_CUDA_CHECK_LAUNCH("combine_chunks");
  // The totals and the first bad index come back in one synchronisation, into page-locked memory.
  auto* const staged = static_cast<char*>(r.host_staging(cols * sizeof(partial) + 8));
  const auto* const host = reinterpret_cast<const partial*>(staged);
  unsigned long long found = detail::no_entry;
  POLLARD_CUDA_CHECK(
      cudaMemcpyAsync(staged, totals, cols * sizeof(partial), cudaMemcpyDeviceToHost, r.stream()));
  POLLARD_CUDA_CHECK(cudaMemcpyAsync(staged + cols * sizeof(partial), first, sizeof(found),
                                     cudaMemcpyDeviceToHost, r.stream()));
  r.synchronize();
  std::memcpy(&found, staged + cols * sizeof(partial), sizeof(found));
  // The error's message and position come from the device check (read again only then).
  if (found != detail::no_entry) detail::require_finite(p, x, "moment_statistics", "x");
  out.sum.resize(cols);
  out.sum_squares.resize(cols);
  out.mean.resize(cols);
  out.m2.resize(cols);
  for (std::size_t j = 0; j < cols; ++j) {
    out.sum[j] = host[j].sum;
    out.sum_squares[j] = host[j].sum_squares;
    out.mean[j] = host[j].mean;
    out.m2[j] = host[j].m2;
  }
  return out;
}

}  // namespace pollard::cuda
