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
#include <array>
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

/// What divergence_rows leaves per row for divergence_results to finish (row_result): the sums of
/// divergence_terms, the log-normalisers c̃ and their float multiples by log2e, the logits of the
/// correct token, the first indices of the maxima; bad_p/bad_q: the first non-finite logit (or
/// none, and then nothing else is set).
struct divergence_row_sums {
  double sp, sq, kl, js, js_q, cp, cq;
  float cp2, cq2, lpc, lqc;
  index_t top_p, top_q, bad_p, bad_q;
};

/// Five sums over a row, merged in a fixed order: S_p, S_q, the KL terms, the JS terms of every
/// entry and those of the entries weighed by q.
struct divergence_sums {
  double sp = 0, sq = 0, kl = 0, js = 0, js_q = 0;
  __device__ static divergence_sums merge(const divergence_sums& a, const divergence_sums& b) {
    return {a.sp + b.sp, a.sq + b.sq, a.kl + b.kl, a.js + b.js, a.js_q + b.js_q};
  }
  __device__ divergence_sums shuffled_down(int offset) const {
    constexpr unsigned all = 0xffffffffu;
    return {__shfl_down_sync(all, sp, offset), __shfl_down_sync(all, sq, offset),
            __shfl_down_sync(all, kl, offset), __shfl_down_sync(all, js, offset),
            __shfl_down_sync(all, js_q, offset)};
  }
};

/// Below this |x| the JS and KL terms come from polynomials in x, at and above it from e^−|x|.
inline constexpr float near_limit = 1.5f;

/// h(−a)/a² for 0 <= a < 3/2, where h(x) = (1 + eˣ)(ln 2 − log(1 + eˣ)) + x·eˣ (the Jensen–Shannon
/// term of one entry is ½·p·h(log q − log p) for q <= p): a minimax polynomial fitted to the
/// relative error (1.4e-7 with float coefficients in float Horner steps, against mpmath).
__device__ inline float js_near(float a) {
  return fmaf(
      a,
      fmaf(a,
           fmaf(a,
                fmaf(a, fmaf(a, fmaf(a, 1.825006439e-05f, -1.607570157e-04f), 8.512577042e-04f),
                     -5.198001862e-03f),
                3.124705330e-02f),
           -1.249996871e-01f),
      2.500000000e-01f);
}

/// k(x)/x² for |x| < 3/2, where k(x) = eˣ − 1 − x (the KL term of one entry is p·k(log q − log p)):
/// a minimax polynomial fitted to the relative error (1.1e-7, as js_near).
__device__ inline float kl_near(float x) {
  float r = fmaf(x, 2.790278302e-07f, 2.883562956e-06f);
  r = fmaf(x, r, 2.481591582e-05f);
  r = fmaf(x, r, 1.981994574e-04f);
  r = fmaf(x, r, 1.388855046e-03f);
  r = fmaf(x, r, 8.333463222e-03f);
  r = fmaf(x, r, 4.166668653e-02f);
  r = fmaf(x, r, 1.666666418e-01f);
  return fmaf(x, r, 5.000000000e-01f);
}

/// h(−a) for a >= 3/2 from t = e^−a: (1 + t)·(ln 2 − ln(1 + t)) − a·t, the logarithm by lg2.approx
/// (absolute error 2^-22): the two products cancel by at most a factor of 2.3 there, which keeps
/// h within 1.2e-6 of its value (t's and the logarithm's errors at their bounds).
__device__ inline float js_far(float t, float a) {
  const float one_t = 1.0f + t;
  const float log_ratio = std::numbers::ln2_v<float> * (1.0f - log2_approx(one_t));
  return fmaf(one_t, log_ratio, -a * t);
}

/// x = (l_q − l_p) − shift with shift = shift_hi + shift_lo, to float's relative precision: for
/// float (and double, read as float) logits the difference l_q − l_p is taken exactly as two
/// floats (Knuth's two-sum); for 16-bit logits it is exact in float already (8 or 11 significant
/// bits) unless their exponents differ by more than 15 (bf16) or 12 (fp16), and then its rounding
/// is at most 2^-24 of the larger.
template <class T>
__device__ inline float log_ratio(float lp, float lq, float shift_hi, float shift_lo) {
  const float d = lq - lp;
  if constexpr (sizeof(T) >= 4) {
    const float back = d - lq;
    const float d_error = (lq - (d - back)) + (-lp - back);
    return (d - shift_hi) + (d_error - shift_lo);
  } else {
    return (d - shift_hi) - shift_lo;
  }
}

/// The c̃ the weights are normalised by (c̃·log2e rounded to float, over log2e).
__device__ inline double normaliser(float c2) {
  return static_cast<double>(c2) / static_cast<double>(log2e_float);
}
/// The weight of logit l: e^(l − normaliser(c2)) to a few ulp.
__device__ inline float weight(float l, float c2) { return exp2_approx(fmaf(l, log2e_float, -c2)); }

/// The constants of the second pass over a row (see divergence_terms::of).
struct divergence_row_constants {
  float cp2, cq2, shift_hi, shift_lo, q_to_p;
};

/// The second pass over a row: given the approximate log-normalisers c̃ = max + log Z̃ of the
/// rows of P and Q, the weights p̃ = 2^(l_p·log2e − c̃_p·log2e), q̃ likewise, with c̃·log2e rounded
/// to float (normaliser(): n_p, n_q, the values the weights are normalised by), and
/// x = (l_q − l_p) − (c̃_q − c̃_p) to float's relative precision: S_p = Σ p̃, S_q = Σ q̃, and the
/// terms of KL(P‖Q) = Σ p·k(x) (k(x) = eˣ − 1 − x; q − p − p·x from x = 3/2, with p̃·eˣ =
/// q̃·e^((n_q − c̃_q) − (n_p − c̃_p))) and of JS = ½Σ p·h(x) (x <= 0) or ½Σ q·h(−x) (x > 0), every
/// term >= 0 and accurate relative to its value, so both sums are accurate relative to their
/// size however small. A group takes the polynomials for every entry and, only when one of its
/// entries has |x| >= 3/2, the far forms.
template <class T>
struct divergence_terms : divergence_row_constants {
  float sp_f = 0, sq_f = 0, kl_f = 0, js_f = 0, js_q_f = 0;
  int pending = 0;
  divergence_sums sums;

  __device__ explicit divergence_terms(const divergence_row_constants& c)
      : divergence_row_constants(c) {}

  /// The constants of a row with log-normalisers cp, cq (in double: computed once per row).
  __device__ static divergence_row_constants of(double cp, double cq) {
    divergence_row_constants t;
    t.cp2 = static_cast<float>(cp * static_cast<double>(log2e_float));
    t.cq2 = static_cast<float>(cq * static_cast<double>(log2e_float));
    // The normalisers' difference as two floats; the logits' difference exactly as two floats
    // in log_ratio().
    const double shift = cq - cp;
    t.shift_hi = static_cast<float>(shift);
    t.shift_lo = static_cast<float>(shift - static_cast<double>(t.shift_hi));
    t.q_to_p = static_cast<float>(exp((normaliser(t.cq2) - cq) - (normaliser(t.cp2) - cp)));
    return t;
  }

  /// The entries of a group (in float partial sums of at most 32 terms: relative error below 32
  /// ulp for terms >= 0, then double); groups of more than four entries (16-bit logits) four at a
  /// time, which keeps fewer values live.
  template <std::size_t W>
  __device__ void add_group(const std::array<float, W>& lp, const std::array<float, W>& lq) {
    if constexpr (W > 4) {
      static_assert(W % 4 == 0);
#pragma unroll
      for (std::size_t t = 0; t < W; t += 4) add_entries<4>(&lp[t], &lq[t]);
    } else {
      add_entries<W>(lp.data(), lq.data());
    }
    pending += static_cast<int>(W);
    if (pending >= 32) flush();
  }

  template <std::size_t W>
  __device__ void add_entries(const float* lp, const float* lq) {
    std::array<float, W> ep, eq, x, js, kl;
    bool far = false;
#pragma unroll
    for (std::size_t t = 0; t < W; ++t) {
      ep[t] = weight(lp[t], cp2);
      eq[t] = weight(lq[t], cq2);
      x[t] = log_ratio<T>(lp[t], lq[t], shift_hi, shift_lo);
      const float a = fabsf(x[t]), a2 = a * a;
      // The JS term weighs h(−|x|) by the larger of the two probabilities.
      const float w = x[t] <= 0.0f ? ep[t] : eq[t];
      js[t] = w * (a2 * js_near(a));
      kl[t] = ep[t] * (a2 * kl_near(x[t]));
      far = far || !(a < near_limit);
    }
    if (far) {
#pragma unroll
      for (std::size_t t = 0; t < W; ++t) {
        const float a = fabsf(x[t]);
        const bool p_side = x[t] <= 0.0f;
        // t = e^−|x| serves both: k(x) = t − 1 + |x| for x < 0, q − p − p·x for x > 0.
        const float e = exp2_approx(-a * log2e_float);
        const float js_a = (p_side ? ep[t] : eq[t]) * js_far(e, a);
        const float kl_a =
            p_side ? ep[t] * ((e - 1.0f) + a) : fmaf(-ep[t], x[t], fmaf(eq[t], q_to_p, -ep[t]));
        const bool use = !(a < near_limit);
        js[t] = use ? js_a : js[t];
        kl[t] = use ? kl_a : kl[t];
      }
    }
#pragma unroll
    for (std::size_t t = 0; t < W; ++t) {
      sp_f += ep[t];
      sq_f += eq[t];
      kl_f += kl[t];
      js_f += js[t];
      js_q_f += x[t] <= 0.0f ? 0.0f : js[t];
    }
  }

  __device__ void flush() {
    sums = divergence_sums::merge(sums, {sp_f, sq_f, kl_f, js_f, js_q_f});
    sp_f = sq_f = kl_f = js_f = js_q_f = 0.0f;
    pending = 0;
  }
};

/// The metrics of a row as divergence_samples returns them; bad_p/bad_q: the first non-finite
/// logit (or none).
struct divergence_row_result {
  double js_nats, kl, delta_p, nll_p, nll_q;
  index_t top_p, top_q, bad_p, bad_q;
};

/// A row's metrics from its sums (in double): KL = Σ p̃k(x)/S_p − (eᵉ − 1 − ε) with
/// ε = log(S_q/S_p) + (n_q − c̃_q) − (n_p − c̃_p) (the exact correction for the offset of x from
/// log q − log p); JS = ½(Σ_all/S_p + Σ_q·(1/S_q − 1/S_p)) − ε²/8 (first order in ε times JS:
/// ∂JS/∂S_p = ½KL(P‖M)); nll = n + log S − l(correct); Δp = q̃(correct)/S_q − p̃(correct)/S_p:
/// those carry the float exp's rounding (absolute ~3e-7 in the NLL).
__device__ inline divergence_row_result row_result(const divergence_row_sums& s) {
  const double np = normaliser(s.cp2), nq = normaliser(s.cq2);
  const double offset = log(s.sq / s.sp) + (nq - s.cq) - (np - s.cp);
  divergence_row_result o;
  // JS of x rather than of x − ε, to second order: ε²/8 (of Σ p·(x + ε)²/8 near P = Q).
  const double js = 0.5 * (s.js / s.sp + s.js_q * (1.0 / s.sq - 1.0 / s.sp)) - offset * offset / 8;
  const double kl = s.kl / s.sp - (expm1(offset) - offset);
  // Clamped to [0, ln 2] and [0, ∞) where rounding crosses the bounds; NaN (logits too large
  // for the float exponents) passes through for the host to refuse.
  o.js_nats = isnan(js) ? js : fmin(fmax(js, 0.0), std::numbers::ln2);
  o.kl = isnan(kl) ? kl : fmax(kl, 0.0);
  o.delta_p = static_cast<double>(weight(s.lqc, s.cq2)) / s.sq -
              static_cast<double>(weight(s.lpc, s.cp2)) / s.sp;
  o.nll_p = np + log(s.sp) - static_cast<double>(s.lpc);
  o.nll_q = nq + log(s.sq) - static_cast<double>(s.lqc);
  o.top_p = s.top_p;
  o.top_q = s.top_q;
  o.bad_p = s.bad_p;
  o.bad_q = s.bad_q;
  return o;
}

/// row_result of every row, one thread per row: the double logarithms and exponentials of a row
/// kept one thread of divergence_rows' block busy while the others waited at the next row's
/// first barrier. (A template, as every kernel in these headers, for one definition per program.)
template <class T>
__global__ void divergence_results(const divergence_row_sums* sums, index_t rows,
                                   divergence_row_result* out) {
  const index_t r = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  if (r < rows) out[r] = row_result(sums[r]);
}

/// Threads per block and blocks per multiprocessor of divergence_rows: four blocks of 256 ran
/// 1.05-1.17x faster than one of 1024 (benchmarks/results/h200-2026-12-02.md), the block barriers
/// of one row overlapping the work of the others.
inline constexpr int divergence_threads = 256;
inline constexpr int divergence_blocks_per_sm = 4;

/// One block per row r (grid-stride over rows):
///  1. an online softmax of each row in float: maxima, argmaxima (lowest index), first
///     non-finite entry, and approximate log-normalisers c̃ = max + log Z̃;
///  2. the terms of divergence_terms, summed over the row and left with the row's normalisers,
///     correct-token logits and first maxima for divergence_results.
/// The second pass reads the row again from memory where the rows in flight (resident blocks)
/// outgrow the L2 cache; splitting rows over clusters of 2-16 blocks, which keeps them in L2, ran
/// slower on an H200 at every vocabulary from 32000 to 151936 (benchmarks/results/
/// h200-2026-12-02-third.md).
template <class T>
__global__ void __launch_bounds__(divergence_threads, divergence_blocks_per_sm)
    divergence_rows(matrix_view<const T, device_space> p, matrix_view<const T, device_space> q,
                    const std::int32_t* correct, bool vectorised, divergence_row_sums* out) {
  __shared__ online_softmax shared_softmax[32];
  __shared__ divergence_sums shared_sums[32];
  // The row's merged P, Q (read by thread 0 only, kept here to free registers during the second
  // pass) and the second pass's constants (read by all): thread 0 computes them once
  // (double logarithms and exponentials in every thread, and the row metrics' in thread 0, took 7 %
  // of the kernel at 4096 x 32000).
  __shared__ online_softmax row_softmax[2];
  __shared__ divergence_row_constants row_constants;
  __shared__ double row_normalisers[2];
  for (index_t r = blockIdx.x; r < p.rows(); r += gridDim.x) {
    online_softmax sp, sq;
    for_each_row_pair_group(p, q, r, vectorised, [&](index_t i0, const auto& a, const auto& b) {
      sp.add_group(i0, a);
      sq.add_group(i0, b);
    });
    sp = block_merge(sp, shared_softmax);
    sq = block_merge(sq, shared_softmax);
    if (sp.bad != online_softmax::none || sq.bad != online_softmax::none) {
      if (threadIdx.x == 0) {
        out[r] = divergence_row_sums{};
        out[r].bad_p = sp.bad;
        out[r].bad_q = sq.bad;
      }
      continue;
    }
    if (threadIdx.x == 0) {
      row_softmax[0] = sp;
      row_softmax[1] = sq;
      row_normalisers[0] = log_normaliser(sp);
      row_normalisers[1] = log_normaliser(sq);
      row_constants = divergence_terms<T>::of(row_normalisers[0], row_normalisers[1]);
    }
    __syncthreads();
    divergence_terms<T> terms(row_constants);
    for_each_row_pair_group(p, q, r, vectorised, [&](index_t, const auto& lp, const auto& lq) {
      terms.add_group(lp, lq);
    });
    terms.flush();
    const divergence_sums s = block_merge(terms.sums, shared_sums);
    if (threadIdx.x == 0) {
      const online_softmax& mp = row_softmax[0];
      const online_softmax& mq = row_softmax[1];
      const index_t c = correct[r], width = vectorised ? entries_per_load<T> : 1;
      divergence_row_sums o;
      o.sp = s.sp, o.sq = s.sq, o.kl = s.kl, o.js = s.js, o.js_q = s.js_q;
      o.cp = row_normalisers[0], o.cq = row_normalisers[1];
      o.cp2 = terms.cp2, o.cq2 = terms.cq2;
      o.lpc = to_compute<float>(p(r, c));
      o.lqc = to_compute<float>(q(r, c));
      o.top_p = first_index_of_max(p, r, mp.top, width, mp.max);
      o.top_q = first_index_of_max(q, r, mq.top, width, mq.max);
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
/// Throws non_finite_error too for a position whose finite logits are too large in magnitude for
/// the float computation (above about 1e8). Double logits are read as float.
/// Accuracy (float exp per entry): JS and KL relative to their own size (≈2e-6, every term of
/// their sums is >= 0) down to an absolute floor of ≈1e-14 (the square of the normalisers' float
/// error, ≈1e-7), the NLLs to ≈3e-7 absolute, Δp to ≈3e-7 of p and q.
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
  const std::size_t token_bytes = detail::staged_token_bytes(rows),
                    sum_bytes = (rows * sizeof(detail::divergence_row_sums) + 255) / 256 * 256,
                    result_bytes = rows * sizeof(detail::divergence_row_result);
  auto* const base = static_cast<char*>(r.workspace(token_bytes + sum_bytes + result_bytes));
  auto* const tokens = reinterpret_cast<std::int32_t*>(base);
  auto* const sums = reinterpret_cast<detail::divergence_row_sums*>(base + token_bytes);
  auto* const results =
      reinterpret_cast<detail::divergence_row_result*>(base + token_bytes + sum_bytes);
  char* const staged = detail::stage_tokens(r, correct_tokens, tokens, result_bytes);
  const bool vectorised = detail::loads_whole_vectors(lp) && detail::loads_whole_vectors(lq);
  detail::divergence_rows<V>
      <<<detail::row_blocks(lp.rows(), detail::divergence_blocks_per_sm),
         detail::divergence_threads, 0, r.stream()>>>(lp, lq, tokens, vectorised, sums);
  POLLARD_CUDA_CHECK_LAUNCH("divergence_rows");
  detail::divergence_results<V>
      <<<static_cast<unsigned>((rows + 127) / 128), 128, 0, r.stream()>>>(sums, lp.rows(), results);
  POLLARD_CUDA_CHECK_LAUNCH("divergence_results");
  POLLARD_CUDA_CHECK(
      cudaMemcpyAsync(staged, results, result_bytes, cudaMemcpyDeviceToHost, r.stream()));
  r.synchronize();
  const auto* const host = reinterpret_cast<const detail::divergence_row_result*>(staged);

  std::vector<divergence_sample> samples(rows);
  for (std::size_t k = 0; k < rows; ++k) {
    const auto& h = host[k];
    if (h.bad_p != detail::online_softmax::none || h.bad_q != detail::online_softmax::none) {
      const bool in_p = h.bad_p != detail::online_softmax::none;
      throw non_finite_error("divergence: logit " + std::to_string(in_p ? h.bad_p : h.bad_q) +
                             " of " + (in_p ? "P" : "Q") + " at position " + std::to_string(k) +
                             " is not finite");
    }
    if (!std::isfinite(h.js_nats) || !std::isfinite(h.kl) || !std::isfinite(h.delta_p) ||
        !std::isfinite(h.nll_p) || !std::isfinite(h.nll_q))
      throw non_finite_error("divergence: the logits at position " + std::to_string(k) +
                             " are too large for the device computation (it needs |logit| below "
                             "about 1e8)");
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
