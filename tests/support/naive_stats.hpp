// Test support: plain-loop double-precision references for moment statistics and the Gram matrix.
#pragma once

#include <vector>

#include "pollard/core/element_types.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard::test {

/// Σ_t x_tj for each column j.
template <class T>
std::vector<double> naive_column_sums(matrix_view<T> x) {
  std::vector<double> s(static_cast<std::size_t>(x.cols()), 0.0);
  for (index_t i = 0; i < x.rows(); ++i)
    for (index_t j = 0; j < x.cols(); ++j)
      s[static_cast<std::size_t>(j)] += to_compute<double>(x(i, j));
  return s;
}

/// Σ_t x_tj² for each column j.
template <class T>
std::vector<double> naive_column_sum_squares(matrix_view<T> x) {
  std::vector<double> s(static_cast<std::size_t>(x.cols()), 0.0);
  for (index_t i = 0; i < x.rows(); ++i)
    for (index_t j = 0; j < x.cols(); ++j) {
      const double v = to_compute<double>(x(i, j));
      s[static_cast<std::size_t>(j)] += v * v;
    }
  return s;
}

/// Population variance of each column, by the textbook two-pass formula in double.
template <class T>
std::vector<double> naive_column_variances(matrix_view<T> x) {
  std::vector<double> mean = naive_column_sums(x);
  for (auto& m : mean) m /= static_cast<double>(x.rows());
  std::vector<double> var(mean.size(), 0.0);
  for (index_t i = 0; i < x.rows(); ++i)
    for (index_t j = 0; j < x.cols(); ++j) {
      const double d = to_compute<double>(x(i, j)) - mean[static_cast<std::size_t>(j)];
      var[static_cast<std::size_t>(j)] += d * d;
    }
  for (auto& v : var) v /= static_cast<double>(x.rows());
  return var;
}

/// Row-major d x d matrix (2/n)·XᵀX, one shot, in double.
template <class T>
std::vector<double> naive_gram(matrix_view<T> x, double n) {
  const index_t d = x.cols();
  std::vector<double> h(static_cast<std::size_t>(d * d), 0.0);
  for (index_t a = 0; a < d; ++a)
    for (index_t b = 0; b < d; ++b) {
      double s = 0.0;
      for (index_t t = 0; t < x.rows(); ++t)
        s += to_compute<double>(x(t, a)) * to_compute<double>(x(t, b));
      h[static_cast<std::size_t>(a * d + b)] = 2.0 * s / n;
    }
  return h;
}

}  // namespace pollard::test
