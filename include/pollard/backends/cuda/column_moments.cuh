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
// Measured on an H200 (benchmarks/results/h200-2026-12-01-fifth.md): two columns per load (8
// bytes for fp32), four loads in flight, four resident blocks per multiprocessor (64 registers)
// and about 512 blocks read a 16384 x 4096 fp32 batch at 0.79 of the copy bandwidth; four fp32
// columns per load needed more registers than that and ran at 0.27-0.33 (four bf16 columns: 0.23
// against 0.42-0.44 for two), no register bound at 0.61.
template <class T>
inline constexpr int moment_width = sizeof(T) < 8 ? 2 : 1;  // adjacent columns per load
inline constexpr int moment_unroll = 4;                     // loads in flight per thread
inline constexpr int moment_min_blocks = 4;                 // resident blocks per multiprocessor
inline constexpr index_t moment_target_blocks = 512;
inline constexpr index_t moment_min_chunk_rows = 256;

/// The first NaN or infinity an accumulation met: its batch (counted from 1; no_entry: none),
/// its row-major index in that batch and its value.
struct moment_error {
  unsigned long long batch, index;
  double value;
};

/// Where one pass over a batch leaves its column totals, and the counters that let the last
/// block of each column tile combine the tile's chunks (and the last tile finish the batch)
/// without another launch. chunks_done (one per column tile) and tiles_done are zero when the
/// pass starts and zero again when it ends.
template <class Acc>
struct moment_pass {
  moment_partial<Acc>* partials = nullptr;  // [chunks x cols], this pass's scratch
  moment_partial<Acc>* totals = nullptr;    // [cols]: written, or merged into when accumulating
  unsigned int* chunks_done = nullptr;
  unsigned int* tiles_done = nullptr;       // accumulating only
  unsigned long long* batch_bad = nullptr;  // accumulating: no_entry on entry, left no_entry
  moment_error* error = nullptr;            // accumulating: the first batch with a NaN or inf
  unsigned long long ordinal = 0;           // accumulating: this batch, counted from 1
  bool accumulate = false;
};

/// A partial written by another block of this launch, read past the (incoherent) L1 cache.
template <class Acc>
__device__ inline moment_partial<Acc> load_partial(const moment_partial<Acc>* from) {
  return {__ldcg(&from->count), __ldcg(&from->sum), __ldcg(&from->sum_squares),
          __ldcg(&from->mean),  __ldcg(&from->m2),  __ldcg(&from->first_bad)};
}

/// Block (column tile, row chunk): the partial moments of its columns over its rows, written to
/// out.partials[chunk * cols + j]. Each thread owns `Width` adjacent columns, read in one load of
/// Width entries (columns adjacent and aligned); the threads of a warp read consecutive column
/// groups of one row, and each thread keeps moment_unroll rows' loads in flight. Every column sees
/// its rows in the same order whatever Width is, so the result does not depend on the layout. The
/// finiteness check is fused: each partial holds its first NaN or infinity. The last block of a
/// tile to finish combines the tile's chunks (in an order fixed by the number of chunks) and
/// writes, or merges, the totals; when accumulating, the last tile to finish records the batch's
/// first NaN or infinity (the threadFenceReduction pattern of the CUDA samples: one launch per
/// batch).
template <class T, class Acc, int Width>
__global__ void __launch_bounds__(moment_columns* moment_lanes, moment_min_blocks)
    column_moment_partials(matrix_view<const T, device_space> x, index_t chunk_rows,
                           moment_pass<Acc> out) {
  using C = compute_type_for<T>;
  constexpr int Unroll = moment_unroll;
  struct alignas(Width * sizeof(T)) group {
    T value[Width];
  };
  __shared__ moment_partial<Acc> lanes[moment_lanes][moment_columns];
  __shared__ bool last;
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
    for (; i + (Unroll - 1) * step < r1; i += Unroll * step) {
      group g[Unroll];
#pragma unroll
      for (int u = 0; u < Unroll; ++u) g[u] = load(i + u * step);
#pragma unroll
      for (int u = 0; u < Unroll; ++u) add(i + u * step, g[u]);
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
      out.partials[blockIdx.y * x.cols() + j0 + t] = total;
    }
    __syncthreads();
  }

  // The last block of this column tile combines its chunks: for each column, stripe l of four
  // combines chunks l, l + 4, ... in order, then the stripes in order.
  __threadfence();
  __syncthreads();
  const int thread = static_cast<int>(threadIdx.y) * moment_columns + static_cast<int>(threadIdx.x);
  if (thread == 0) last = atomicAdd(&out.chunks_done[blockIdx.x], 1u) == gridDim.y - 1;
  __syncthreads();
  if (!last) return;
  constexpr int stripes = 4;
  constexpr int per_pass = moment_columns * moment_lanes / stripes;  // columns per pass
  moment_partial<Acc>* const stripe_totals = &lanes[0][0];           // [stripes][per_pass]
  const index_t cols = x.cols();
  const auto chunks = static_cast<index_t>(gridDim.y);
  const index_t tile0 = static_cast<index_t>(blockIdx.x) * moment_columns * Width;
  const index_t tile1 = std::min(cols, tile0 + static_cast<index_t>(moment_columns) * Width);
  const int stripe = thread / per_pass, column = thread % per_pass;
  for (index_t c0 = tile0; c0 < tile1; c0 += per_pass) {
    const index_t j = c0 + column;
    moment_partial<Acc> total{Acc(0), Acc(0), Acc(0), Acc(0), Acc(0), no_entry};
    if (j < tile1)
      for (index_t c = stripe; c < chunks; c += stripes)
        total = combine(total, load_partial(out.partials + c * cols + j));
    stripe_totals[stripe * per_pass + column] = total;
    __syncthreads();
    if (stripe == 0 && j < tile1) {
      for (int l = 1; l < stripes; ++l)
        total = combine(total, stripe_totals[l * per_pass + column]);
      if (!out.accumulate) {
        out.totals[j] = total;
      } else {
        // A batch with a NaN or infinity is merged too: result() throws for it, and for every
        // batch after it, before reading any total.
        if (total.first_bad != no_entry) atomicMin(out.batch_bad, total.first_bad);
        out.totals[j] = combine(out.totals[j], total);
      }
    }
    __syncthreads();
  }
  if (thread == 0) out.chunks_done[blockIdx.x] = 0;
  if (!out.accumulate) return;
  // The last tile of the batch records its first NaN or infinity (x is alive in stream order).
  __threadfence();
  __syncthreads();
  if (thread != 0 || atomicAdd(out.tiles_done, 1u) != gridDim.x - 1) return;
  __threadfence();
  const unsigned long long bad = atomicAdd(out.batch_bad, 0ull);
  if (bad != no_entry && out.error->batch == no_entry)
    *out.error = {
        out.ordinal, bad,
        to_compute<double>(x(static_cast<index_t>(bad) / cols, static_cast<index_t>(bad) % cols))};
  *out.batch_bad = no_entry;
  *out.tiles_done = 0;
}

/// How one batch is split into row chunks: about moment_target_blocks blocks of 64 columns, at
/// least moment_min_chunk_rows rows per chunk. The chunks depend on the shape alone, not on the
/// layout or the device.
struct moment_grid {
  index_t chunks, chunk_rows;
  static moment_grid of(index_t rows, index_t cols) {
    const index_t tiles = (cols + 63) / 64;
    const index_t chunks =
        std::clamp<index_t>((moment_target_blocks + tiles - 1) / tiles, 1,
                            (rows + moment_min_chunk_rows - 1) / moment_min_chunk_rows);
    return {chunks, (rows + chunks - 1) / chunks};
  }
};

/// The column tiles of the pass over x: counters are needed for this many at most.
inline index_t moment_tiles(index_t cols) { return (cols + moment_columns - 1) / moment_columns; }

/// Launches the pass over x (not empty) on `stream` with out.partials holding
/// moment_grid::of(x).chunks × x.cols() entries; nothing waits.
template <class Acc, class T>
void launch_moment_pass(cudaStream_t stream, matrix_view<const T, device_space> x,
                        const moment_pass<Acc>& out) {
  const moment_grid grid = moment_grid::of(x.rows(), x.cols());
  const index_t tiles = moment_tiles(x.cols());
  using V = std::remove_const_t<T>;
  constexpr int width = moment_width<V>;
  constexpr auto load_bytes = static_cast<std::uintptr_t>(width * sizeof(V));
  const bool vectorised = width > 1 && x.col_stride() == 1 && x.cols() % width == 0 &&
                          x.row_stride() % width == 0 &&
                          reinterpret_cast<std::uintptr_t>(x.data()) % load_bytes == 0;
  const dim3 threads(moment_columns, moment_lanes);
  if (vectorised)
    column_moment_partials<V, Acc, width><<<dim3(static_cast<unsigned>((tiles + width - 1) / width),
                                                 static_cast<unsigned>(grid.chunks)),
                                            threads, 0, stream>>>(x, grid.chunk_rows, out);
  else
    column_moment_partials<V, Acc, 1>
        <<<dim3(static_cast<unsigned>(tiles), static_cast<unsigned>(grid.chunks)), threads, 0,
           stream>>>(x, grid.chunk_rows, out);
  POLLARD_CUDA_CHECK_LAUNCH("column_moment_partials");
}

/// The moments of each column of x (not empty), with its first NaN or infinity, in the returned
/// device array of x.cols() entries (in p's workspace, valid until the workspace is next
/// requested): one small memset and one pass on p's stream; nothing waits.
template <class Acc, cuda_policy P, class T>
moment_partial<Acc>* launch_column_totals(const P& p, matrix_view<const T, device_space> x) {
  const auto cols = static_cast<std::size_t>(x.cols());
  const auto chunks = static_cast<std::size_t>(moment_grid::of(x.rows(), x.cols()).chunks);
  const auto tiles = static_cast<std::size_t>(moment_tiles(x.cols()));
  auto& r = p.resources();
  using partial = moment_partial<Acc>;
  auto* const base = static_cast<unsigned char*>(
      r.workspace((chunks + 1) * cols * sizeof(partial) + tiles * sizeof(unsigned int)));
  moment_pass<Acc> out;
  out.partials = reinterpret_cast<partial*>(base);
  out.totals = out.partials + chunks * cols;
  out.chunks_done = reinterpret_cast<unsigned int*>(out.totals + cols);
  POLLARD_CUDA_CHECK(cudaMemsetAsync(out.chunks_done, 0, tiles * sizeof(unsigned int), r.stream()));
  launch_moment_pass(r.stream(), x, out);
  return out.totals;
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
