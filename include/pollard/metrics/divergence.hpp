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
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <span>
#include <string>
#include <vector>

#include "pollard/backends/cpu/divergence_row.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/metrics/divergence_report.hpp"
#include "pollard/metrics/divergence_sample.hpp"
#include "pollard/metrics/percentile.hpp"
#include "pollard/metrics/perplexity.hpp"

namespace pollard {

namespace detail {

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
  cpu::divergence_scratch scratch;
  return cpu::divergence_row(logits_p.data(), logits_q.data(),
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
    commit(cpu::divergence_row(logits_p.data(), logits_q.data(),
                               static_cast<index_t>(logits_p.size()), correct_token, scratch_, -1));
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
          cpu::divergence_row(p, q, v, correct_tokens[static_cast<std::size_t>(r)], scratch_, r);
    }
    for (const auto& s : samples) commit(s);
  }

  /// Adds positions whose metrics were computed elsewhere by divergence_row's definitions (the
  /// CUDA backend's pollard::cuda::divergence_samples, from logits that stay on the device).
  void add(std::span<const divergence_sample> samples) {
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
    nll_difference_.merge(other.nll_difference_);
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
    // Standard errors of the two mean NLLs and of their paired difference; the covariance of
    // the means follows from Var(mean_q − mean_p) = Var(mean_q) + Var(mean_p) − 2·Cov.
    const double se_p = r.perplexity_p.standard_error / r.perplexity_p.perplexity;
    const double se_q = r.perplexity_q.standard_error / r.perplexity_q.perplexity;
    const double se_d = nll_difference_.standard_error();
    const double cov = (se_p * se_p + se_q * se_q - se_d * se_d) / 2.0;
    r.log_ppl_ratio = nll_difference_.summary();
    const double ratio = std::exp(r.log_ppl_ratio.mean);
    r.ppl_ratio = {ratio, ratio * se_d};
    const double ppl_p = r.perplexity_p.perplexity, ppl_q = r.perplexity_q.perplexity;
    r.ppl_difference = {
        ppl_q - ppl_p,
        std::sqrt(std::max(0.0, r.perplexity_q.standard_error * r.perplexity_q.standard_error +
                                    r.perplexity_p.standard_error * r.perplexity_p.standard_error -
                                    2.0 * ppl_q * ppl_p * cov))};
    r.log_ppl_correlation = cov / (se_p * se_q);
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
    nll_difference_.add(s.nll_q - s.nll_p);
    js_values_.push_back(static_cast<float>(s.js_nats));
    kl_values_.push_back(static_cast<float>(s.kl));
    dp_values_.push_back(static_cast<float>(s.delta_p));
  }

  detail::metric_moments js_, kl_, dp_, nll_difference_;
  double dp_squares_ = 0.0;
  std::int64_t same_top_ = 0;
  perplexity_accumulator ppl_p_, ppl_q_;
  std::vector<float> js_values_, kl_values_, dp_values_;
  cpu::divergence_scratch scratch_;
  std::vector<float> row_p_, row_q_;
};

}  // namespace pollard
