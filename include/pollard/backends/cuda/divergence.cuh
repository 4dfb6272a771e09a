// pollard — the divergence metrics of token positions on the GPU: per row of two device logit
// matrices (P dense, Q pruned), the divergence_sample of the CPU's divergence_row, in one kernel
// per batch (one thread block per row, an online softmax); only the per-position metrics come
// to the host.
#pragma once

#if !defined(__CUDACC__)
#error \
    "pollard/backends/cuda/divergence.cuh is CUDA code: include it from a .cu file compiled by nvcc"
#endif

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "pollard/backends/cuda/checked_call.cuh"
#include "pollard/backends/cuda/policy.cuh"
#include "pollard/backends/cuda/row_softmax.cuh"
#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/metrics/divergence_sample.hpp"

namespace pollard::cuda::detail {

/// The per-row result on the device; bad_p/bad_q: the first non-finite logit (or none).
struct divergence_row_result {
  double js_nats, kl, delta_p, nll_p, nll_q;
  index_t top_p, top_q, bad_p, bad_q;
};

/// Four sums over a row, merged in a fixed order.
struct divergence_sums {
  double sp = 0, sq = 0, cross = 0, js = 0;
  __device__ static divergence_sums merge(const divergence_sums& a, const divergence_sums& b) {
    return {a.sp + b.sp, a.sq + b.sq, a.cross + b.cross, a.js + b.js};
  }
  __device__ divergence_sums shuffled_down(int offset) const {
    constexpr unsigned all = 0xffffffffu;
    return {__shfl_down_sync(all, sp, offset), __shfl_down_sync(all, sq, offset),
            __shfl_down_sync(all, cross, offset), __shfl_down_sync(all, js, offset)};
  }
};

/// log((1 + e^−x)/2) for x >= 0, in [−ln 2, 0], accurate relative to x: −x/2 + log cosh(x/2)
/// by its Taylor series in double below 1/4 (terms to y⁸, y = x/2: truncation below 1e-9 of
/// the value), log1pf(expm1f(−x)/2) in float above.
__device__ inline double log_half_one_plus_exp(double x) {
  if (x < 0.25) {
    const double y = 0.5 * x, y2 = y * y;
    const double log_cosh =
        y2 * (0.5 + y2 * (-1.0 / 12.0 + y2 * (1.0 / 45.0 - y2 * (17.0 / 2520.0))));
    return -y + log_cosh;
  }
  return static_cast<double>(log1pf(0.5f * expm1f(-static_cast<float>(x))));
}

/// One block per row r (grid-stride over rows). The row is read twice, the second time mostly
/// from L2:
///  1. an online softmax of each row in float with a double sum: maxima, argmaxima (lowest
///     index), first non-finite entry, and approximate log-normalisers c̃ = max + log Z̃;
///  2. in double, with ã = l_p − c̃_p, b̃ = l_q − c̃_q, p̃ = e^ã, q̃ = e^b̃ (normalised up to the
///     float rounding of Z̃), the sums S_p = Σ p̃, S_q = Σ q̃, Σ p̃(ã − b̃) and
///     ½Σ [p̃(ã − log m̃) + q̃(b̃ − log m̃)] with m̃ = (p̃ + q̃)/2, log m̃ = max(ã, b̃) +
///     log((1 + e^−|ã−b̃|)/2) (accurate relative to |ã − b̃|, exactly 0 where the logits agree).
/// Then, exactly as the CPU's divergence_row defines them: KL(P‖Q) = Σ p̃(ã − b̃)/S_p − log S_p
/// + log S_q (exact normalisation); JS the second sum, the divergence of the nearly normalised
/// p̃, q̃, whose error is first order in S − 1 times JS itself (∂JS/∂S_p = ½KL(P‖M));
/// nll = c̃ + log S − l(correct); Δp = q̃(correct)/S_q − p̃(correct)/S_p.
template <class T>
__global__ void __launch_bounds__(row_threads)
    divergence_rows(matrix_view<const T, device_space> p, matrix_view<const T, device_space> q,
                    const std::int32_t* correct, bool vectorised, divergence_row_result* out) {
  __shared__ online_softmax shared_softmax[row_threads / 32];
  __shared__ divergence_sums shared_sums[row_threads / 32];
  for (index_t r = blockIdx.x; r < p.rows(); r += gridDim.x) {
    online_softmax sp, sq;
    for_each_row_pair(p, q, r, vectorised, [&](index_t i, float a, float b) {
      sp.add(i, a);
      sq.add(i, b);
    });
    sp = block_merge(sp, shared_softmax);
    sq = block_merge(sq, shared_softmax);
    if (sp.bad != online_softmax::none || sq.bad != online_softmax::none) {
      if (threadIdx.x == 0) out[r] = {0, 0, 0, 0, 0, sp.top, sq.top, sp.bad, sq.bad};
      continue;
    }
    const double cp = static_cast<double>(sp.max) + log(sp.sum);
    const double cq = static_cast<double>(sq.max) + log(sq.sum);
    divergence_sums s;
    for_each_row_pair(p, q, r, vectorised, [&](index_t, float lp, float lq) {
      const double a = static_cast<double>(lp) - cp, b = static_cast<double>(lq) - cq;
      const double ep = exp(a), eq = exp(b);
      s.sp += ep;
      s.sq += eq;
      s.cross += ep * (a - b);
      const double log_m = fmax(a, b) + log_half_one_plus_exp(fabs(a - b));
      s.js += 0.5 * (ep * (a - log_m) + eq * (b - log_m));
    });
    s = block_merge(s, shared_sums);
    if (threadIdx.x == 0) {
      const index_t c = correct[r];
      const double lpc = static_cast<double>(to_compute<float>(p(r, c)));
      const double lqc = static_cast<double>(to_compute<float>(q(r, c)));
      divergence_row_result o;
      o.js_nats = fmin(fmax(s.js, 0.0), std::numbers::ln2);
      o.kl = fmax(s.cross / s.sp - log(s.sp) + log(s.sq), 0.0);
      o.delta_p = exp(lqc - cq) / s.sq - exp(lpc - cp) / s.sp;
      o.nll_p = cp + log(s.sp) - lpc;
      o.nll_q = cq + log(s.sq) - lqc;
      o.top_p = sp.top;
      o.top_q = sq.top;
      o.bad_p = o.bad_q = online_softmax::none;
      out[r] = o;
    }
  }
}

}  // namespace pollard::cuda::detail

namespace pollard::cuda {

/// The divergence metrics of every position (row) of the device logits of P (dense) and Q
/// (pruned), [positions x vocabulary] each, with the correct next token of each position: the
/// definitions of pollard's divergence_row (softmax over the vocabulary per position; JS in
/// nats, KL(P‖Q), Δp = q(correct) − p(correct), NLLs, top tokens with the lowest index on
/// ties). Logits stay on the device; only the samples are copied back. Any strides; rows in
/// 16-byte loads when contiguous and aligned. Throws shape_error for differing shapes or
/// vocabularies, an empty vocabulary or a token id outside it (before any device work), and
/// non_finite_error naming the first NaN/infinite logit as the CPU does ("logit j of P at
/// position r"). Synchronises p's stream.
/// Accuracy: each value is the CPU's up to float rounding of the logits' normalisers: KL, Δp
/// and the NLLs to double precision after an exact renormalisation, JS relative to its own size
/// (≈1e-7), with an absolute floor of about 1e-7·|q − p| from the float log term.
template <cuda_policy P, class T>
std::vector<divergence_sample> divergence_samples(const P& policy, device_view<T> logits_p,
                                                  device_view<T> logits_q,
                                                  std::span<const std::int32_t> correct_tokens) {
  using V = std::remove_const_t<T>;
  const matrix_view<const V, device_space> lp = logits_p, lq = logits_q;
  if (lp.cols() != lq.cols())
    throw shape_error("divergence: P has " + std::to_string(lp.cols()) + " logits but Q has " +
                      std::to_string(lq.cols()) + " (the vocabularies must match)");
  if (lp.rows() != lq.rows() || lp.rows() != static_cast<index_t>(correct_tokens.size()))
    throw shape_error("divergence: P has " + std::to_string(lp.rows()) + " positions, Q has " +
                      std::to_string(lq.rows()) + " and there are " +
                      std::to_string(correct_tokens.size()) + " correct tokens");
  if (lp.rows() == 0) return {};
  if (lp.cols() == 0) throw shape_error("divergence: empty logits rows");
  detail::check_token_ids("divergence", correct_tokens, lp.cols(), "correct token id");

  auto& r = policy.resources();
  const auto rows = static_cast<std::size_t>(lp.rows());
  const std::size_t token_bytes = (rows * sizeof(std::int32_t) + 255) / 256 * 256;
  auto* const base =
      static_cast<char*>(r.workspace(token_bytes + rows * sizeof(detail::divergence_row_result)));
  auto* const tokens = reinterpret_cast<std::int32_t*>(base);
  auto* const results = reinterpret_cast<detail::divergence_row_result*>(base + token_bytes);
  POLLARD_CUDA_CHECK(cudaMemcpyAsync(tokens, correct_tokens.data(), rows * sizeof(std::int32_t),
                                     cudaMemcpyHostToDevice, r.stream()));
  const bool vectorised = detail::loads_whole_vectors(lp) && detail::loads_whole_vectors(lq);
  detail::divergence_rows<V><<<detail::row_blocks(lp.rows()), detail::row_threads, 0, r.stream()>>>(
      lp, lq, tokens, vectorised, results);
  POLLARD_CUDA_CHECK_LAUNCH("divergence_rows");
  std::vector<detail::divergence_row_result> host(rows);
  POLLARD_CUDA_CHECK(cudaMemcpyAsync(host.data(), results, rows * sizeof(host[0]),
                                     cudaMemcpyDeviceToHost, r.stream()));
  r.synchronize();

  std::vector<divergence_sample> samples(rows);
  for (std::size_t k = 0; k < rows; ++k) {
    const auto& h = host[k];
    if (h.bad_p != detail::online_softmax::none || h.bad_q != detail::online_softmax::none) {
      const bool in_p = h.bad_p != detail::online_softmax::none;
      throw non_finite_error("divergence: logit " + std::to_string(in_p ? h.bad_p : h.bad_q) +
                             " of " + (in_p ? "P" : "Q") + " at position " + std::to_string(k) +
                             " is not finite");
    }
    auto& s = samples[k];
    s.js_nats = h.js_nats;
    s.kl = h.kl;
    s.delta_p = h.delta_p;
    s.nll_p = h.nll_p;
    s.nll_q = h.nll_q;
    s.top_p = h.top_p;
    s.top_q = h.top_q;
    s.same_top = h.top_p == h.top_q;
  }
  return samples;
}

/// Adds the positions of device logits to a divergence accumulator (pollard's
/// divergence_accumulator, or anything with add(std::span<const divergence_sample>)); nothing is
/// added when a row is invalid. See divergence_samples.
template <cuda_policy P, class Accumulator, class T>
requires requires(Accumulator& a, std::span<const divergence_sample> s) { a.add(s); }
void add_divergence(const P& policy, Accumulator& accumulator, device_view<T> logits_p,
                    device_view<T> logits_q, std::span<const std::int32_t> correct_tokens) {
  const std::vector<divergence_sample> samples =
      divergence_samples(policy, logits_p, logits_q, correct_tokens);
  accumulator.add(std::span<const divergence_sample>(samples));
}

}  // namespace pollard::cuda
