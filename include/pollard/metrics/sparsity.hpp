// pollard — sparsity of a weight matrix and N:M validity of weights or of a mask.
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/mask.hpp"
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

namespace detail {

// True when is_pruned(i, j) holds for at least n entries of each aligned group of m columns of
// every row; the N:M arguments are checked against `cols` first.
template <class IsPruned>
bool satisfies_n_m(const char* who, index_t rows, index_t cols, index_t n, index_t m,
                   IsPruned is_pruned) {
  require_n_m(who, n, m, cols);
  for (index_t i = 0; i < rows; ++i)
    for (index_t j0 = 0; j0 < cols; j0 += m) {
      index_t pruned = 0;
      for (index_t j = j0; j < j0 + m; ++j) pruned += is_pruned(i, j) ? 1 : 0;
      if (pruned < n) return false;
    }
  return true;
}

}  // namespace detail

/// True when every row of w has at least n exact zeros in each aligned group of m consecutive
/// columns [k*m, (k+1)*m) — "N:M" means N pruned (zero) out of M. Throws option_error when not
/// 0 < n < m or when m does not divide the number of columns.
template <class T>
requires storage_type<std::remove_cv_t<T>>
bool satisfies_n_m(matrix_view<T, host_space> w, index_t n, index_t m) {
  return detail::satisfies_n_m(
      "satisfies_n_m", w.rows(), w.cols(), n, m,
      [&](index_t i, index_t j) { return detail::is_exact_zero(w(i, j)); });
}

/// True when every row of the mask prunes at least n entries in each aligned group of m
/// consecutive columns. Throws option_error as the overload for weights.
inline bool satisfies_n_m(const mask& pattern, index_t n, index_t m) {
  return detail::satisfies_n_m("satisfies_n_m", pattern.rows(), pattern.cols(), n, m,
                               [&](index_t i, index_t j) { return pattern.pruned(i, j); });
}

}  // namespace pollard
