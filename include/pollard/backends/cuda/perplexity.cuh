// pollard — the negative log-likelihood of each position's target token from device logits, in
// one pass over each row (an online softmax); only the per-position values come to the host.
#pragma once

#if !defined(__CUDACC__)
#error \
    "pollard/backends/cuda/perplexity.cuh is CUDA code: include it from a .cu file compiled by nvcc"
#endif

#include <cuda_runtime.h>

#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "pollard/backends/cuda/checked_call.cuh"
#include "pollard/backends/cuda/policy.cuh"
#include "pollard/backends/cuda/row_softmax.cuh"
#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/metrics/perplexity.hpp"

namespace pollard::cuda::detail {

/// Σ exp(l − max), online: the max is the row's running maximum; exp in float (__expf: ex2.approx,
/// ≈2e-7 relative where the terms count), sums in double.
struct online_sum {
  float max = -INFINITY;
  double sum = 0.0;
  index_t bad = online_softmax::none;

  __device__ void add(index_t i, float x) {
    if (!isfinite(x)) {
      bad = i < bad ? i : bad;
      return;
    }
    if (x > max) {
      sum = sum * static_cast<double>(__expf(max - x)) + 1.0;
      max = x;
    } else {
      sum += static_cast<double>(__expf(x - max));
    }
  }
  __device__ static online_sum merge(const online_sum& a, const online_sum& b) {
    online_sum out;
    out.bad = a.bad < b.bad ? a.bad : b.bad;
    out.max = fmaxf(a.max, b.max);
    if (out.max == -INFINITY) return out;
    out.sum = a.sum * static_cast<double>(__expf(a.max - out.max)) +
              b.sum * static_cast<double>(__expf(b.max - out.max));
    return out;
  }
  __device__ online_sum shuffled_down(int offset) const {
    online_sum o;
    o.max = __shfl_down_sync(0xffffffffu, max, offset);
    o.sum = __shfl_down_sync(0xffffffffu, sum, offset);
    o.bad = __shfl_down_sync(0xffffffffu, bad, offset);
    return o;
  }
};

/// One block per row: nll[r] = max + log Σ exp(l − max) − l(target), as
/// detail::nll_from_logits computes it on the CPU but with the exp in float (≈3e-7 absolute);
/// bad[r] = the first non-finite logit or none.
inline constexpr int nll_threads = 256;

template <class T>
__global__ void __launch_bounds__(nll_threads)
    target_nlls(matrix_view<const T, device_space> logits, const std::int32_t* targets,
                bool vectorised, double* nll, index_t* bad) {
  __shared__ online_sum shared[32];
  for (index_t r = blockIdx.x; r < logits.rows(); r += gridDim.x) {
    online_sum s;
    for_each_in_row(logits, r, vectorised, [&](index_t i, float x) { s.add(i, x); });
    s = block_merge(s, shared);
    if (threadIdx.x == 0) {
      bad[r] = s.bad;
      nll[r] = static_cast<double>(s.max) + log(s.sum) -
               static_cast<double>(to_compute<float>(logits(r, targets[r])));
    }
  }
}

}  // namespace pollard::cuda::detail

namespace pollard::cuda {

/// −log softmax(logits row r)[targets[r]] for every row of device logits [positions x
/// vocabulary] (any strides), the values perplexity_accumulator::add_logits computes on the
/// CPU, to ≈3e-7 absolute (float exp per entry, double sums). Throws shape_error for a row/target
/// count mismatch, an empty vocabulary or a token id outside it (before any device work),
/// non_finite_error naming the first NaN/infinite logit
/// ("logit i of row r", as the CPU does). Synchronises p's stream.
template <cuda_policy P, class T>
std::vector<double> target_nlls(const P& policy, device_view<T> logits,
                                std::span<const std::int32_t> targets) {
  using V = std::remove_const_t<T>;
  const matrix_view<const V, device_space> x = logits;
  if (static_cast<index_t>(targets.size()) != x.rows())
    throw shape_error("perplexity: " + std::to_string(x.rows()) + " rows of logits but " +
                      std::to_string(targets.size()) + " target tokens");
  if (x.rows() == 0) return {};
  if (x.cols() == 0) throw shape_error("perplexity: empty logits rows");
  detail::check_token_ids("perplexity", targets, x.cols(), "token id");

  auto& r = policy.resources();
  const auto rows = static_cast<std::size_t>(x.rows());
  const std::size_t target_bytes = detail::staged_token_bytes(rows),
                    result_bytes = rows * (sizeof(double) + sizeof(index_t));
  auto* const base = static_cast<char*>(r.workspace(target_bytes + result_bytes));
  auto* const device_targets = reinterpret_cast<std::int32_t*>(base);
  auto* const nll = reinterpret_cast<double*>(base + target_bytes);
  auto* const bad = reinterpret_cast<index_t*>(nll + rows);
  char* const staged = detail::stage_tokens(r, targets, device_targets, result_bytes);
  detail::target_nlls<V><<<detail::row_blocks(x.rows(), 64), detail::nll_threads, 0, r.stream()>>>(
      x, device_targets, detail::loads_whole_vectors(x), nll, bad);
  POLLARD_CUDA_CHECK_LAUNCH("target_nlls");
  // The NLLs and the first non-finite indices are adjacent: one copy back.
  POLLARD_CUDA_CHECK(
      cudaMemcpyAsync(staged, nll, result_bytes, cudaMemcpyDeviceToHost, r.stream()));
  r.synchronize();
  const auto* const host_nll = reinterpret_cast<const double*>(staged);
  const auto* const host_bad = reinterpret_cast<const index_t*>(host_nll + rows);
  std::vector<double> out(host_nll, host_nll + rows);
  for (std::size_t k = 0; k < rows; ++k)
    if (host_bad[k] != detail::online_softmax::none)
      throw non_finite_error("perplexity: logit " + std::to_string(host_bad[k]) + " of row " +
                             std::to_string(k) + " is not finite");
  return out;
}

/// Adds the positions of device logits to a perplexity accumulator; nothing is added when a row
/// is invalid. See target_nlls.
template <cuda_policy P, class T>
void add_logits(const P& policy, perplexity_accumulator& accumulator, device_view<T> logits,
                std::span<const std::int32_t> targets) {
  const std::vector<double> nll = target_nlls(policy, logits, targets);
  accumulator.add_nlls(std::span<const double>(nll));
}

}  // namespace pollard::cuda
