// pollard — sparsity of a weight matrix and N:M validity, read from the weights themselves.
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard {

namespace detail {

// True for +0 and -0 only (a NaN is not a zero).
template <class T>
constexpr bool is_exact_zero(T value) noexcept {
  return to_compute<float>(value) == 0.0f;
}

}  // namespace detail

/// Number of exact zeros (+0 or -0) in each row of w.
template <class T>
requires storage_type<std::remove_cv_t<T>> std::vector<index_t> zeros_per_row(
    matrix_view<T, host_space> w) {
  std::vector<index_t> zeros(static_cast<std::size_t>(w.rows()), 0);
  for (index_t i = 0; i < w.rows(); ++i) {
    index_t n = 0;
    for (index_t j = 0; j < w.cols(); ++j) n += detail::is_exact_zero(w(i, j)) ? 1 : 0;
    zeros[static_cast<std::size_t>(i)] = n;
  }
  return zeros;
}

/// Number of exact zeros (+0 or -0) in w.
template <class T>
requires storage_type<std::remove_cv_t<T>> index_t zero_count(matrix_view<T, host_space> w) {
  index_t n = 0;
  for (index_t i = 0; i < w.rows(); ++i)
    for (index_t j = 0; j < w.cols(); ++j) n += detail::is_exact_zero(w(i, j)) ? 1 : 0;
  return n;
}

/// Fraction of entries of w that are exact zeros; 0 for an empty matrix (as mask::sparsity).
template <class T>
requires storage_type<std::remove_cv_t<T>>
double sparsity(matrix_view<T, host_space> w) {
  if (w.size() == 0) return 0.0;
  return static_cast<double>(zero_count(w)) / static_cast<double>(w.size());
}

/// True when every row of w has at least n exact zeros in each aligned window of m consecutive
/// columns [k*m, (k+1)*m) — "N:M" means N zeros out of M, as mask::satisfies_n_m. Throws
/// option_error when not 0 < n < m or when m does not divide the number of columns.
template <class T>
requires storage_type<std::remove_cv_t<T>>
bool satisfies_n_m(matrix_view<T, host_space> w, index_t n, index_t m) {
  if (n <= 0 || m <= 0 || n >= m)
    throw option_error("satisfies_n_m: N:M needs 0 < N < M, got " + std::to_string(n) + ":" +
                       std::to_string(m));
  if (w.cols() % m != 0)
    throw option_error("satisfies_n_m: M=" + std::to_string(m) + " does not divide the " +
                       std::to_string(w.cols()) + " columns of the weights");
  for (index_t i = 0; i < w.rows(); ++i)
    for (index_t j0 = 0; j0 < w.cols(); j0 += m) {
      index_t zeros = 0;
      for (index_t j = j0; j < j0 + m; ++j) zeros += detail::is_exact_zero(w(i, j)) ? 1 : 0;
      if (zeros < n) return false;
    }
  return true;
}

}  // namespace pollard
