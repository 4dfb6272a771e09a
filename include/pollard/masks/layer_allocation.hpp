// pollard — layer-wise sparsity allocation: how much of the target sparsity each block receives.
#pragma once

#include <algorithm>
#include <cmath>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/core/number_text.hpp"
#include "pollard/masks/score_checks.hpp"

namespace pollard {

/// Every one of `layers` layers gets the target sparsity s. Throws option_error unless
/// 0 <= s < 1 and layers >= 0.
inline std::vector<double> uniform_allocation(double sparsity, index_t layers) {
  require_in_range("uniform_allocation", "sparsity", sparsity, 0.0, 1.0);
  if (layers < 0)
    throw option_error("uniform_allocation: layer count must be non-negative, got " +
                       std::to_string(layers));
  return std::vector<double>(static_cast<std::size_t>(layers), sparsity);
}

/// OWL's layer outlier ratio D, in percent: 100 * #{A > m * mean(A)} / #A, where A is the
/// concatenation of the (Wanda) scores of ALL linears of one block (Yin et al., "Outlier
/// Weighed Layerwise Sparsity", reference code check_outlier_mean; the comparison is strict).
/// Throws shape_error when there are no scores, non_finite_error on a NaN/inf score,
/// option_error unless m is finite and positive.
template <class T>
double outlier_ratio(std::span<const matrix_view<const T, host_space>> block_scores,
                     double m = 5.0) {
  constexpr const char* who = "outlier_ratio";
  require_greater(who, "M", m, 0.0);
  index_t total = 0;
  double sum = 0.0;
  for (const auto& s : block_scores) {
    require_finite(s, who, "score");
    total += s.size();
    for (index_t i = 0; i < s.rows(); ++i)
      for (index_t j = 0; j < s.cols(); ++j)
        sum += static_cast<double>(detail::score_value(s(i, j)));
  }
  if (total == 0) throw shape_error(std::string(who) + ": the block has no scores");
  const double threshold = m * (sum / static_cast<double>(total));
  index_t outliers = 0;
  for (const auto& s : block_scores)
    for (index_t i = 0; i < s.rows(); ++i)
      for (index_t j = 0; j < s.cols(); ++j)
        outliers += static_cast<double>(detail::score_value(s(i, j))) > threshold ? 1 : 0;
  return 100.0 * static_cast<double>(outliers) / static_cast<double>(total);
}

/// The same for a span of mutable views.
template <class T>
double outlier_ratio(std::span<matrix_view<const T, host_space>> block_scores, double m = 5.0) {
  return outlier_ratio<T>(std::span<const matrix_view<const T, host_space>>(block_scores), m);
}

/// outlier_ratio of a single matrix of scores.
template <class T>
double outlier_ratio(matrix_view<T, host_space> scores, double m = 5.0) {
  using value_type = std::remove_cv_t<T>;
  const matrix_view<const value_type, host_space> only = scores;
  return outlier_ratio<value_type>(
      std::span<const matrix_view<const value_type, host_space>>(&only, 1), m);
}

/// OWL allocation: per-block sparsities from the blocks' outlier ratios D (any unit):
///   D~ = (D - min D) / (max D - min D) * 2 lambda,  density_l = D~_l - mean(D~) + (1 - s),
///   sparsity_l = 1 - density_l.
/// Blocks with more outliers get lower sparsity; the sparsities average to s and span exactly
/// 2 lambda (max - min), so they lie in [s - 2 lambda, s + 2 lambda] (in [s - lambda, s + lambda]
/// when D is symmetric about its midrange). All D equal gives the uniform allocation.
/// Throws option_error unless 0 <= s < 1, lambda is finite and >= 0, every D is finite, and
/// every resulting sparsity lies in [0, 1).
inline std::vector<double> owl_allocation(std::span<const double> outlier_ratios, double sparsity,
                                          double lambda = 0.08) {
  constexpr const char* who = "owl_allocation";
  require_in_range(who, "sparsity", sparsity, 0.0, 1.0);
  require_at_least(who, "lambda", lambda, 0.0);
  for (std::size_t l = 0; l < outlier_ratios.size(); ++l)
    if (!std::isfinite(outlier_ratios[l]))
      throw option_error(std::string(who) + ": outlier ratio of block " + std::to_string(l) +
                         " is " + format_number(outlier_ratios[l]));
  const std::size_t blocks = outlier_ratios.size();
  if (blocks == 0) return {};
  const auto [lo, hi] = std::minmax_element(outlier_ratios.begin(), outlier_ratios.end());
  const double min_d = *lo;
  const double range = *hi - *lo;
  if (range == 0.0) return std::vector<double>(blocks, sparsity);

  std::vector<double> scaled(blocks);
  for (std::size_t l = 0; l < blocks; ++l)
    scaled[l] = (outlier_ratios[l] - min_d) * (1.0 / range * lambda * 2.0);
  const double mean =
      std::accumulate(scaled.begin(), scaled.end(), 0.0) / static_cast<double>(blocks);
  std::vector<double> result(blocks);
  for (std::size_t l = 0; l < blocks; ++l) {
    const double density = scaled[l] - mean + (1.0 - sparsity);
    result[l] = 1.0 - density;
    if (!(result[l] >= 0.0 && result[l] < 1.0))
      throw option_error(std::string(who) + ": lambda=" + format_number(lambda) +
                         " with sparsity " + format_number(sparsity) + " gives block " +
                         std::to_string(l) + " sparsity " + format_number(result[l]) +
                         ", outside [0, 1)");
  }
  return result;
}

}  // namespace pollard
