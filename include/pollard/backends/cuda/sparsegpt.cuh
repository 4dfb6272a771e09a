// pollard — SparseGPT on the GPU: the lazy-batch OBS sweep (Frantar & Alistarh 2023, Algorithm 1)
// with the columns of a block processed inside one kernel (one warp per row, the block of U in
// shared memory) and the lazy update of the later columns as one cuBLAS product per block.
#pragma once

#if !defined(__CUDACC__)
#error \
    "pollard/backends/cuda/sparsegpt.cuh is CUDA code: include it from a .cu file compiled by nvcc"
#endif

#include <cooperative_groups.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cub/block/block_scan.cuh>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "pollard/backends/cuda/checked_call.cuh"
#include "pollard/backends/cuda/cholesky.cuh"
#include "pollard/backends/cuda/device_buffer.cuh"
#include "pollard/backends/cuda/device_checks.cuh"
#include "pollard/backends/cuda/device_mask.cuh"
#include "pollard/backends/cuda/policy.cuh"
#include "pollard/backends/cuda/resident_blocks.cuh"
#include "pollard/backends/cuda/select_lowest.cuh"
#include "pollard/core/checks.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/masks/n_m.hpp"
#include "pollard/masks/unstructured.hpp"
#include "pollard/solvers/obs_reconstruction_options.hpp"
#include "pollard/solvers/obs_sweep.hpp"
#include "pollard/solvers/sparsegpt_options.hpp"
#include "pollard/solvers/sparsegpt_result.hpp"

namespace pollard::cuda::detail {

using pollard::detail::obs_selection;

/// What one block's sweep reads and writes.
struct sweep_block_arguments {
  float* w;  // row-major d_out x d_in, row stride ldw
  index_t ldw, d_out, i1, nb;
  const float* u;  // row-major d_in x d_in upper factor, row stride ldu
  index_t ldu;
  std::uint8_t* flags;  // row-major d_out x d_in mask, row stride ldf
  index_t ldf;
  index_t pruned, group_size;  // N:M chosen in the sweep; group_size 0: flags are given
  float* err;        // row-major d_out x nb, row stride lde: the errors for the lazy update
  double* row_loss;  // per row, accumulated over blocks
  index_t lde;
};

inline constexpr int sweep_threads = 256;
inline constexpr int sweep_lanes_per_row = 8;
inline constexpr int sweep_rows_per_block = sweep_threads / sweep_lanes_per_row;
inline constexpr int sweep_max_window = 32;

/// Columns whose errors one lazy update of the later columns carries (a multiple of the block).
inline constexpr index_t lazy_width = 512;

/// The in-block sweep of a column block of width nb <= 8·Slots: each thread block owns 32 rows,
/// 8 threads per row, thread l of a row holding columns l, l+8, ... of it in registers; the
/// block's upper triangle of U is in shared memory. For each column i, in order (the loop is
/// unrolled, so every register index is a constant): at an N:M window start, the window's
/// w²/U_jj² are ranked (ties: the lower column first) and its flags set; the pruned weight's
/// error e = w_i / U_ii is broadcast to the row's threads, w_i becomes 0, and every later column
/// k of the block gets w_k −= e·U_ik. The errors go to `err` for the lazy update.
template <int Slots>
__global__ void __launch_bounds__(sweep_threads, 1) sweep_rows(sweep_block_arguments a) {
  extern __shared__ float shared[];
  const int nb = static_cast<int>(a.nb);
  float* const u_block = shared;                  // nb x nb, upper triangle: U[i1 + i, i1 + k]
  float* const window_scores = shared + nb * nb;  // 32 rows x sweep_max_window
  const int warp = static_cast<int>(threadIdx.x / 32), lane = static_cast<int>(threadIdx.x % 32);
  for (int i = warp; i < nb; i += sweep_threads / 32)
    for (int k = i + lane; k < nb; k += 32)
      u_block[i * nb + k] = a.u[(a.i1 + i) * a.ldu + a.i1 + k];
  __syncthreads();

  const int local_row = static_cast<int>(threadIdx.x) / sweep_lanes_per_row;
  const int part = static_cast<int>(threadIdx.x) % sweep_lanes_per_row;
  const index_t r = static_cast<index_t>(blockIdx.x) * sweep_rows_per_block + local_row;
  const bool valid = r < a.d_out;
  float* const row = a.w + (valid ? r : 0) * a.ldw + a.i1;
  std::uint8_t* const row_flags = a.flags + (valid ? r : 0) * a.ldf + a.i1;
  float* const scores = window_scores + local_row * sweep_max_window;
  const int m = static_cast<int>(a.group_size), n = static_cast<int>(a.pruned);

  float w[Slots], e[Slots];
  unsigned pruned_bits = 0;  // bit t: column part + 8t is pruned
#pragma unroll
  for (int t = 0; t < Slots; ++t) {
    const int c = part + sweep_lanes_per_row * t;
    const bool inside = valid && c < nb;
    w[t] = inside ? row[c] : 0.0f;
    e[t] = 0.0f;
    if (m == 0 && inside && row_flags[c] != 0) pruned_bits |= 1u << t;
  }
  constexpr unsigned all = 0xffffffffu;
  constexpr int lanes = sweep_lanes_per_row;
  float loss = 0.0f;
  int next_window = 0;
  // Column i = 8·slot + owner: the slot loop is unrolled, so that every register index below is
  // a constant (a run-time index would move w and e to local memory).
#pragma unroll
  for (int slot = 0; slot < Slots; ++slot) {
    for (int owner = 0; owner < lanes; ++owner) {
      const int i = lanes * slot + owner;
      if (i >= nb) break;
      if (m > 0 && i == next_window && lanes % m == 0) {
        // The window (M dividing 8: 2:4, 4:8) lies in this slot, on the row's threads owner to
        // owner + M − 1: its scores are ranked through shuffles.
        next_window += m;
        const int offset = part - owner;  // this thread's place in the window
        const bool inside = offset >= 0 && offset < m;
        const int c = lanes * slot + part;
        const float d = inside ? u_block[c * nb + c] : 1.0f;
        const float score = (w[slot] * w[slot]) / (d * d);
        int before = 0;
        for (int o = 0; o < m; ++o) {
          const float other = __shfl_sync(all, score, owner + o, lanes);
          before += (other < score || (other == score && o < offset)) ? 1 : 0;
        }
        if (inside) {
          const unsigned flag = before < n ? 1u : 0u;
          pruned_bits = (pruned_bits & ~(1u << slot)) | (flag << slot);
          if (valid) row_flags[c] = static_cast<std::uint8_t>(flag);
        }
      } else if (m > 0 && i == next_window) {
        next_window += m;
#pragma unroll
        for (int t = 0; t < Slots; ++t) {
          const int c = part + lanes * t;
          if (c >= i && c < i + m) {
            const float d = u_block[c * nb + c];
            scores[c - i] = (w[t] * w[t]) / (d * d);
          }
        }
        __syncwarp();
#pragma unroll
        for (int t = 0; t < Slots; ++t) {
          const int c = part + lanes * t;
          if (c >= i && c < i + m) {
            const float score = scores[c - i];
            int before = 0;
            for (int o = 0; o < m; ++o) {
              const float other = scores[o];
              before += (other < score || (other == score && o < c - i)) ? 1 : 0;
            }
            const unsigned flag = before < n ? 1u : 0u;
            pruned_bits = (pruned_bits & ~(1u << t)) | (flag << t);
            if (valid) row_flags[c] = static_cast<std::uint8_t>(flag);
          }
        }
        __syncwarp();  // the scores are rewritten at the next window
      }
      // The owner's error (0 when column i is kept), broadcast to the row's threads.
      float mine = 0.0f;
      if (part == owner && ((pruned_bits >> slot) & 1u) != 0) {
        mine = w[slot] / u_block[i * nb + i];
        w[slot] = 0.0f;
        e[slot] = mine;
      }
      const float error = __shfl_sync(all, mine, owner, lanes);
      if (error != 0.0f) {
        loss += error * error;
        const float* const u_row = u_block + i * nb;
#pragma unroll
        for (int t = slot; t < Slots; ++t) {
          const int c = part + lanes * t;
          if (c > i && c < nb) w[t] -= error * u_row[c];
        }
      }
    }
  }
  if (!valid) return;
#pragma unroll
  for (int t = 0; t < Slots; ++t) {
    const int c = part + sweep_lanes_per_row * t;
    if (c < nb) {
      row[c] = w[t];
      a.err[r * a.lde + c] = e[t];
    }
  }
  if (part == 0) a.row_loss[r] += static_cast<double>(loss);
}

/// What the selection of one column block's mask reads and writes.
struct quantile_arguments {
  const float* w;  // row-major d_out x d_in, row stride ldw
  index_t ldw, d_out, i1, nb;
  const float* u;  // the upper factor, row stride ldu
  index_t ldu;
  std::uint8_t* flags;  // row-major mask, row stride ldf
  index_t ldf;
  long long k;                       // how many of the d_out x nb entries to prune, 0 < k < all
  bool prune_ties;                   // also every entry equal to the k-th lowest (the reference)
  unsigned int* histograms;          // quantile_passes x quantile_bins, zero on entry
  unsigned int* next_histograms;     // the same for the next launch, zeroed here
  unsigned long long* equal_counts;  // one per thread block
};

inline constexpr int quantile_threads = 256;
inline constexpr int quantile_bins = 2048;  // 11-bit digits: 11 + 11 + 10 bits of a float key
inline constexpr int quantile_passes = 3;
inline constexpr int quantile_max_width = 128;
inline constexpr int quantile_cached_rows = 32;  // per thread block, keys kept in registers

/// The block_quantile mask of one column block in one cooperative kernel: the k lowest scores
/// w(r, i1 + c)² / U(i1 + c, i1 + c)² of the d_out x nb block are pruned, ties in row-major order
/// (the CPU's stable order), or with prune_ties every entry equal to the k-th lowest too (the
/// reference's `<= threshold`). Radix selection of the k-th lowest key on three digits, the
/// grid-wide histogram of each digit merged through global atomics between grid syncs; each
/// thread block owns a contiguous range of rows (a warp per row, the keys of its first 32 rows
/// kept in registers), so that the rank of an entry among the keys equal to the k-th lowest is
/// the count of those in earlier blocks, earlier rows of its block and earlier columns of its row.
__global__ void __launch_bounds__(quantile_threads) select_block_quantile(quantile_arguments a) {
  namespace cg = cooperative_groups;
  const cg::grid_group grid = cg::this_grid();
  using scan = cub::BlockScan<unsigned long long, quantile_threads>;
  __shared__ typename scan::TempStorage scan_storage;
  __shared__ unsigned int counts[quantile_bins];
  __shared__ float diagonal_squared[quantile_max_width];
  __shared__ unsigned int digit;
  __shared__ unsigned long long digit_take, row_equal[quantile_threads / 32];
  for (index_t b = blockIdx.x * static_cast<index_t>(quantile_threads) + threadIdx.x;
       b < quantile_passes * quantile_bins; b += static_cast<index_t>(gridDim.x) * quantile_threads)
    a.next_histograms[b] = 0;
  const int nb = static_cast<int>(a.nb);
  for (int c = static_cast<int>(threadIdx.x); c < nb; c += quantile_threads) {
    const float d = a.u[(a.i1 + c) * a.ldu + a.i1 + c];
    diagonal_squared[c] = d * d;
  }
  const int warp = static_cast<int>(threadIdx.x / 32), lane = static_cast<int>(threadIdx.x % 32);
  constexpr int warps = quantile_threads / 32;
  const index_t rows_per_block = (a.d_out + gridDim.x - 1) / gridDim.x;
  const index_t r0 = std::min(a.d_out, blockIdx.x * rows_per_block);
  const index_t r1 = std::min(a.d_out, r0 + rows_per_block);
  const auto key_at = [&](index_t r, int c) {
    const float value = a.w[r * a.ldw + a.i1 + c];
    return ordered_key((value * value) / diagonal_squared[c]);
  };
  __syncthreads();

  // The keys of rows r0 + warp + 8q, columns lane + 32j (q < 4, j < 4) in registers; the rows
  // past r0 + 32 are read again in each pass.
  constexpr int cached_row_steps = quantile_cached_rows / warps;
  constexpr int column_steps = quantile_max_width / 32;
  constexpr int cached = cached_row_steps * column_steps;
  std::uint32_t keys[cached];
  unsigned present = 0;
#pragma unroll
  for (int q = 0; q < cached; ++q) {
    const index_t r = r0 + warp + warps * (q / column_steps);
    const int c = lane + 32 * (q % column_steps);
    const bool inside = r < r1 && c < nb;
    keys[q] = inside ? key_at(r, c) : 0u;
    present |= inside ? 1u << q : 0u;
  }
  const auto for_each_key = [&](auto&& visit) {
#pragma unroll
    for (int q = 0; q < cached; ++q)
      if (((present >> q) & 1u) != 0) visit(keys[q]);
    for (index_t r = r0 + quantile_cached_rows + warp; r < r1; r += warps)
      for (int c = lane; c < nb; c += 32) visit(key_at(r, c));
  };

  std::uint32_t prefix = 0;
  unsigned long long take = static_cast<unsigned long long>(a.k);
  constexpr int shifts[quantile_passes] = {21, 10, 0};
  for (int pass = 0; pass < quantile_passes; ++pass) {
    const int shift = shifts[pass], above = pass == 0 ? 32 : shifts[pass - 1];
    for (int b = static_cast<int>(threadIdx.x); b < quantile_bins; b += quantile_threads)
      counts[b] = 0;
    __syncthreads();
    for_each_key([&](std::uint32_t key) {
      const bool counted = above == 32 || (key >> above) == (prefix >> above);
      // Lanes with the same bin add once through their leader: scores bunch into few bins.
      const unsigned lanes = __ballot_sync(__activemask(), counted);
      if (counted) {
        const unsigned bin = (key >> shift) & (quantile_bins - 1);
        const unsigned peers = __match_any_sync(lanes, bin);
        if (lane == __ffs(peers) - 1) atomicAdd(&counts[bin], static_cast<unsigned>(__popc(peers)));
      }
    });
    __syncthreads();
    unsigned int* const histogram = a.histograms + pass * quantile_bins;
    for (int b = static_cast<int>(threadIdx.x); b < quantile_bins; b += quantile_threads)
      if (counts[b] != 0) atomicAdd(&histogram[b], counts[b]);
    grid.sync();
    // The bin holding the take-th lowest key: each thread sums 8 bins, a block scan finds it.
    constexpr int per_thread = quantile_bins / quantile_threads;
    unsigned int bins[per_thread];
    unsigned long long mine = 0;
#pragma unroll
    for (int b = 0; b < per_thread; ++b) {
      bins[b] = __ldcg(&histogram[threadIdx.x * per_thread + b]);
      mine += bins[b];
    }
    unsigned long long before = 0;
    scan(scan_storage).ExclusiveSum(mine, before);
    if (before < take && take <= before + mine) {
      unsigned long long below = before;
      int found = -1;
#pragma unroll
      for (int b = 0; b < per_thread; ++b)
        if (found < 0) {
          if (below + bins[b] >= take)
            found = b;
          else
            below += bins[b];
        }
      digit = threadIdx.x * per_thread + static_cast<unsigned>(found);
      digit_take = take - below;
    }
    __syncthreads();
    prefix |= digit << shift;
    take = digit_take;
  }
  // Every key below `prefix` goes, and of the keys equal to it the first `take`.
  const unsigned long long equal_total =
      __ldcg(&a.histograms[(quantile_passes - 1) * quantile_bins + (prefix & (quantile_bins - 1))]);
  const bool all_equal_go = a.prune_ties || equal_total == take;
  if (all_equal_go) {
#pragma unroll
    for (int q = 0; q < cached; ++q)
      if (((present >> q) & 1u) != 0) {
        const index_t r = r0 + warp + warps * (q / column_steps);
        const int c = lane + 32 * (q % column_steps);
        a.flags[r * a.ldf + a.i1 + c] = keys[q] <= prefix ? 1 : 0;
      }
    for (index_t r = r0 + quantile_cached_rows + warp; r < r1; r += warps)
      for (int c = lane; c < nb; c += 32) a.flags[r * a.ldf + a.i1 + c] = key_at(r, c) <= prefix;
    return;
  }
  // Ties to break: keys equal to prefix in earlier thread blocks, then row by row.
  unsigned long long mine = 0;
  for_each_key([&](std::uint32_t key) { mine += key == prefix ? 1 : 0; });
  unsigned long long total = 0, ignored = 0, seen = 0;
  scan(scan_storage).ExclusiveSum(mine, ignored, total);
  if (threadIdx.x == 0) a.equal_counts[blockIdx.x] = total;
  grid.sync();
  unsigned long long earlier = 0;
  for (unsigned b = threadIdx.x; b < blockIdx.x; b += quantile_threads)
    earlier += __ldcg(&a.equal_counts[b]);
  __syncthreads();
  scan(scan_storage).ExclusiveSum(earlier, ignored, seen);
  const int slots = (nb + 31) / 32;
  for (index_t base = r0; base < r1; base += warps) {
    const index_t r = base + warp;
    const bool valid = r < r1;
    unsigned in_row = 0;
    for (int j = 0; j < slots; ++j) {
      const int c = lane + 32 * j;
      in_row += static_cast<unsigned>(
          __popc(__ballot_sync(0xffffffffu, valid && c < nb && key_at(r, c) == prefix)));
    }
    if (lane == 0) row_equal[warp] = in_row;
    __syncthreads();
    unsigned long long before = seen;
    for (int o = 0; o < warp; ++o) before += row_equal[o];
    for (int j = 0; j < slots; ++j) {
      const int c = lane + 32 * j;
      const bool inside = valid && c < nb;
      const std::uint32_t key = inside ? key_at(r, c) : 0u;
      const bool equal = inside && key == prefix;
      const unsigned equal_lanes = __ballot_sync(0xffffffffu, equal);
      const bool pruned =
          key < prefix ||
          (equal &&
           before + static_cast<unsigned>(__popc(equal_lanes & ((1u << lane) - 1u))) < take);
      before += static_cast<unsigned>(__popc(equal_lanes));
      if (inside) a.flags[r * a.ldf + a.i1 + c] = pruned ? 1 : 0;
    }
    __syncthreads();
    for (int o = 0; o < warps; ++o) seen += row_equal[o];
    __syncthreads();  // row_equal is rewritten for the next rows
  }
}

/// scores(r, c) = w(r, i1 + c)² / U(i1 + c, i1 + c)², the SparseGPT saliency of a block.
__global__ void block_saliency(matrix_view<const float, device_space> w, const float* u,
                               index_t ldu, index_t i1, matrix_view<float, device_space> scores) {
  const index_t count = scores.rows() * scores.cols();
  for (index_t k = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x; k < count;
       k += static_cast<index_t>(gridDim.x) * blockDim.x) {
    const index_t r = k / scores.cols(), c = k % scores.cols();
    const float d = u[(i1 + c) * ldu + i1 + c];
    const float value = w(r, i1 + c);
    scores(r, c) = (value * value) / (d * d);
  }
}

/// Dead input channels: their weights are zeroed (the sweep then sees zeros).
__global__ void zero_columns(matrix_view<float, device_space> w, const index_t* columns,
                             index_t count) {
  for (index_t k = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
       k < count * w.rows(); k += static_cast<index_t>(gridDim.x) * blockDim.x)
    w(k % w.rows(), columns[k / w.rows()]) = 0.0f;
}

/// H with every zero diagonal entry set to 1 (dead inputs), in a fresh buffer.
__global__ void copy_with_unit_dead_diagonal(matrix_view<const float, device_space> h, float* out) {
  const index_t n = h.rows();
  const index_t i = blockIdx.y * static_cast<index_t>(blockDim.y) + threadIdx.y;
  const index_t j = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  if (i >= n || j >= n) return;
  const float v = h(i, j);
  out[i * n + j] = (i == j && v == 0.0f) ? 1.0f : v;
}

/// Lowers *first to i·n + j for each pair i < j with |H_ij − H_ji| > tolerance.
__global__ void find_asymmetry(matrix_view<const float, device_space> h, float tolerance,
                               unsigned long long* first) {
  const index_t n = h.rows();
  const index_t i = blockIdx.y * static_cast<index_t>(blockDim.y) + threadIdx.y;
  const index_t j = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  if (i >= n || j >= n || j <= i) return;
  if (fabsf(h(i, j) - h(j, i)) > tolerance)
    atomicMin(first, static_cast<unsigned long long>(i * n + j));
}

struct sweep_plan {
  obs_selection selection = obs_selection::block_quantile;
  double sparsity = 0.0;
  index_t pruned = 0, group_size = 0, block = 128;
  bool reference_threshold = false;
};

inline sweep_plan plan_of(const unstructured& policy, const sparsegpt_options& o) {
  if (policy.comparison_group() != unstructured::group::column_block)
    throw option_error(
        "sparsegpt: chooses its unstructured mask per column block as it sweeps; pass "
        "unstructured(s, per_column_block{B}) (B = 128 in the reference)");
  return {obs_selection::block_quantile, policy.sparsity(),    0, 0,
          policy.block_width(),          o.reference_threshold};
}
inline sweep_plan plan_of(const n_m& policy, const sparsegpt_options& o) {
  if (o.reference_threshold)
    throw option_error("sparsegpt: reference_threshold applies to unstructured selection only");
  return {obs_selection::n_m, 0.0, policy.pruned(), policy.group_size(), o.block_size};
}
template <index_t N, index_t M>
sweep_plan plan_of(const pruned_of<N, M>&, const sparsegpt_options& o) {
  return plan_of(n_m::pruned_of(N, M), o);
}

/// The sweep's settings after every check of pollard::sparsegpt's, plus the CUDA solver's
/// limits (column blocks of up to 128, N:M windows of up to 32); option_error otherwise.
template <class Policy>
sweep_plan checked_plan(const Policy& policy, const sparsegpt_options& options, index_t d_in) {
  const std::string who = "sparsegpt";
  sweep_plan plan = plan_of(policy, options);
  pollard::detail::obs_sweep_settings settings;
  settings.who = "sparsegpt";
  settings.selection = plan.selection;
  settings.sparsity = plan.sparsity;
  settings.pruned = plan.pruned;
  settings.group_size = plan.group_size;
  settings.block_size = plan.block;
  settings.percdamp = options.percdamp;
  settings.max_damping_retries = options.max_damping_retries;
  pollard::detail::validate_obs_settings(settings, d_in);
  if (plan.selection == obs_selection::n_m) {
    if (plan.group_size > 32)
      throw option_error(who + ": the CUDA solver takes N:M windows of up to 32 columns");
    plan.block = pollard::detail::n_m_block_width(plan.block, d_in, plan.group_size);
  }
  plan.block = std::min(plan.block, d_in);
  if (plan.block > 128)
    throw option_error(who + ": the CUDA solver takes column blocks of up to 128, got " +
                       std::to_string(plan.block));
  return plan;
}

template <int Slots>
void launch_sweep_rows(const sweep_block_arguments& a, cudaStream_t stream) {
  const auto bytes = static_cast<int>((a.nb * a.nb + sweep_rows_per_block * sweep_max_window) *
                                      static_cast<index_t>(sizeof(float)));
  {
    // The shared-memory limit is raised once per device (a driver call, not one per launch).
    static std::mutex lock;
    static std::map<int, int> granted;
    int device = 0;
    POLLARD_CUDA_CHECK(cudaGetDevice(&device));
    const std::lock_guard<std::mutex> guard(lock);
    int& limit = granted[device];
    if (limit < bytes) {
      POLLARD_CUDA_CHECK(cudaFuncSetAttribute(sweep_rows<Slots>,
                                              cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
      limit = bytes;
    }
  }
  const auto blocks =
      static_cast<unsigned>((a.d_out + sweep_rows_per_block - 1) / sweep_rows_per_block);
  sweep_rows<Slots><<<blocks, sweep_threads, static_cast<std::size_t>(bytes), stream>>>(a);
  POLLARD_CUDA_CHECK_LAUNCH("sweep_rows");
}

/// One block's in-block sweep on the narrowest kernel that takes it.
inline void launch_sweep(const sweep_block_arguments& a, cudaStream_t stream) {
  if (a.d_out == 0) return;
  if (a.nb <= 32)
    launch_sweep_rows<4>(a, stream);
  else if (a.nb <= 64)
    launch_sweep_rows<8>(a, stream);
  else
    launch_sweep_rows<16>(a, stream);
}

/// How many thread blocks select_block_quantile runs with on the current device: one per 32
/// rows, at most as many as are resident at once (a cooperative launch needs them all).
inline index_t quantile_grid(index_t d_out) {
  return std::clamp<index_t>((d_out + 31) / 32, 1,
                             resident_blocks(select_block_quantile, quantile_threads, 0));
}

/// One column block's block_quantile mask (0 < a.k < d_out·nb) on `blocks` thread blocks from
/// quantile_grid. a.histograms must be zero (cudaMemset before the first launch; each launch
/// zeroes a.next_histograms for the next, so two sets alternate).
inline void launch_select_block_quantile(quantile_arguments a, index_t blocks,
                                         cudaStream_t stream) {
  void* arguments[] = {&a};
  POLLARD_CUDA_CHECK(cudaLaunchCooperativeKernel(reinterpret_cast<void*>(select_block_quantile),
                                                 dim3(static_cast<unsigned>(blocks)),
                                                 dim3(quantile_threads), arguments, 0, stream));
}

}  // namespace pollard::cuda::detail

namespace pollard::cuda::detail {

/// The lazy-batch sweep of `plan` over w with the factor U, the mask in `flags` (filled per
/// block for block_quantile and N:M, read as given for fixed). Loss and damping in the result;
/// the mask stays on the device.
template <cuda_policy P>
sparsegpt_result run_sweep(const P& p, device_view<float> w, const device_upper_factor& factor,
                           const sweep_plan& plan, device_mask& flags) {
  const index_t d_out = w.rows(), d_in = w.cols();
  sparsegpt_result result;
  result.damping_used = factor.damping.damping;
  result.percdamp_used = factor.damping.percdamp;
  result.damping_retries = factor.damping.retries;
  if (d_out == 0 || d_in == 0) return result;
  auto& r = p.resources();
  const cudaStream_t stream = r.stream();
  // The errors of `lazy_blocks` consecutive blocks are kept for one lazy update of the columns
  // after them (k = lazy_blocks·block: a product near the GEMM rate, where k = 128 ran at about
  // 0.65 of it); within the group, each block's errors update the group's later columns at once.
  const index_t lazy_blocks = std::max<index_t>(1, lazy_width / plan.block);
  const index_t group = lazy_blocks * plan.block;
  device_buffer<float> err(static_cast<std::size_t>(d_out * group), stream);
  device_buffer<double> row_loss(static_cast<std::size_t>(d_out), stream);
  POLLARD_CUDA_CHECK(cudaMemsetAsync(row_loss.data(), 0, row_loss.size() * sizeof(double), stream));
  const double s = plan.sparsity;
  const bool ties = plan.reference_threshold;
  const auto prune_count = [s, ties](index_t n) {
    const auto k = static_cast<index_t>(std::floor(static_cast<double>(n) * s));
    return ties ? std::min(k + 1, n) : k;
  };
  const float* const u = factor.u.data();
  cublasHandle_t blas = r.cublas();
  const float minus_one = -1.0f, one = 1.0f;

  // The block_quantile selection in one cooperative kernel per block; the general radix
  // selection where that cannot run (blocks wider than 128, or more than 2³² entries).
  const bool fused_quantile = plan.selection == obs_selection::block_quantile &&
                              plan.block <= quantile_max_width &&
                              d_out * plan.block < (index_t{1} << 32);
  const index_t quantile_blocks = fused_quantile ? quantile_grid(d_out) : 0;
  device_buffer<unsigned int> histograms(
      fused_quantile ? static_cast<std::size_t>(2 * quantile_passes * quantile_bins) : 0, stream);
  if (fused_quantile)
    POLLARD_CUDA_CHECK(
        cudaMemsetAsync(histograms.data(), 0, histograms.size() * sizeof(unsigned int), stream));
  int selections = 0;  // launches so far: they alternate between the two histogram sets
  device_buffer<float> scores(plan.selection == obs_selection::block_quantile && !fused_quantile
                                  ? static_cast<std::size_t>(d_out * plan.block)
                                  : 0,
                              stream);
  device_buffer<unsigned long long> equal_counts(static_cast<std::size_t>(quantile_blocks), stream);
  if (plan.reference_threshold && !fused_quantile)
    throw option_error(
        "sparsegpt: the CUDA solver offers reference_threshold for up to 2^32 entries per column "
        "block");
  for (index_t i1 = 0; i1 < d_in; i1 += plan.block) {
    const index_t nb = std::min(plan.block, d_in - i1);
    const index_t k = prune_count(d_out * nb);
    if (fused_quantile && k > 0 && k < d_out * nb) {
      launch_select_block_quantile(
          {w.data(), w.row_stride(), d_out, i1, nb, u, d_in, flags.view().data(), d_in,
           static_cast<long long>(k), ties,
           histograms.data() + (selections % 2) * quantile_passes * quantile_bins,
           histograms.data() + ((selections + 1) % 2) * quantile_passes * quantile_bins,
           equal_counts.data()},
          quantile_blocks, stream);
      ++selections;
    } else if (fused_quantile) {
      POLLARD_CUDA_CHECK(cudaMemset2DAsync(flags.view().data() + i1, static_cast<std::size_t>(d_in),
                                           k > 0 ? 1 : 0, static_cast<std::size_t>(nb),
                                           static_cast<std::size_t>(d_out), stream));
    } else if (plan.selection == obs_selection::block_quantile) {
      const device_view<float> block_scores(scores.data(), d_out, nb);
      const auto count = static_cast<unsigned>(std::min<index_t>((d_out * nb + 255) / 256, 4096));
      block_saliency<<<count, 256, 0, stream>>>(w, u, d_in, i1, block_scores);
      POLLARD_CUDA_CHECK_LAUNCH("block_saliency");
      select_lowest_unchecked(p, "sparsegpt", device_view<const float>(block_scores), d_out, nb,
                              prune_count, flags.view().block(0, i1, d_out, nb));
    }
    const index_t g0 = i1 - i1 % group, g1 = std::min(g0 + group, d_in);  // this block's group
    const sweep_block_arguments arguments{
        w.data(),
        w.row_stride(),
        d_out,
        i1,
        nb,
        u,
        d_in,
        flags.view().data(),
        d_in,
        plan.pruned,
        plan.selection == obs_selection::n_m ? plan.group_size : 0,
        err.data() + (i1 - g0),
        row_loss.data(),
        group};
    launch_sweep(arguments, stream);
    // W[:, a:b] −= Err[:, from:to] · U[from:to, a:b], as column-major (W[:, a:b])ᵀ −= Uᵀ·Errᵀ:
    // the group's later columns by this block's errors, or, after the group's last block, every
    // column after the group by all of the group's errors.
    const auto lazy_update = [&](index_t from, index_t to, index_t a, index_t b) {
      POLLARD_CUDA_CHECK(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(b - a),
                                     static_cast<int>(d_out), static_cast<int>(to - from),
                                     &minus_one, u + from * d_in + a, static_cast<int>(d_in),
                                     err.data() + (from - g0), static_cast<int>(group), &one,
                                     w.data() + a, static_cast<int>(w.row_stride())));
    };
    if (i1 + nb < g1)
      lazy_update(i1, i1 + nb, i1 + nb, g1);
    else if (g1 < d_in)
      lazy_update(g0, g1, g1, d_in);
  }
  const std::vector<double> losses = row_loss.download();  // synchronises
  double loss = 0.0;
  for (const double l : losses) loss += l;
  result.loss = loss / 2.0;
  return result;
}

inline void check_factor_and_layout(const std::string& who, device_view<float> w,
                                    const device_upper_factor& factor) {
  if (factor.n != w.cols())
    throw shape_error(who + ": weights are " + shape_text(w.rows(), w.cols()) +
                      " but the factor is " + shape_text(factor.n, factor.n));
  if (w.col_stride() != 1 || w.row_stride() < w.cols())
    throw shape_error(who + ": the CUDA solver needs row-major weights with adjacent columns");
}

/// What sparsegpt and obs_reconstruct do with a Hessian: validate H (square, finite,
/// symmetric) and w, handle dead inputs (H_jj = 0: weights zeroed and marked pruned, with a
/// warning, as the CPU sweep does), factor it (upper_cholesky_of_inverse in `precision`, with
/// its damping retries and warning), then `sweep(factor)`. Throws before writing to w on bad
/// input.
template <cuda_policy P, class Sweep>
sparsegpt_result sweep_with_hessian(const P& p, const std::string& who, device_view<float> w,
                                    device_view<const float> hessian, double percdamp,
                                    int max_damping_retries, factor_precision precision,
                                    Sweep&& sweep) {
  const index_t d_out = w.rows(), d_in = w.cols();
  require_finite(p, device_view<const float>(w), who, "weight W");
  require_finite(p, hessian, who, "Hessian entry H");
  auto& r = p.resources();
  const cudaStream_t stream = r.stream();
  std::vector<float> diagonal(static_cast<std::size_t>(d_in));
  if (d_in > 0)
    POLLARD_CUDA_CHECK(cudaMemcpy2D(
        diagonal.data(), sizeof(float), hessian.data(),
        static_cast<std::size_t>(hessian.row_stride() + hessian.col_stride()) * sizeof(float),
        sizeof(float), static_cast<std::size_t>(d_in), cudaMemcpyDeviceToHost));
  float scale = 0.0f;
  std::vector<index_t> dead;
  for (index_t j = 0; j < d_in; ++j) {
    scale = std::max(scale, std::abs(diagonal[static_cast<std::size_t>(j)]));
    if (diagonal[static_cast<std::size_t>(j)] == 0.0f) dead.push_back(j);
  }
  const dim3 threads(32, 8);
  const dim3 blocks(static_cast<unsigned>((d_in + 31) / 32), static_cast<unsigned>((d_in + 7) / 8));
  if (d_in > 0) {
    const float tolerance = std::sqrt(std::numeric_limits<float>::epsilon()) * scale;
    unsigned long long* const first = r.status_words();
    POLLARD_CUDA_CHECK(cudaMemsetAsync(first, 0xff, sizeof(*first), stream));
    find_asymmetry<<<blocks, threads, 0, stream>>>(hessian, tolerance, first);
    POLLARD_CUDA_CHECK_LAUNCH("find_asymmetry");
    unsigned long long found = no_entry;
    POLLARD_CUDA_CHECK(
        cudaMemcpyAsync(&found, first, sizeof(found), cudaMemcpyDeviceToHost, stream));
    r.synchronize();
    if (found != no_entry) {
      const auto i = static_cast<index_t>(found) / d_in, j = static_cast<index_t>(found) % d_in;
      pollard::detail::throw_asymmetric_hessian(
          who, i, j, static_cast<double>(value_at(hessian, i, j)),
          static_cast<double>(value_at(hessian, j, i)), tolerance);
    }
  }

  device_buffer<float> h(static_cast<std::size_t>(d_in * d_in), stream);
  if (d_in > 0) {
    copy_with_unit_dead_diagonal<<<blocks, threads, 0, stream>>>(hessian, h.data());
    POLLARD_CUDA_CHECK_LAUNCH("copy_with_unit_dead_diagonal");
  }
  const device_upper_factor factor =
      upper_cholesky_of_inverse(p, device_view<const float>(h.data(), d_in, d_in), percdamp,
                                max_damping_retries, who, precision);
  h = device_buffer<float>();
  const auto zero_dead_columns = [&] {
    if (dead.empty() || d_out == 0) return;
    const device_buffer<index_t> columns{std::span<const index_t>(dead)};
    zero_columns<<<256, 256, 0, stream>>>(w, columns.data(), static_cast<index_t>(dead.size()));
    POLLARD_CUDA_CHECK_LAUNCH("zero_columns");
    r.synchronize();
  };
  zero_dead_columns();
  sparsegpt_result result = sweep(factor);
  // The sweep's updates of the earlier columns reach a dead column through H_ij != 0 (a nearly
  // dead input): zeroed again, so that every weight the mask prunes is exactly zero.
  zero_dead_columns();
  pollard::detail::warn_if_damping_raised(who, percdamp, result);
  pollard::detail::prune_dead_inputs(who, dead, result);
  return result;
}

inline void check_hessian_shape(const std::string& who, device_view<float> w,
                                device_view<const float> hessian) {
  const index_t d_out = w.rows(), d_in = w.cols();
  if (hessian.rows() != d_in || hessian.cols() != d_in)
    throw shape_error(who + ": weights are " + shape_text(d_out, d_in) + " but the Hessian is " +
                      shape_text(hessian.rows(), hessian.cols()) + " (expected " +
                      shape_text(d_in, d_in) + ")");
}

}  // namespace pollard::cuda::detail

namespace pollard::cuda {

/// SparseGPT on device weights w (d_out x d_in, row-major with adjacent columns; updated in
/// place) given the factor U of (H + λI)⁻¹ from upper_cholesky_of_inverse, computed once per
/// shared input. The mask rules and the result are those of pollard::sparsegpt (the CPU
/// solver): unstructured(s, per_column_block{B}) with B <= 128, or N:M (M <= 32). The mask goes
/// to result.mask, or, when `chosen` is given, is left on the device in *chosen (d_out x d_in)
/// only and result.mask stays empty (0 x 0): no host copy (1-3 ms per 4096² on an H200) when the
/// pruning stays on the device (that mask is stream-ordered on p's stream, see device_buffer).
/// Dead inputs are the caller's (see the overload taking H).
/// Synchronises p's stream.
template <cuda_policy P, class Policy>
sparsegpt_result sparsegpt(const P& p, device_view<float> w, const device_upper_factor& factor,
                           const Policy& policy, const sparsegpt_options& options = {},
                           device_mask* chosen = nullptr) {
  detail::check_factor_and_layout("sparsegpt", w, factor);
  const detail::sweep_plan plan = detail::checked_plan(policy, options, w.cols());
  device_mask local;
  device_mask& flags = chosen != nullptr ? *chosen : local;
  flags = device_mask(w.rows(), w.cols(), p.resources().stream());
  sparsegpt_result result = detail::run_sweep(p, w, factor, plan, flags);
  if (chosen == nullptr) result.mask = flags.to_host();
  return result;
}

/// SparseGPT with the Hessian: validates H (square, finite, symmetric), handles dead inputs
/// (H_jj = 0: weights zeroed and marked pruned, with a warning, as the CPU solver does),
/// factors it (upper_cholesky_of_inverse in `precision`, with its damping retries and warning)
/// and sweeps. Throws before writing to w on bad input.
template <cuda_policy P, class Policy>
sparsegpt_result sparsegpt(const P& p, device_view<float> w, device_view<const float> hessian,
                           const Policy& policy, const sparsegpt_options& options = {},
                           factor_precision precision = factor_precision::automatic) {
  const std::string who = "sparsegpt";
  detail::check_hessian_shape(who, w, hessian);
  (void)detail::checked_plan(policy, options, w.cols());
  return detail::sweep_with_hessian(
      p, who, w, hessian, options.percdamp, options.max_damping_retries, precision,
      [&](const device_upper_factor& factor) { return sparsegpt(p, w, factor, policy, options); });
}

/// OBS reconstruction with a given mask (the sweep of sparsegpt with the mask fixed, as
/// pollard::obs_reconstruct on the CPU) given the factor U: zeroes the pruned entries of the
/// device weights w (d_out x d_in, row-major with adjacent columns) and updates the kept ones
/// to compensate, column by column, in lazy batches of `block_size` (at most 128; the result
/// does not depend on it). Returns the mask, the loss and the factor's damping. Synchronises
/// p's stream.
template <cuda_policy P>
sparsegpt_result obs_reconstruct(const P& p, device_view<float> w,
                                 const device_upper_factor& factor, const mask& pruned,
                                 index_t block_size = 128) {
  const std::string who = "obs_reconstruct";
  require_same_shape(who, "weights", w.rows(), w.cols(), "mask", pruned.rows(), pruned.cols());
  detail::check_factor_and_layout(who, w, factor);
  if (block_size <= 0 || block_size > 128)
    throw option_error(who + ": the CUDA solver takes column blocks of 1 to 128, got " +
                       std::to_string(block_size));
  detail::sweep_plan plan;
  plan.selection = pollard::detail::obs_selection::fixed;
  plan.block = std::min(block_size, std::max<index_t>(w.cols(), 1));
  device_mask flags(pruned);
  sparsegpt_result result = detail::run_sweep(p, w, factor, plan, flags);
  result.mask = pruned;
  return result;
}

/// OBS reconstruction with the Hessian: validates everything before writing to w (the mask's
/// shape, H square, finite and symmetric, the options), handles dead inputs and factors H as
/// the sparsegpt overload taking H does, then sweeps with the mask fixed. The options and the
/// warnings are pollard::obs_reconstruct's.
template <cuda_policy P>
sparsegpt_result obs_reconstruct(const P& p, device_view<float> w, device_view<const float> hessian,
                                 const mask& pruned, const obs_reconstruction_options& options = {},
                                 factor_precision precision = factor_precision::automatic) {
  const std::string who = "obs_reconstruct";
  detail::check_hessian_shape(who, w, hessian);
  require_same_shape(who, "weights", w.rows(), w.cols(), "mask", pruned.rows(), pruned.cols());
  pollard::detail::obs_sweep_settings settings;
  settings.who = "obs_reconstruct";
  settings.selection = pollard::detail::obs_selection::fixed;
  settings.block_size = options.block_size;
  settings.percdamp = options.percdamp;
  settings.max_damping_retries = options.max_damping_retries;
  pollard::detail::validate_obs_settings(settings, w.cols());
  return detail::sweep_with_hessian(
      p, who, w, hessian, options.percdamp, options.max_damping_retries, precision,
      [&](const device_upper_factor& factor) {
        return obs_reconstruct(p, w, factor, pruned, std::min<index_t>(options.block_size, 128));
      });
}

}  // namespace pollard::cuda
