// pollard — SparseGPT on the GPU: the lazy-batch OBS sweep (Frantar & Alistarh 2023, Algorithm 1)
// with the columns of a block processed inside one kernel (one warp per row, the block of U in
// shared memory) and the lazy update of the later columns as one cuBLAS product per block.
#pragma once

#if !defined(__CUDACC__)
#error \
    "pollard/backends/cuda/sparsegpt.cuh is CUDA code: include it from a .cu file compiled by nvcc"
#endif

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "pollard/backends/cuda/checked_call.cuh"
#include "pollard/backends/cuda/cholesky.cuh"
#include "pollard/backends/cuda/device_buffer.cuh"
#include "pollard/backends/cuda/device_checks.cuh"
#include "pollard/backends/cuda/device_mask.cuh"
#include "pollard/backends/cuda/policy.cuh"
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

/// v[slot] for a slot index that is the same in every lane, without indexing a register array
/// at run time (which would move it to local memory).
template <int Slots>
__device__ inline float pick(const float (&v)[Slots], int slot) {
  float out = v[0];
#pragma unroll
  for (int t = 1; t < Slots; ++t)
    if (t == slot) out = v[t];
  return out;
}
template <int Slots>
__device__ inline void assign(float (&v)[Slots], int slot, float value) {
#pragma unroll
  for (int t = 0; t < Slots; ++t)
    if (t == slot) v[t] = value;
}

/// What one block's sweep reads and writes.
struct sweep_block_arguments {
  float* w;  // row-major d_out x d_in, row stride ldw
  index_t ldw, d_out, i1, nb;
  const float* u;  // row-major d_in x d_in upper factor, row stride ldu
  index_t ldu;
  std::uint8_t* flags;  // row-major d_out x d_in mask, row stride ldf
  index_t ldf;
  index_t pruned, group_size;  // N:M chosen in the sweep; group_size 0: flags are given
  float* err;                  // row-major d_out x nb: the errors for the lazy update
  double* row_loss;            // per row, accumulated over blocks
};

/// One warp per row: lane l holds columns l, l+32, ... of the row's block. For each column i,
/// in order: (N:M: at a window start, rank the window's w²/U_jj² and set its flags) the pruned
/// weight's error e = w_i / U_ii is recorded, w_i becomes 0, and every later column k of the
/// block gets w_k −= e·U_ik.
template <int Slots>
__global__ void __launch_bounds__(256) sweep_block(sweep_block_arguments a) {
  extern __shared__ float u_block[];  // nb x nb: U[i1 + i, i1 + k]
  const index_t nb = a.nb;
  for (index_t k = threadIdx.x; k < nb * nb; k += blockDim.x)
    u_block[k] = a.u[(a.i1 + k / nb) * a.ldu + a.i1 + k % nb];
  __syncthreads();
  const int lane = static_cast<int>(threadIdx.x % 32);
  const index_t warps = blockDim.x / 32;
  constexpr unsigned all = 0xffffffffu;
  for (index_t r = blockIdx.x * warps + threadIdx.x / 32; r < a.d_out;
       r += static_cast<index_t>(gridDim.x) * warps) {
    float* const row = a.w + r * a.ldw + a.i1;
    std::uint8_t* const row_flags = a.flags + r * a.ldf + a.i1;
    float w[Slots], e[Slots];
    unsigned pruned_bits = 0;
#pragma unroll
    for (int t = 0; t < Slots; ++t) {
      const index_t c = lane + 32 * t;
      w[t] = c < nb ? row[c] : 0.0f;
      e[t] = 0.0f;
      if (a.group_size == 0 && c < nb && row_flags[c] != 0) pruned_bits |= 1u << t;
    }
    float loss = 0.0f;
    for (index_t i = 0; i < nb; ++i) {
      const int owner = static_cast<int>(i % 32), slot = static_cast<int>(i / 32);
      if (a.group_size > 0 && i % a.group_size == 0) {
        // Lane j < M takes column i + j of the window, from the lane holding it.
        const auto m = static_cast<int>(a.group_size);
        const int offset = (lane - static_cast<int>(i)) & 31;
        const float held = offset < m ? pick(w, static_cast<int>((i + offset) / 32)) : 0.0f;
        const float value = __shfl_sync(all, held, static_cast<int>((i + lane) % 32));
        const index_t column = i + (lane < m ? lane : 0);
        const float d = u_block[column * nb + column];
        const float score = (value * value) / (d * d);
        index_t before = 0;
        for (int o = 0; o < m; ++o) {
          const float other = __shfl_sync(all, score, o);
          before += (other < score || (other == score && o < lane)) ? 1 : 0;
        }
        const unsigned flag = (lane < m && before < a.pruned) ? 1u : 0u;
        const unsigned mine = __shfl_sync(all, flag, offset);  // the flag of my column in it
        if (offset < m) {
          const auto my_slot = static_cast<int>((i + offset) / 32);
          pruned_bits = (pruned_bits & ~(1u << my_slot)) | (mine << my_slot);
          row_flags[i + offset] = static_cast<std::uint8_t>(mine);
        }
      }
      const float wi = __shfl_sync(all, pick(w, slot), owner);
      const bool is_pruned = ((__shfl_sync(all, pruned_bits, owner) >> slot) & 1u) != 0;
      if (!is_pruned) continue;
      const float error = wi / u_block[i * nb + i];
      loss += error * error;
      if (lane == owner) {
        assign(w, slot, 0.0f);
        assign(e, slot, error);
      }
      const float* const u_row = u_block + i * nb;
#pragma unroll
      for (int t = 0; t < Slots; ++t) {
        const index_t c = lane + 32 * t;
        if (c > i && c < nb) w[t] -= error * u_row[c];
      }
    }
#pragma unroll
    for (int t = 0; t < Slots; ++t) {
      const index_t c = lane + 32 * t;
      if (c < nb) {
        row[c] = w[t];
        a.err[r * nb + c] = e[t];
      }
    }
    if (lane == 0) a.row_loss[r] += static_cast<double>(loss);
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
};

inline sweep_plan plan_of(const unstructured& policy, const sparsegpt_options& o) {
  if (policy.comparison_group() != unstructured::group::column_block)
    throw option_error(
        "sparsegpt: chooses its unstructured mask per column block as it sweeps; pass "
        "unstructured(s, per_column_block{B}) (B = 128 in the reference)");
  if (o.reference_threshold)
    throw option_error("sparsegpt: the CUDA solver does not offer reference_threshold");
  return {obs_selection::block_quantile, policy.sparsity(), 0, 0, policy.block_width()};
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
void launch_sweep_block(const sweep_block_arguments& a, cudaStream_t stream) {
  const auto bytes = static_cast<int>(a.nb * a.nb * static_cast<index_t>(sizeof(float)));
  POLLARD_CUDA_CHECK(
      cudaFuncSetAttribute(sweep_block<Slots>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
  const auto blocks = static_cast<unsigned>(std::min<index_t>((a.d_out + 7) / 8, 4096));
  sweep_block<Slots><<<blocks, 256, static_cast<std::size_t>(bytes), stream>>>(a);
  POLLARD_CUDA_CHECK_LAUNCH("sweep_block");
}

/// One block's in-block sweep on the fastest kernel that takes it.
inline void launch_sweep(const sweep_block_arguments& a, cudaStream_t stream) {
  if (a.nb <= 32)
    launch_sweep_block<1>(a, stream);
  else if (a.nb <= 64)
    launch_sweep_block<2>(a, stream);
  else
    launch_sweep_block<4>(a, stream);
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
  device_buffer<float> err(static_cast<std::size_t>(d_out * plan.block));
  device_buffer<float> scores(plan.selection == obs_selection::block_quantile
                                  ? static_cast<std::size_t>(d_out * plan.block)
                                  : 0);
  device_buffer<double> row_loss(static_cast<std::size_t>(d_out));
  POLLARD_CUDA_CHECK(cudaMemsetAsync(row_loss.data(), 0, row_loss.size() * sizeof(double), stream));
  const double s = plan.sparsity;
  const auto prune_count = [s](index_t n) {
    return static_cast<index_t>(std::floor(static_cast<double>(n) * s));
  };
  const float* const u = factor.u.data();
  cublasHandle_t blas = r.cublas();
  const float minus_one = -1.0f, one = 1.0f;

  for (index_t i1 = 0; i1 < d_in; i1 += plan.block) {
    const index_t nb = std::min(plan.block, d_in - i1);
    if (plan.selection == obs_selection::block_quantile) {
      const device_view<float> block_scores(scores.data(), d_out, nb);
      const auto count = static_cast<unsigned>(std::min<index_t>((d_out * nb + 255) / 256, 4096));
      block_saliency<<<count, 256, 0, stream>>>(w, u, d_in, i1, block_scores);
      POLLARD_CUDA_CHECK_LAUNCH("block_saliency");
      select_lowest_unchecked(p, "sparsegpt", device_view<const float>(block_scores), d_out, nb,
                              prune_count, flags.view().block(0, i1, d_out, nb));
    }
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
        err.data(),
        row_loss.data()};
    launch_sweep(arguments, stream);
    const index_t rest = d_in - i1 - nb;
    if (rest > 0)  // W[:, i2:] −= Err · U[i1:i2, i2:], as column-major (W[:, i2:])ᵀ −= Uᵀ·Errᵀ
      POLLARD_CUDA_CHECK(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(rest),
                                     static_cast<int>(d_out), static_cast<int>(nb), &minus_one,
                                     u + i1 * d_in + i1 + nb, static_cast<int>(d_in), err.data(),
                                     static_cast<int>(nb), &one, w.data() + i1 + nb,
                                     static_cast<int>(w.row_stride())));
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

  device_buffer<float> h(static_cast<std::size_t>(d_in * d_in));
  if (d_in > 0) {
    copy_with_unit_dead_diagonal<<<blocks, threads, 0, stream>>>(hessian, h.data());
    POLLARD_CUDA_CHECK_LAUNCH("copy_with_unit_dead_diagonal");
  }
  const device_upper_factor factor =
      upper_cholesky_of_inverse(p, device_view<const float>(h.data(), d_in, d_in), percdamp,
                                max_damping_retries, who, precision);
  h = device_buffer<float>();
  if (!dead.empty() && d_out > 0) {
    const device_buffer<index_t> columns{std::span<const index_t>(dead)};
    zero_columns<<<256, 256, 0, stream>>>(w, columns.data(), static_cast<index_t>(dead.size()));
    POLLARD_CUDA_CHECK_LAUNCH("zero_columns");
    r.synchronize();
  }
  sparsegpt_result result = sweep(factor);
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
/// solver): unstructured(s, per_column_block{B}) with B <= 128, or N:M (M <= 32); the mask is
/// also left in `chosen` (d_out x d_in) when given. Dead inputs are the caller's (see the
/// overload taking H). Synchronises p's stream.
template <cuda_policy P, class Policy>
sparsegpt_result sparsegpt(const P& p, device_view<float> w, const device_upper_factor& factor,
                           const Policy& policy, const sparsegpt_options& options = {},
                           device_mask* chosen = nullptr) {
  detail::check_factor_and_layout("sparsegpt", w, factor);
  const detail::sweep_plan plan = detail::checked_plan(policy, options, w.cols());
  device_mask local;
  device_mask& flags = chosen != nullptr ? *chosen : local;
  flags = device_mask(w.rows(), w.cols());
  sparsegpt_result result = detail::run_sweep(p, w, factor, plan, flags);
  result.mask = flags.to_host();
  return result;
}

/// SparseGPT with the Hessian: validates H (square, finite, symmetric), handles dead inputs
/// (H_jj = 0: weights zeroed and marked pruned, with a warning, as the CPU solver does),
/// factors it (upper_cholesky_of_inverse in `precision`, with its damping retries and warning)
/// and sweeps. Throws before writing to w on bad input.
template <cuda_policy P, class Policy>
sparsegpt_result sparsegpt(const P& p, device_view<float> w, device_view<const float> hessian,
                           const Policy& policy, const sparsegpt_options& options = {},
                           factor_precision precision = factor_precision::fp32) {
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
                                 factor_precision precision = factor_precision::fp32) {
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
