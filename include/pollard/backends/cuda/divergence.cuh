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

/// Five sums over a row, merged in a fixed order.
struct divergence_sums {
  double sp = 0, sq = 0, kl = 0, js_p = 0, js_q = 0;
  __device__ static divergence_sums merge(const divergence_sums& a, const divergence_sums& b) {
    return {a.sp + b.sp, a.sq + b.sq, a.kl + b.kl, a.js_p + b.js_p, a.js_q + b.js_q};
  }
  __device__ divergence_sums shuffled_down(int offset) const {
    constexpr unsigned all = 0xffffffffu;
    return {__shfl_down_sync(all, sp, offset), __shfl_down_sync(all, sq, offset),
            __shfl_down_sync(all, kl, offset), __shfl_down_sync(all, js_p, offset),
            __shfl_down_sync(all, js_q, offset)};
  }
};

/// k(x) = eˣ − 1 − x >= 0 for x <= 1, accurate relative to its value: Taylor series below
/// |x| = 1/4 (terms to x⁷: truncation below 3e-9 of the value), expm1f(x) − x above (at most
/// 8 ulp of cancellation).
__device__ inline float expm1_minus_x(float x) {
  if (fabsf(x) < 0.25f)
    return x * x *
           (0.5f +
            x * (1.0f / 6 + x * (1.0f / 24 + x * (1.0f / 120 + x * (1.0f / 720 + x / 5040)))));
  return expm1f(x) - x;
}

/// h(x) = (1 + eˣ)(ln 2 − log(1 + eˣ)) + x·eˣ for −1/4 < x <= 0 by its Taylor series (x²/4 +
/// x³/8 + x⁴/32 + x⁵/192 + x⁶/1152 + x⁷/5760 + x⁸/46080: truncation below 1e-8 of the value):
/// the Jensen–Shannon term of one entry is ½·p·h(log q − log p).
__device__ inline float js_kernel(float x) {
  return x * x *
         (1.0f / 4 + x * (1.0f / 8 + x * (1.0f / 32 +
                                          x * (1.0f / 192 + x * (1.0f / 1152 +
                                                                 x * (1.0f / 5760 + x / 46080))))));
}

/// The second pass over a row: given the approximate log-normalisers c̃ = max + log Z̃ of the
/// rows of P and Q, with x = log q − log p = (l_q − l_p) − (c̃_q − c̃_p) to float's relative
/// precision, p̃ = __expf(l_p − c̃_p), q̃ = __expf(l_q − c̃_q): S_p = Σ p̃, S_q = Σ q̃, and the
/// terms of KL(P‖Q) = Σ p·k(x) (k(x) = eˣ − 1 − x, as q − p − p·x above x = 1) and of
/// JS = ½Σ p·h(x) (x <= 0) or ½Σ q·h(−x) (x > 0), every term >= 0 and accurate relative to its
/// value, so both sums are accurate relative to their size however small.
struct divergence_terms {
  float cp_f, cq_f, shift_hi, shift_lo;
  float sp_f = 0, sq_f = 0, kl_f = 0, js_p_f = 0, js_q_f = 0;
  int pending = 0;
  divergence_sums sums;

  __device__ divergence_terms(double cp, double cq)
      : cp_f(static_cast<float>(cp)), cq_f(static_cast<float>(cq)) {
    // The logits' difference exactly as two floats (Knuth's two-sum), the normalisers'
    // difference as two floats.
    const double shift = cq - cp;
    shift_hi = static_cast<float>(shift);
    shift_lo = static_cast<float>(shift - static_cast<double>(shift_hi));
  }

  __device__ void add(float lp, float lq) {
    // The weights to a few ulp (__expf: ex2.approx), their terms accurate relative to size.
    const float ep = __expf(lp - cp_f), eq = __expf(lq - cq_f);
    const float d = lq - lp, back = d - lq;
    const float d_error = (lq - (d - back)) + (-lp - back);
    const float x = (d - shift_hi) + (d_error - shift_lo);
    sp_f += ep;
    sq_f += eq;
    const float ax = fabsf(x);
    if (ax < 0.25f) {
      kl_f += ep * expm1_minus_x(x);
      if (x <= 0.0f)
        js_p_f += ep * js_kernel(x);
      else
        js_q_f += eq * js_kernel(-x);
    } else {
      // t = e^−|x| serves both: h(−|x|) = (1 + t)(ln 2 − log1p t) − |x|·t, and k(x) = t − 1 + |x|
      // for x < 0, (1 − t)/t − x for 0 < x <= 1, q − p − p·x above.
      const float t = expf(-ax);
      const float h = (1.0f + t) * (0.69314718f - log1pf(t)) - ax * t;
      if (x <= 0.0f) {
        js_p_f += ep * h;
        kl_f += ep * ((t - 1.0f) + ax);
      } else {
        js_q_f += eq * h;
        kl_f += x > 1.0f ? eq - ep - ep * x : ep * ((1.0f - t) / t - x);
      }
    }
    // Float partial sums of at most 32 terms (>= 0: relative error below 32 ulp), then double.
    if (++pending == 32) flush();
  }

  __device__ void flush() {
    sums = divergence_sums::merge(sums, {sp_f, sq_f, kl_f, js_p_f, js_q_f});
    sp_f = sq_f = kl_f = js_p_f = js_q_f = 0.0f;
    pending = 0;
  }
};

/// A row's result from its block-merged softmax states and sums: KL = Σ p̃k(x)/S_p − (eᵉ − 1 − ε)
/// with ε = log(S_q/S_p) (the exact correction for the offset of x); JS = Σ_p/S_p + Σ_q/S_q
/// (first order in S − 1 times JS: ∂JS/∂S_p = ½KL(P‖M)); nll = c̃ + log S − l(correct);
/// Δp = q̃(correct)/S_q − p̃(correct)/S_p: those carry the float exp's rounding (absolute ~3e-7
/// in the NLL). lpc, lqc: the logits of the correct token.
__device__ inline divergence_row_result row_result(const online_softmax& sp,
                                                   const online_softmax& sq, double cp, double cq,
                                                   const divergence_sums& s, float lpc, float lqc) {
  const auto cp_f = static_cast<float>(cp), cq_f = static_cast<float>(cq);
  // The weights are normalised by c̃ in float and S; x by c̃ in double: their offset.
  const double offset =
      log(s.sq / s.sp) + (static_cast<double>(cq_f) - cq) - (static_cast<double>(cp_f) - cp);
  divergence_row_result o;
  o.js_nats = fmin(0.5 * (s.js_p / s.sp + s.js_q / s.sq), std::numbers::ln2);
  o.kl = fmax(s.kl / s.sp - (expm1(offset) - offset), 0.0);
  o.delta_p = static_cast<double>(__expf(lqc - cq_f)) / s.sq -
              static_cast<double>(__expf(lpc - cp_f)) / s.sp;
  o.nll_p = static_cast<double>(cp_f) + log(s.sp) - static_cast<double>(lpc);
  o.nll_q = static_cast<double>(cq_f) + log(s.sq) - static_cast<double>(lqc);
  o.top_p = sp.top;
  o.top_q = sq.top;
  o.bad_p = o.bad_q = online_softmax::none;
  return o;
}

__device__ inline double log_normaliser(const online_softmax& s) {
  return static_cast<double>(s.max) + log(static_cast<double>(s.sum));
}

/// One block per row r (grid-stride over rows; the grid is kept small enough that a row read
/// in pass 1 is still in L2 for pass 2):
///  1. an online softmax of each row in float: maxima, argmaxima (lowest index), first
///     non-finite entry, and approximate log-normalisers c̃ = max + log Z̃;
///  2. the terms of divergence_terms, summed over the row, and row_result.
template <class T>
__global__ void __launch_bounds__(row_threads)
    divergence_rows(matrix_view<const T, device_space> p, matrix_view<const T, device_space> q,
                    const std::int32_t* correct, bool vectorised, divergence_row_result* out) {
  __shared__ online_softmax shared_softmax[32];
  __shared__ divergence_sums shared_sums[32];
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
    const double cp = log_normaliser(sp), cq = log_normaliser(sq);
    divergence_terms terms(cp, cq);
    for_each_row_pair(p, q, r, vectorised, [&](index_t, float lp, float lq) { terms.add(lp, lq); });
    terms.flush();
    const divergence_sums s = block_merge(terms.sums, shared_sums);
    if (threadIdx.x == 0) {
      const index_t c = correct[r];
      out[r] =
          row_result(sp, sq, cp, cq, s, to_compute<float>(p(r, c)), to_compute<float>(q(r, c)));
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
/// Accuracy (float logits, float exp per entry): JS and KL relative to their own size (≈1e-6,
/// every term of their sums is >= 0), the NLLs to ≈3e-7 absolute, Δp to ≈3e-7 of p and q.
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
  detail::divergence_rows<V>
      <<<detail::row_blocks(lp.rows(), 1), detail::row_threads, 0, r.stream()>>>(
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
