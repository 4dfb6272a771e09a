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

#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/mask.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/metrics/sparsity.hpp"
#include "pollard/stats/moment_statistics.hpp"

namespace pollard {

/// Options of dsnot(); the defaults are the reference implementation's.
struct dsnot_options {
  index_t n = 0;                  ///< N:M: zeros per window; the initial mask must be N:M
  index_t m = 0;                  ///< N:M window width; 0 = unstructured
  double update_threshold = 0.1;  ///< a row stops once |e_i| <= this
  int max_cycles = 50;            ///< at most this many swaps per row
  double variance_power = 1.0;    ///< regrowth ranks W_ij·E[x_j] / Var(x_j)^power
};

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
///   N:M: the lowest-scored weight of the regrown weight's window that was kept initially and
///   still is (a regrown weight is never pruned again);
/// - a swap is made only while |e_i| > update_threshold and e_i keeps its sign after the swap;
///   the first refused swap ends the row, and so does max_cycles.
/// Departures from the reference code (github.com/zyxxmu/DSnoT, lib/prune.py), which only matter
/// once a pointer passes the end of its group: a candidate whose state already changed is skipped
/// rather than swapped again, regrowth never picks a kept weight, and kept weights with a zero
/// contribution are ordered with the positive ones.
/// Scale: the reference's E[x_j] is Σ_t x_tj / N with N counted in sequences (the per-token mean
/// times the tokens per sequence), which is what its threshold 0.1 is measured against; pass that
/// (moment_statistics::sums_per_sample()), or use the overload taking moment_statistics, which
/// does. A per-token mean makes the threshold mean tokens-per-sequence times more.
/// Throws shape_error (mask, scores or statistics not matching w), non_finite_error,
/// option_error (bad options, negative variance, an initial mask that is not N:M).
template <compute_type T, class S>
mask dsnot(matrix_view<const T> w, const mask& initial, std::span<const double> mean,
           std::span<const double> variance, matrix_view<const S> initial_scores,
           const dsnot_options& o = {}) {
  const index_t rows = w.rows(), cols = w.cols();
  const auto shape = [](index_t r, index_t c) {
    return std::to_string(r) + "x" + std::to_string(c);
  };
  if (initial.rows() != rows || initial.cols() != cols)
    throw shape_error("dsnot: weights are " + shape(rows, cols) + " but the mask is " +
                      shape(initial.rows(), initial.cols()));
  if (initial_scores.rows() != rows || initial_scores.cols() != cols)
    throw shape_error("dsnot: weights are " + shape(rows, cols) + " but the scores are " +
                      shape(initial_scores.rows(), initial_scores.cols()));
  if (static_cast<index_t>(mean.size()) != cols || static_cast<index_t>(variance.size()) != cols)
    throw shape_error("dsnot: weights are " + shape(rows, cols) + " but the statistics have " +
                      std::to_string(mean.size()) + " means and " +
                      std::to_string(variance.size()) + " variances");
  if (!(o.update_threshold >= 0.0) || o.max_cycles < 0 || !std::isfinite(o.variance_power)) {
    std::ostringstream message;
    message << "dsnot: needs update_threshold >= 0, max_cycles >= 0 and a finite variance_power, "
               "got "
            << o.update_threshold << ", " << o.max_cycles << ", " << o.variance_power;
    throw option_error(message.str());
  }
  const bool n_m = o.m > 0 || o.n > 0;
  if (n_m) {
    if (o.n <= 0 || o.m <= 0 || o.n >= o.m)
      throw option_error("dsnot: N:M needs 0 < N < M, got " + std::to_string(o.n) + ":" +
                         std::to_string(o.m));
    if (cols % o.m != 0)
      throw option_error("dsnot: N:M: M=" + std::to_string(o.m) +
                         " does not divide d_in=" + std::to_string(cols));
    if (!pollard::satisfies_n_m(initial, o.n, o.m))
      throw option_error("dsnot: the initial mask is not " + std::to_string(o.n) + ":" +
                         std::to_string(o.m));
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
  for (index_t i = 0; i < rows; ++i)
    for (index_t j = 0; j < cols; ++j) {
      const auto score = to_compute<double>(initial_scores(i, j));
      if (!std::isfinite(static_cast<double>(w(i, j))) || !std::isfinite(score)) {
        std::ostringstream message;
        message << "dsnot: non-finite " << (std::isfinite(score) ? "weight W" : "score") << "(" << i
                << ", " << j << ")";
        throw non_finite_error(message.str());
      }
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
    if (!n_m) {
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
      if (r < 0) break;
      index_t p = -1;
      if (n_m) {
        const index_t start = r - r % o.m;
        for (index_t j = start; j < start + o.m; ++j)
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
      if (p < 0) break;
      const double next = e + metric[at(p)] - metric[at(r)];
      if (!(next * sign > 0.0)) break;
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
template <compute_type T, class S, class Acc>
mask dsnot(matrix_view<const T> w, const mask& initial, const moment_statistics<Acc>& statistics,
           matrix_view<const S> initial_scores, const dsnot_options& o = {}) {
  const auto mean = statistics.template sums_per_sample<double>(normalisation::by_sequences);
  std::vector<double> variance;
  for (const Acc v : statistics.variances()) variance.push_back(static_cast<double>(v));
  return dsnot<T, S>(w, initial, std::span<const double>(mean), std::span<const double>(variance),
                     initial_scores, o);
}

}  // namespace pollard
