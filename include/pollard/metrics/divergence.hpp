// pollard — divergence of a pruned model Q from its dense model P, per token position over the
// vocabulary.
//
// Every metric is computed at one token position at a time from the two logit rows over the
// vocabulary (softmax over the vocabulary axis), teacher-forced on the same tokens, and then
// summarised over positions. This is deliberately NOT the normalisation of the code published
// with one of the source studies, which passes [batch, positions, vocabulary] logits to a
// metric that normalises over dimension 1, i.e. over positions.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <span>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/metrics/divergence_report.hpp"
#include "pollard/metrics/perplexity.hpp"

namespace pollard {

/// The metrics of one token position. P = softmax(logits_p), Q = softmax(logits_q) over the
/// vocabulary; all logarithms natural.
struct divergence_sample {
  double js_nats = 0.0;   // ½KL(P‖M) + ½KL(Q‖M), M = (P+Q)/2; in [0, ln 2]
  double kl = 0.0;        // KL(P‖Q) = Σ p (log p − log q), finite even where q underflows
  double delta_p = 0.0;   // q(correct) − p(correct)
  double nll_p = 0.0;     // −log p(correct)
  double nll_q = 0.0;     // −log q(correct)
  index_t top_p = 0;      // argmax of P (lowest index on ties)
  index_t top_q = 0;      // argmax of Q (lowest index on ties)
  bool same_top = false;  // top_p == top_q
};

/// The percentile at `fraction` in [0, 1] of ascending `sorted` values: linear interpolation
/// between closest ranks (Hyndman–Fan type 7, numpy's default, the rule of llama.cpp's report):
/// h = fraction·(n−1), result = x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]).
/// Throws empty_statistics_error for no values, option_error for a fraction outside [0, 1].
inline double percentile_of_sorted(std::span<const float> sorted, double fraction) {
  if (sorted.empty()) throw empty_statistics_error("percentile: no values");
  if (!(fraction >= 0.0 && fraction <= 1.0))
    throw option_error("percentile: fraction must be in [0, 1], got " + std::to_string(fraction));
  const double h = fraction * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double lo_value = static_cast<double>(sorted[lo]);
  return lo_value + (h - static_cast<double>(lo)) * (static_cast<double>(sorted[hi]) - lo_value);
}

namespace detail {

// Per-row working memory: the unnormalised probabilities exp(l − max) of both rows, and one
// chunk of m = (p + q)/2, its logarithm and the log-softmax values of both rows.
struct divergence_scratch {
  std::vector<double> ep, eq, m, log_m, ls_p, ls_q;
};

// exp(x) for x ≤ 0 (as l − max always is), relative error ≤ 1 ulp against glibc; below
// −708 it returns e^-708 ≈ 3e-308 instead of underflowing. Cody–Waite reduction
// x = k·ln2 + r, |r| ≤ ln2/2, degree-13 Taylor polynomial, 2^k added to the exponent bits.
// Branch-free (the clamp compares bit patterns: for x ≤ 0 a larger pattern is a more negative
// number), so a loop over it vectorises.
inline double exp_nonpositive(double x) noexcept {
  const std::uint64_t bits = std::bit_cast<std::uint64_t>(x);
  const std::uint64_t limit = std::bit_cast<std::uint64_t>(-708.0);
  x = std::bit_cast<double>(bits < limit ? bits : limit);
  constexpr double shifter = 0x1.8p52;  // t's low mantissa bits hold round(x/ln2)
  const double t = x * 1.4426950408889634 + shifter;
  const double k = t - shifter;
  double r = k * -6.93147180369123816490e-01 + x;
  r = k * -1.90821492927058770002e-10 + r;
  double e = 1.0 / 6227020800.0;
  e = e * r + 1.0 / 479001600.0;
  e = e * r + 1.0 / 39916800.0;
  e = e * r + 1.0 / 3628800.0;
  e = e * r + 1.0 / 362880.0;
  e = e * r + 1.0 / 40320.0;
  e = e * r + 1.0 / 5040.0;
  e = e * r + 1.0 / 720.0;
  e = e * r + 1.0 / 120.0;
  e = e * r + 1.0 / 24.0;
  e = e * r + 1.0 / 6.0;
  e = e * r + 0.5;
  e = e * r + 1.0;
  e = e * r + 1.0;
  return std::bit_cast<double>(std::bit_cast<std::uint64_t>(e) +
                               (std::bit_cast<std::uint64_t>(t) << 52));
}

// log(max(x, DBL_MIN)) for x ≥ 0, relative error ≤ 2 ulp against glibc. x = 2^e·f with
// f in [√½, √2), log f = 2·atanh(s), s = (f − 1)/(f + 1), |s| ≤ 0.172, odd series to s^21.
// Branch-free like exp_nonpositive.
inline double log_nonnegative(double x) noexcept {
  std::uint64_t bits = std::bit_cast<std::uint64_t>(x);
  constexpr std::uint64_t min_normal = 0x0010000000000000ULL;  // DBL_MIN
  bits = bits > min_normal ? bits : min_normal;
  // adding 1 − √½ (in bit patterns) carries into the exponent exactly when the mantissa ≥ √2
  const std::uint64_t biased = (bits + 0x00095f619980c433ULL) >> 52;
  const double f = std::bit_cast<double>(bits - ((biased - 1023) << 52));
  const double e =
      std::bit_cast<double>(biased | 0x4330000000000000ULL) - (4503599627370496.0 + 1023.0);
  const double s = (f - 1.0) / (f + 1.0);
  const double s2 = s * s;
  double a = 1.0 / 21;
  a = a * s2 + 1.0 / 19;
  a = a * s2 + 1.0 / 17;
  a = a * s2 + 1.0 / 15;
  a = a * s2 + 1.0 / 13;
  a = a * s2 + 1.0 / 11;
  a = a * s2 + 1.0 / 9;
  a = a * s2 + 1.0 / 7;
  a = a * s2 + 1.0 / 5;
  a = a * s2 + 1.0 / 3;
  a = a * s2 + 1.0;
  return e * 6.93147180369123816490e-01 + (2.0 * s * a + e * 1.90821492927058770002e-10);
}

// Chunk length of the hot loops: fixed, so the element-wise loops have a compile-time trip
// count (GCC vectorises them even at -O2) and the buffers stay in L1.
inline constexpr index_t divergence_chunk = 512;

[[noreturn]] inline void throw_non_finite_logit(const char* model, const float* row, index_t size,
                                                index_t position) {
  index_t bad = 0;
  while (bad < size && std::isfinite(row[bad])) ++bad;
  std::string where = position >= 0 ? " at position " + std::to_string(position) : std::string();
  throw non_finite_error("divergence: logit " + std::to_string(bad) + " of " + model + where +
                         " is not finite");
}

// The metrics of one position from two contiguous logit rows of length v (validated by the
// caller except for finiteness). Three passes over the rows:
//  1. finiteness checks, maxima and argmaxima (vectorised reductions, then a scan for the index);
//  2. e = exp(l − max) in double, stored, and their sums Z;
//  3. with log-softmax values ls = l − max − log Z (no log per element):
//       KL(P‖Q)           = Σ p (ls_p − ls_q)
//       KL(P‖M) + KL(Q‖M) = Σ (p ls_p + q ls_q) − 2 Σ m log m,  m = (p + q)/2.
// Cost per vocabulary entry: two exp and one log (log m has no cheaper form; it is the price
// of JS), plus a few multiply-adds. exp and log are the branch-free double-precision
// functions above, vectorised by the compiler over L1-sized chunks (≈0.9 and ≈1.2 ns per
// value at -O3 with AVX2, against ≈3 ns for glibc's scalar exp and log; reductions run on
// Eigen). 0·log 0 = 0: log m is taken of max(m, DBL_MIN), and a zero m means p = q = 0, so the
// term vanishes; ls stays finite where p or q underflows (exp saturates at e^-708 instead of 0
// there, which changes no sum by more than 1e-300).
// Accuracy: JS and KL are second order in the logit difference while each term is first
// order, so double rounding of the log-softmax values leaves an absolute error of about
// 1e-16·|log p|·sqrt(v) nats (≈1e-14 at v = 4096): divergences below ~1e-8 lose relative digits.
inline divergence_sample divergence_row(const float* p, const float* q, index_t v,
                                        std::int32_t correct, divergence_scratch& scratch,
                                        index_t position) {
  using floats = Eigen::Map<const Eigen::ArrayXf>;
  const floats fp(p, v), fq(q, v);
  // x − x is 0 for finite x and NaN for NaN/±inf; the sum keeps any NaN.
  if (!((fp - fp).sum() == 0.0f)) throw_non_finite_logit("P", p, v, position);
  if (!((fq - fq).sum() == 0.0f)) throw_non_finite_logit("Q", q, v, position);
  const float max_p = fp.maxCoeff(), max_q = fq.maxCoeff();
  index_t top_p = 0, top_q = 0;  // the first index holding the maximum
  while (p[top_p] != max_p) ++top_p;
  while (q[top_q] != max_q) ++top_q;

  using doubles = Eigen::Map<Eigen::ArrayXd>;
  constexpr index_t chunk = divergence_chunk;
  const auto padded = static_cast<std::size_t>((v + chunk - 1) / chunk * chunk);
  scratch.ep.resize(padded);
  scratch.eq.resize(padded);
  for (auto* buffer : {&scratch.m, &scratch.log_m, &scratch.ls_p, &scratch.ls_q})
    buffer->resize(static_cast<std::size_t>(chunk));
  double* ep = scratch.ep.data();
  double* eq = scratch.eq.data();
  const double mp = static_cast<double>(max_p), mq = static_cast<double>(max_q);
  double zp = 0.0, zq = 0.0;
  for (index_t i0 = 0; i0 < v; i0 += chunk) {
    const index_t n = std::min(chunk, v - i0);
    double* a = ep + i0;
    double* b = eq + i0;
    for (index_t k = 0; k < n; ++k) {
      a[k] = static_cast<double>(p[i0 + k]) - mp;
      b[k] = static_cast<double>(q[i0 + k]) - mq;
    }
    for (index_t k = n; k < chunk; ++k) a[k] = b[k] = 0.0;  // padding, never summed
    for (index_t k = 0; k < chunk; ++k) a[k] = exp_nonpositive(a[k]);
    for (index_t k = 0; k < chunk; ++k) b[k] = exp_nonpositive(b[k]);
    zp += doubles(a, n).sum();
    zq += doubles(b, n).sum();
  }

  const double cp = mp + std::log(zp), cq = mq + std::log(zq);
  const double inv_zp = 1.0 / zp, inv_zq = 1.0 / zq;
  double kl_pq = 0.0, self = 0.0, mix = 0.0;
  double* m = scratch.m.data();
  double* log_m = scratch.log_m.data();
  for (index_t i0 = 0; i0 < v; i0 += chunk) {
    const index_t n = std::min(chunk, v - i0);
    const double* a = ep + i0;
    const double* b = eq + i0;
    for (index_t k = 0; k < chunk; ++k) m[k] = 0.5 * (a[k] * inv_zp + b[k] * inv_zq);
    for (index_t k = 0; k < chunk; ++k) log_m[k] = log_nonnegative(m[k]);
    doubles lsp(scratch.ls_p.data(), n), lsq(scratch.ls_q.data(), n);
    for (index_t k = 0; k < n; ++k) {
      lsp[k] = static_cast<double>(p[i0 + k]) - cp;
      lsq[k] = static_cast<double>(q[i0 + k]) - cq;
    }
    const auto pi = doubles(ep + i0, n) * inv_zp;
    const auto qi = doubles(eq + i0, n) * inv_zq;
    kl_pq += (pi * (lsp - lsq)).sum();
    self += (pi * lsp + qi * lsq).sum();
    mix += (doubles(m, n) * doubles(log_m, n)).sum();
  }

  divergence_sample s;
  s.js_nats = std::clamp(0.5 * self - mix, 0.0, std::numbers::ln2);
  s.kl = std::max(kl_pq, 0.0);
  const auto c = static_cast<std::size_t>(correct);
  s.delta_p = eq[c] / zq - ep[c] / zp;  // divisions: no multiply-add contraction, exact 0 for P = Q
  s.nll_p = cp - static_cast<double>(p[c]);
  s.nll_q = cq - static_cast<double>(q[c]);
  s.top_p = top_p;
  s.top_q = top_q;
  s.same_top = top_p == top_q;
  return s;
}

inline void check_divergence_row(index_t vp, index_t vq, std::int64_t correct) {
  if (vp != vq)
    throw shape_error("divergence: P has " + std::to_string(vp) + " logits but Q has " +
                      std::to_string(vq) + " (the vocabularies must match)");
  if (vp == 0) throw shape_error("divergence: empty logits rows");
  if (correct < 0 || correct >= vp)
    throw shape_error("divergence: correct token id " + std::to_string(correct) +
                      " is outside the vocabulary [0, " + std::to_string(vp) + ")");
}

}  // namespace detail

/// The metrics of a single position (see divergence_sample). Throws shape_error when the rows
/// differ in length, are empty or `correct` is outside the vocabulary; non_finite_error on
/// NaN/Inf logits.
inline divergence_sample divergence_at(std::span<const float> logits_p,
                                       std::span<const float> logits_q, std::int32_t correct) {
  detail::check_divergence_row(static_cast<index_t>(logits_p.size()),
                               static_cast<index_t>(logits_q.size()), correct);
  detail::divergence_scratch scratch;
  return detail::divergence_row(logits_p.data(), logits_q.data(),
                                static_cast<index_t>(logits_p.size()), correct, scratch, -1);
}

/// Streaming summary of the divergence between P and Q over token positions, mergeable.
/// Keeps running moments (mean, standard error) per metric and one float per position per
/// metric for the percentile ladder: memory grows with the number of positions, never with
/// positions × vocabulary (plus O(vocabulary) scratch reused across positions).
class divergence_accumulator {
 public:
  /// Adds one position. Validates everything before changing the state.
  void add(std::span<const float> logits_p, std::span<const float> logits_q,
           std::int32_t correct_token) {
    detail::check_divergence_row(static_cast<index_t>(logits_p.size()),
                                 static_cast<index_t>(logits_q.size()), correct_token);
    commit(detail::divergence_row(logits_p.data(), logits_q.data(),
                                  static_cast<index_t>(logits_p.size()), correct_token, scratch_,
                                  -1));
  }

  /// Adds [positions x vocabulary] blocks of logits of P and Q with one correct token id per
  /// position. Nothing is added when any row is invalid.
  void add(matrix_view<const float, host_space> logits_p,
           matrix_view<const float, host_space> logits_q,
           std::span<const std::int32_t> correct_tokens) {
    if (logits_p.rows() != logits_q.rows() ||
        logits_p.rows() != static_cast<index_t>(correct_tokens.size()))
      throw shape_error("divergence: P has " + std::to_string(logits_p.rows()) +
                        " positions, Q has " + std::to_string(logits_q.rows()) + " and there are " +
                        std::to_string(correct_tokens.size()) + " correct tokens");
    if (logits_p.rows() == 0) return;
    for (const auto t : correct_tokens)
      detail::check_divergence_row(logits_p.cols(), logits_q.cols(), t);
    const index_t v = logits_p.cols();
    std::vector<divergence_sample> samples(static_cast<std::size_t>(logits_p.rows()));
    for (index_t r = 0; r < logits_p.rows(); ++r) {
      const float* p = contiguous_row(logits_p, r, row_p_);
      const float* q = contiguous_row(logits_q, r, row_q_);
      samples[static_cast<std::size_t>(r)] =
          detail::divergence_row(p, q, v, correct_tokens[static_cast<std::size_t>(r)], scratch_, r);
    }
    for (const auto& s : samples) commit(s);
  }

  /// Adds everything `other` has seen (equal to having accumulated the union).
  void merge(const divergence_accumulator& other) {
    js_.merge(other.js_);
    kl_.merge(other.kl_);
    dp_.merge(other.dp_);
    dp_squares_ += other.dp_squares_;
    same_top_ += other.same_top_;
    ppl_p_.merge(other.ppl_p_);
    ppl_q_.merge(other.ppl_q_);
    js_values_.insert(js_values_.end(), other.js_values_.begin(), other.js_values_.end());
    kl_values_.insert(kl_values_.end(), other.kl_values_.begin(), other.kl_values_.end());
    dp_values_.insert(dp_values_.end(), other.dp_values_.begin(), other.dp_values_.end());
  }

  std::int64_t count() const noexcept { return js_.count; }

  /// Mean ± standard error, percentile ladder, same-top fraction and both perplexities.
  /// Throws empty_statistics_error when no position was added.
  divergence_report report() const {
    if (js_.count == 0)
      throw empty_statistics_error("divergence: no token positions were accumulated");
    divergence_report r;
    r.positions = js_.count;
    r.js_nats = summarise(js_, js_values_);
    r.js_bits = r.js_nats;
    r.js_bits.mean /= std::numbers::ln2;
    r.js_bits.standard_error /= std::numbers::ln2;
    for (auto& v : r.js_bits.percentiles) v /= std::numbers::ln2;
    r.kl = summarise(kl_, kl_values_);
    r.delta_p = summarise(dp_, dp_values_);
    const double n = static_cast<double>(js_.count);
    r.delta_p_rms = std::sqrt(dp_squares_ / n);
    r.same_top = static_cast<double>(same_top_) / n;
    r.same_top_standard_error = js_.count < 2
                                    ? std::numeric_limits<double>::quiet_NaN()
                                    : std::sqrt(r.same_top * (1.0 - r.same_top) / (n - 1.0));
    r.perplexity_p = ppl_p_.result();
    r.perplexity_q = ppl_q_.result();
    return r;
  }

 private:
  static const float* contiguous_row(matrix_view<const float, host_space> m, index_t r,
                                     std::vector<float>& buffer) {
    if (m.col_stride() == 1) return &m(r, 0);
    buffer.resize(static_cast<std::size_t>(m.cols()));
    for (index_t j = 0; j < m.cols(); ++j) buffer[static_cast<std::size_t>(j)] = m(r, j);
    return buffer.data();
  }

  static metric_summary summarise(const detail::metric_moments& moments,
                                  const std::vector<float>& values) {
    metric_summary m;
    m.mean = moments.mean;
    m.standard_error = moments.standard_error();
    std::vector<float> sorted(values);
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t k = 0; k < percentile_ladder_levels.size(); ++k)
      m.percentiles[k] = percentile_of_sorted(sorted, percentile_ladder_levels[k] / 100.0);
    return m;
  }

  void commit(const divergence_sample& s) {
    js_.add(s.js_nats);
    kl_.add(s.kl);
    dp_.add(s.delta_p);
    dp_squares_ += s.delta_p * s.delta_p;
    same_top_ += s.same_top ? 1 : 0;
    ppl_p_.add_nll(s.nll_p);
    ppl_q_.add_nll(s.nll_q);
    js_values_.push_back(static_cast<float>(s.js_nats));
    kl_values_.push_back(static_cast<float>(s.kl));
    dp_values_.push_back(static_cast<float>(s.delta_p));
  }

  detail::metric_moments js_, kl_, dp_;
  double dp_squares_ = 0.0;
  std::int64_t same_top_ = 0;
  perplexity_accumulator ppl_p_, ppl_q_;
  std::vector<float> js_values_, kl_values_, dp_values_;
  detail::divergence_scratch scratch_;
  std::vector<float> row_p_, row_q_;
};

}  // namespace pollard
