// pollard — DSnoT: training-free mask refinement by pruning-and-growing swaps that drive each
// row's expected output error towards zero (Zhang et al., "Dynamic Sparse No Training").
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <span>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/mask.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/core/number_text.hpp"
#include "pollard/masks/n_m.hpp"
#include "pollard/masks/unstructured.hpp"
#include "pollard/metrics/sparsity.hpp"
#include "pollard/stats/moment_statistics.hpp"

namespace pollard {

/// Options of dsnot(); the defaults are the reference implementation's. The mask rule is the
/// policy argument.
struct dsnot_options {
  double update_threshold = 0.1;  ///< a row stops once |e_i| <= this
  int max_cycles = 50;            ///< at most this many swaps per row
  double variance_power = 1.0;    ///< regrowth ranks W_ij·E[x_j] / Var(x_j)^power
};

namespace detail {

// The mask rule DSnoT keeps: the count of each row, and with window > 0 the count of every
// window of `window` columns (N:M windows, or SparseGPT-style column blocks, the last one
// narrower), so a regrown weight is swapped with a kept weight of its own window.
struct dsnot_pattern {
  index_t window = 0;
};

inline dsnot_pattern dsnot_pattern_of(const unstructured& policy, const mask& initial) {
  const auto count = [&](index_t n) {
    return static_cast<index_t>(std::floor(static_cast<double>(n) * policy.sparsity()));
  };
  const std::string rule = "unstructured(" + format_number(policy.sparsity()) + ")";
  const auto fail = [&](const std::string& group, const std::string& what, index_t pruned,
                        index_t size) {
    throw option_error("dsnot: the initial mask is not " + rule + " per " + group + ": " + what +
                       " prunes " + std::to_string(pruned) + " of " + std::to_string(size) +
                       " weights, not " + std::to_string(count(size)));
  };
  const index_t rows = initial.rows(), cols = initial.cols();
  switch (policy.comparison_group()) {
    case unstructured::group::row:
      for (index_t i = 0; i < rows; ++i)
        if (initial.pruned_in_row(i) != count(cols))
          fail("row", "row " + std::to_string(i), initial.pruned_in_row(i), cols);
      return {};
    case unstructured::group::matrix:
      if (initial.pruned_count() != count(rows * cols))
        fail("matrix", "it", initial.pruned_count(), rows * cols);
      return {};
    case unstructured::group::column_block:
      for (index_t c0 = 0; c0 < cols; c0 += policy.block_width()) {
        const index_t width = std::min(policy.block_width(), cols - c0);
        index_t pruned = 0;
        for (index_t i = 0; i < rows; ++i)
          for (index_t j = c0; j < c0 + width; ++j) pruned += initial.pruned(i, j) ? 1 : 0;
        if (pruned != count(rows * width))
          fail("column block", "the block at column " + std::to_string(c0), pruned, rows * width);
      }
      return {policy.block_width()};
  }
  return {};
}

template <n_m_policy NM>
dsnot_pattern dsnot_pattern_of(const NM& policy, const mask& initial) {
  require_n_m("dsnot: N:M", policy.pruned(), policy.group_size(), initial.cols());
  if (!pollard::satisfies_n_m(initial, policy.pruned(), policy.group_size()))
    throw option_error("dsnot: the initial mask is not " + std::to_string(policy.pruned()) + ":" +
                       std::to_string(policy.group_size()));
  return {policy.group_size()};
}

/// The checks dsnot makes on every backend before reading a weight: the shapes of the mask,
/// the scores and the statistics against the weights' rows x cols, the options, and finite
/// statistics with non-negative variances.
inline void check_dsnot_arguments(index_t rows, index_t cols, index_t mask_rows, index_t mask_cols,
                                  index_t score_rows, index_t score_cols,
                                  std::span<const double> mean, std::span<const double> variance,
                                  const dsnot_options& o) {
  if (mask_rows != rows || mask_cols != cols)
    throw shape_error("dsnot: weights are " + shape_text(rows, cols) + " but the mask is " +
                      shape_text(mask_rows, mask_cols));
  if (score_rows != rows || score_cols != cols)
    throw shape_error("dsnot: weights are " + shape_text(rows, cols) + " but the scores are " +
                      shape_text(score_rows, score_cols));
  if (static_cast<index_t>(mean.size()) != cols || static_cast<index_t>(variance.size()) != cols)
    throw shape_error("dsnot: weights are " + shape_text(rows, cols) + " but the statistics have " +
                      std::to_string(mean.size()) + " means and " +
                      std::to_string(variance.size()) + " variances");
  if (!(o.update_threshold >= 0.0) || o.max_cycles < 0 || !std::isfinite(o.variance_power)) {
    std::ostringstream message;
    message << "dsnot: needs update_threshold >= 0, max_cycles >= 0 and a finite variance_power, "
               "got "
            << o.update_threshold << ", " << o.max_cycles << ", " << o.variance_power;
    throw option_error(message.str());
  }
  for (index_t j = 0; j < cols; ++j) {
    const double mu = mean[static_cast<std::size_t>(j)],
                 var = variance[static_cast<std::size_t>(j)];
    if (!std::isfinite(mu) || !std::isfinite(var)) {
      std::ostringstream message;
      message << "dsnot: non-finite statistics of channel " << j << ": mean " << mu << ", variance "
              << var;
      throw non_finite_error(message.str());
    }
    if (var < 0.0) {
      std::ostringstream message;
      message << "dsnot: negative variance " << var << " of channel " << j;
      throw option_error(message.str());
    }
  }
}

/// The message dsnot gives for the first non-finite entry at (i, j) in row-major order, where
/// the weight is checked before the score.
inline std::string dsnot_non_finite_message(bool score_bad, index_t i, index_t j) {
  std::ostringstream message;
  message << "dsnot: non-finite " << (score_bad ? "score" : "weight W") << "(" << i << ", " << j
          << ")";
  return message.str();
}

template <class Policy>
concept dsnot_mask_policy = requires(const Policy& p, const mask& initial) {
  dsnot_pattern_of(p, initial);
};

}  // namespace detail

/// Refines a mask without changing how many weights each row prunes (nor its N:M validity).
///
/// Per row i, with e_i = Σ_{j pruned} W_ij·E[x_j] (the expected change of output i):
/// - regrowth candidates are the initially pruned weights ranked by W_ij·E[x_j] / Var(x_j)^power;
///   when e_i > 0 the largest is regrown next, when e_i < 0 the smallest (two pointers walking
///   in from both ends, as the reference does; a zero-variance channel ranks at ±infinity);
/// - unstructured: the weight pruned in exchange is the kept weight with the lowest initial score
///   among those whose W_ij·E[x_j] has the sign opposite to e_i (so pruning it also shrinks e_i),
///   then, once those run out, the other kept weights from the highest score down — the order
///   the reference builds by sorting on the initial score and reordering by sign;
///   N:M and column blocks: see the mask rule below;
/// - a swap is made only while |e_i| > update_threshold, and only if it shrinks |e_i| without
///   changing its sign: the regrown weight's W_ij·E[x_j] has the sign of e_i and, unstructured,
///   the pruned one's has not; the first refused swap ends the row, and so does max_cycles.
/// Departures from the reference code (github.com/zyxxmu/DSnoT, lib/prune.py), which only matter
/// once a pointer passes the end of its group (rows narrower than about 2·max_cycles, or with
/// contributions of mostly one sign): there the reference walks on into kept weights and into
/// weights of the wrong sign, so it prunes a row's highest-scored weights and widens e_i (its
/// sign check alone does not stop that), where pollard ends the row. Also, a candidate whose state
/// already changed is skipped rather than swapped again, and kept weights with a zero
/// contribution are ordered with the positive ones.
/// Scale: the reference's E[x_j] is Σ_t x_tj / N with N counted in sequences (the per-token mean
/// times the tokens per sequence), which is what its threshold 0.1 is measured against; pass that
/// (moment_statistics::sums_per_sample()), or use the overload taking moment_statistics, which
/// does. A per-token mean makes the threshold mean tokens-per-sequence times more.
/// The mask rule is the policy that chose `initial` (the mask_policy objects prune() takes):
/// unstructured{s} per row, per matrix or per column block (the initial mask must prune ⌊n·s⌋ of
/// each group, and every group keeps its count), or n_m::pruned_of(N, M) / pruned_of<N, M> (the
/// initial mask must be N:M; it stays N:M). Windowed rules (N:M, column blocks) swap the regrown
/// weight with the lowest-scored weight of its own window that was kept initially and still is
/// (a regrown weight is never pruned again).
/// Throws shape_error (mask, scores or statistics not matching w), non_finite_error,
/// option_error (bad options, negative variance, an initial mask the policy did not choose).
template <compute_type T, class S, detail::dsnot_mask_policy Policy>
mask dsnot(matrix_view<const T> w, const mask& initial, std::span<const double> mean,
           std::span<const double> variance, matrix_view<const S> initial_scores,
           const Policy& policy, const dsnot_options& o = {}) {
  const index_t rows = w.rows(), cols = w.cols();
  detail::check_dsnot_arguments(rows, cols, initial.rows(), initial.cols(), initial_scores.rows(),
                                initial_scores.cols(), mean, variance, o);
  const detail::dsnot_pattern pattern = detail::dsnot_pattern_of(policy, initial);
  const bool windowed = pattern.window > 0;
  for (index_t i = 0; i < rows; ++i)
    for (index_t j = 0; j < cols; ++j) {
      const auto score = to_compute<double>(initial_scores(i, j));
      if (!std::isfinite(static_cast<double>(w(i, j))) || !std::isfinite(score))
        throw non_finite_error(detail::dsnot_non_finite_message(!std::isfinite(score), i, j));
    }

  mask out = initial;
  std::vector<double> metric(static_cast<std::size_t>(cols)), key(static_cast<std::size_t>(cols));
  std::vector<index_t> regrow, prune_list;
  const auto at = [](index_t j) { return static_cast<std::size_t>(j); };
  for (index_t i = 0; i < rows; ++i) {
    double e = 0.0;
    for (index_t j = 0; j < cols; ++j) {
      metric[at(j)] = static_cast<double>(w(i, j)) * mean[at(j)];
      const double var = variance[at(j)];
      const double m = metric[at(j)];
      key[at(j)] = var > 0.0 ? m / std::pow(var, o.variance_power)
                   : m > 0.0 ? std::numeric_limits<double>::infinity()
                   : m < 0.0 ? -std::numeric_limits<double>::infinity()
                             : 0.0;
      if (out.pruned(i, j)) e += m;
    }
    if (e == 0.0 || !(std::abs(e) > o.update_threshold) || o.max_cycles == 0) continue;
    const double sign = e > 0.0 ? 1.0 : -1.0;

    regrow.clear();
    for (index_t j = 0; j < cols; ++j)
      if (out.pruned(i, j)) regrow.push_back(j);
    std::stable_sort(regrow.begin(), regrow.end(),
                     [&](index_t a, index_t b) { return key[at(a)] < key[at(b)]; });
    const auto score = [&](index_t j) { return to_compute<double>(initial_scores(i, j)); };
    if (!windowed) {
      // Kept weights by initial score; negative contributions first (lowest score first), then
      // the others from the highest score down, so the lowest-scored of each sign sits at an end.
      prune_list.clear();
      for (index_t j = 0; j < cols; ++j)
        if (out.kept(i, j)) prune_list.push_back(j);
      std::stable_sort(prune_list.begin(), prune_list.end(),
                       [&](index_t a, index_t b) { return score(a) < score(b); });
      const auto first_non_negative = std::stable_partition(
          prune_list.begin(), prune_list.end(), [&](index_t j) { return metric[at(j)] < 0.0; });
      std::reverse(first_non_negative, prune_list.end());
    }
    std::ptrdiff_t regrow_low = 0, regrow_high = static_cast<std::ptrdiff_t>(regrow.size()) - 1;
    std::ptrdiff_t prune_front = 0, prune_back = static_cast<std::ptrdiff_t>(prune_list.size()) - 1;

    for (int cycle = 0; cycle < o.max_cycles && std::abs(e) > o.update_threshold; ++cycle) {
      index_t r = -1;
      if (e > 0.0) {
        while (regrow_high >= 0 && !out.pruned(i, regrow[at(regrow_high)])) --regrow_high;
        if (regrow_high >= 0) r = regrow[at(regrow_high--)];
      } else {
        while (regrow_low < static_cast<std::ptrdiff_t>(regrow.size()) &&
               !out.pruned(i, regrow[at(regrow_low)]))
          ++regrow_low;
        if (regrow_low < static_cast<std::ptrdiff_t>(regrow.size())) r = regrow[at(regrow_low++)];
      }
      if (r < 0 || !(metric[at(r)] * sign > 0.0)) break;
      index_t p = -1;
      if (windowed) {
        const index_t start = r - r % pattern.window;
        const index_t end = std::min(start + pattern.window, cols);
        for (index_t j = start; j < end; ++j)
          if (initial.kept(i, j) && out.kept(i, j) && (p < 0 || score(j) < score(p))) p = j;
      } else if (e > 0.0) {
        while (prune_front < static_cast<std::ptrdiff_t>(prune_list.size()) &&
               !out.kept(i, prune_list[at(prune_front)]))
          ++prune_front;
        if (prune_front < static_cast<std::ptrdiff_t>(prune_list.size()))
          p = prune_list[at(prune_front++)];
      } else {
        while (prune_back >= 0 && !out.kept(i, prune_list[at(prune_back)])) --prune_back;
        if (prune_back >= 0) p = prune_list[at(prune_back--)];
      }
      if (p < 0 || (!windowed && metric[at(p)] * sign > 0.0)) break;
      const double next = e + metric[at(p)] - metric[at(r)];
      if (!(next * sign > 0.0) || !(next * sign < e * sign)) break;
      out.keep(i, r);
      out.prune(i, p);
      e = next;
    }
  }
  return out;
}

/// DSnoT with the statistics normalised as the reference normalises them: E[x_j] =
/// Σ_t x_tj / sequences (its `sum_metric_row`, so update_threshold = 0.1 means what it means
/// there) and Var(x_j) = the population variance over tokens (the reference pools each
/// sequence's own variance instead, which differs by the spread of the sequence means).
/// Throws empty_statistics_error when no sequence was counted, and as the overload above.
template <compute_type T, class S, class Acc, detail::dsnot_mask_policy Policy>
mask dsnot(matrix_view<const T> w, const mask& initial, const moment_statistics<Acc>& statistics,
           matrix_view<const S> initial_scores, const Policy& policy, const dsnot_options& o = {}) {
  const auto mean = statistics.template sums_per_sample<double>(normalisation::by_sequences);
  std::vector<double> variance;
  for (const Acc v : statistics.variances()) variance.push_back(static_cast<double>(v));
  return dsnot<T, S>(w, initial, std::span<const double>(mean), std::span<const double>(variance),
                     initial_scores, policy, o);
}

}  // namespace pollard
