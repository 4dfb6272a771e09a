// pollard — percentiles of sorted values (Hyndman–Fan type 7).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>

#include "pollard/core/error.hpp"

namespace pollard {

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

}  // namespace pollard
