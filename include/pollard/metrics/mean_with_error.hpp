// pollard — a mean with its standard error, and the streaming moments it is computed from.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

namespace pollard {

/// A mean ± its standard error: s / sqrt(n) with s the (n − 1) sample deviation (NaN when
/// n < 2). Every metric pollard reports over examples or token positions is summarised this way.
struct mean_with_error {
  double mean = 0.0;
  double standard_error = 0.0;
};

namespace detail {

// Count, mean and sum of squared deviations of a stream (Welford), merged exactly (Chan et al.).
struct metric_moments {
  std::int64_t count = 0;
  double mean = 0.0;
  double m2 = 0.0;

  void add(double x) noexcept {
    ++count;
    const double delta = x - mean;
    mean += delta / static_cast<double>(count);
    m2 += delta * (x - mean);
  }
  void merge(const metric_moments& o) noexcept {
    if (o.count == 0) return;
    if (count == 0) {
      *this = o;
      return;
    }
    const double n = static_cast<double>(count), m = static_cast<double>(o.count);
    const double delta = o.mean - mean;
    mean += delta * m / (n + m);
    m2 += o.m2 + delta * delta * n * m / (n + m);
    count += o.count;
  }
  /// Standard error of the mean, s/sqrt(n) with s the (n−1) sample deviation; NaN when n < 2.
  double standard_error() const noexcept {
    if (count < 2) return std::numeric_limits<double>::quiet_NaN();
    const double n = static_cast<double>(count);
    return std::sqrt(m2 / (n * (n - 1.0)));
  }
  /// The mean and its standard error.
  mean_with_error summary() const noexcept { return {mean, standard_error()}; }
};

}  // namespace detail

}  // namespace pollard
