// pollard — streaming, mergeable perplexity with the standard error llama.cpp's perplexity tool
// reports.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/metrics/mean_with_error.hpp"

namespace pollard {

namespace detail {

// −log softmax(logits)[target] in double, stable by subtracting the maximum. `stride` in elements.
template <class T>
double nll_from_logits(const T* logits, index_t size, index_t stride, index_t target, index_t row) {
  double max = -std::numeric_limits<double>::infinity();
  for (index_t i = 0; i < size; ++i) {
    const double v = to_compute<double>(logits[i * stride]);
    if (!std::isfinite(v))
      throw non_finite_error("perplexity: logit " + std::to_string(i) +
                             (row >= 0 ? " of row " + std::to_string(row) : std::string()) +
                             " is not finite");
    if (v > max) max = v;
  }
  double sum = 0.0;
  for (index_t i = 0; i < size; ++i) sum += std::exp(to_compute<double>(logits[i * stride]) - max);
  return std::log(sum) + max - to_compute<double>(logits[target * stride]);
}

inline void check_token_id(const char* who, std::int64_t token, index_t vocabulary) {
  if (token < 0 || token >= vocabulary)
    throw shape_error(std::string(who) + ": token id " + std::to_string(token) +
                      " is outside the vocabulary [0, " + std::to_string(vocabulary) + ")");
}

}  // namespace detail

/// Perplexity over the tokens seen so far.
/// mean_nll = (1/n) Σ nll_t (natural log); perplexity = exp(mean_nll);
/// standard_error = perplexity · sqrt(Var(nll) / (n − 1)) with Var the population variance
/// (1/n) Σ (nll_t − mean)², exactly llama.cpp's perplexity tool (first-order delta method:
/// PPL times the standard error of the mean NLL, which equals s/sqrt(n) with s the sample
/// deviation). standard_error is NaN when n < 2.
struct perplexity_result {
  std::int64_t tokens = 0;
  double mean_nll = 0.0;
  double perplexity = 0.0;
  double standard_error = 0.0;
};

/// Streaming perplexity: O(1) memory, merge() of two accumulators equals accumulating the union.
/// Every add validates its whole input before changing the state.
class perplexity_accumulator {
 public:
  /// Adds one token's negative log-likelihood (nats). Throws non_finite_error on NaN/Inf.
  void add_nll(double nll) {
    if (!std::isfinite(nll))
      throw non_finite_error("perplexity: negative log-likelihood is not finite");
    moments_.add(nll);
  }

  /// Adds many per-token negative log-likelihoods (nats).
  template <class T>
  requires compute_type<std::remove_cv_t<T>>
  void add_nlls(std::span<T> nlls) {
    for (std::size_t t = 0; t < nlls.size(); ++t)
      if (!std::isfinite(static_cast<double>(nlls[t])))
        throw non_finite_error("perplexity: negative log-likelihood " + std::to_string(t) +
                               " is not finite");
    for (auto v : nlls) moments_.add(static_cast<double>(v));
  }

  /// Adds one position from its logits over the vocabulary and the id of the token that came
  /// next; returns that token's negative log-likelihood (log-softmax in double).
  /// Throws shape_error for an empty vocabulary or a token id outside it, non_finite_error for
  /// NaN/Inf logits.
  template <class T>
  requires storage_type<std::remove_cv_t<T>>
  double add_logits(std::span<T> logits, std::int32_t target) {
    const auto vocabulary = static_cast<index_t>(logits.size());
    if (vocabulary == 0) throw shape_error("perplexity: empty logits row");
    detail::check_token_id("perplexity", target, vocabulary);
    const double nll = detail::nll_from_logits(logits.data(), vocabulary, 1, target, -1);
    moments_.add(nll);
    return nll;
  }

  /// Adds a [positions x vocabulary] block of logits with one target token id per position.
  template <class T>
  requires storage_type<std::remove_cv_t<T>>
  void add_logits(matrix_view<T, host_space> logits, std::span<const std::int32_t> targets) {
    if (static_cast<index_t>(targets.size()) != logits.rows())
      throw shape_error("perplexity: " + std::to_string(logits.rows()) + " rows of logits but " +
                        std::to_string(targets.size()) + " target tokens");
    if (logits.rows() == 0) return;
    if (logits.cols() == 0) throw shape_error("perplexity: empty logits rows");
    for (const auto t : targets) detail::check_token_id("perplexity", t, logits.cols());
    std::vector<double> nll(static_cast<std::size_t>(logits.rows()));
    for (index_t r = 0; r < logits.rows(); ++r) {
      nll[static_cast<std::size_t>(r)] =
          detail::nll_from_logits(&logits(r, 0), logits.cols(), logits.col_stride(),
                                  targets[static_cast<std::size_t>(r)], r);
    }
    for (double v : nll) moments_.add(v);
  }

  /// Adds everything `other` has seen.
  void merge(const perplexity_accumulator& other) noexcept { moments_.merge(other.moments_); }

  std::int64_t count() const noexcept { return moments_.count; }

  /// Throws empty_statistics_error when no token was added.
  perplexity_result result() const {
    if (moments_.count == 0) throw empty_statistics_error("perplexity: no tokens were accumulated");
    const double ppl = std::exp(moments_.mean);
    return {moments_.count, moments_.mean, ppl, ppl * moments_.standard_error()};
  }

 private:
  detail::metric_moments moments_;
};

}  // namespace pollard
