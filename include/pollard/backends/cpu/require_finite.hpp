// pollard — the CPU backend's finiteness check (and largest magnitude) of a large host matrix,
// spread over the policy's threads.
#pragma once

#include <algorithm>
#include <cmath>
#include <string_view>
#include <type_traits>
#include <vector>

#include "pollard/backends/cpu/parallel_for.hpp"
#include "pollard/backends/cpu/policy.hpp"
#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard::cpu {

/// Rows per piece of the parallel check (fixed, so the pieces never depend on the thread count).
inline constexpr index_t finite_check_rows = 128;

/// pollard::require_finite (core/checks.hpp) on the policy's threads, returning the largest
/// |x| (a double; 0 when x is empty): throws non_finite_error naming the first NaN or infinity
/// of x in row-major order, "<who>: non-finite <what> at (i, j) = <value>" — the same element
/// and message whatever the thread count. Pieces of finite_check_rows rows (or columns, when
/// rows are strided and columns adjacent) are scanned in parallel (one integer max per element:
/// a NaN or infinity has the largest magnitude bits); a bad element is then located by the
/// serial check.
template <class T>
requires storage_type<std::remove_const_t<T>>
double largest_finite_magnitude(const par_t& policy, matrix_view<T> x, std::string_view who,
                                std::string_view what) {
  using value_type = std::remove_const_t<T>;
  const bool by_rows = x.col_stride() == 1;
  if (!by_rows && x.row_stride() != 1) {
    pollard::require_finite(x, who, what);
    return largest_magnitude(x);
  }
  const index_t outer = by_rows ? x.rows() : x.cols();
  const index_t inner = by_rows ? x.cols() : x.rows();
  const index_t stride = by_rows ? x.row_stride() : x.col_stride();
  const index_t pieces = (outer + finite_check_rows - 1) / finite_check_rows;
  using bits = pollard::detail::storage_bits<value_type>;
  std::vector<bits> largest(static_cast<std::size_t>(pieces), bits(0));
  parallel_for(policy, pieces, finite_check_rows * inner, [&](index_t p) {
    const index_t begin = p * finite_check_rows;
    const index_t end = std::min(outer, begin + finite_check_rows);
    bits piece = 0;
    for (index_t o = begin; o < end; ++o)
      piece = std::max(
          piece, pollard::detail::largest_magnitude_bits<value_type>(x.data() + o * stride, inner));
    largest[static_cast<std::size_t>(p)] = piece;
  });
  const bits overall = pieces == 0 ? bits(0) : *std::max_element(largest.begin(), largest.end());
  const double value = pollard::detail::magnitude_value<value_type>(overall);
  if (!std::isfinite(value)) pollard::require_finite(x, who, what);
  return value;
}

/// pollard::require_finite (core/checks.hpp) on the policy's threads: the check of
/// largest_finite_magnitude, same element and message at any thread count.
template <class T>
requires storage_type<std::remove_const_t<T>>
void require_finite(const par_t& policy, matrix_view<T> x, std::string_view who,
                    std::string_view what) {
  (void)largest_finite_magnitude(policy, x, who, what);
}

}  // namespace pollard::cpu
