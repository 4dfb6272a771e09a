// pollard — the checks every routine runs on its operands before it writes anything, and the one
// form of their messages:
//   "<who>: non-finite <what> at (i, j) = <value>"          (matrix element; "[j]" for a span)
//   "<who>: <what a> (RxC) and <what b> (RxC) differ in shape"
//   "<who>: N:M needs 0 < N < M (N pruned in each group of M), got N:M"
//   "<who>: M=<m> does not divide d_in=<width>"
//   "<who>: <what> must be in [lo, hi), got <value>"         (and "finite and >= lo" / "> lo")
//   "<who>: <what> is RxC, not square"
//   "<who>: the nxn Hessian is not positive definite even with damping ..."
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>

#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/core/number_text.hpp"

namespace pollard {

/// "RxC", the text of a rows x cols shape in every message.
inline std::string shape_text(index_t rows, index_t cols) {
  return std::to_string(rows) + "x" + std::to_string(cols);
}
template <class T, class Space>
std::string shape_text(const matrix_view<T, Space>& v) {
  return shape_text(v.rows(), v.cols());
}

/// "(i, j)", the text of an entry's position in every message. Built by appending: GCC 12's
/// -Wrestrict reports a false overlap in `"(" + std::to_string(i) + ...` in some inlining
/// contexts.
inline std::string position_text(index_t i, index_t j) {
  std::string text = "(";
  text += std::to_string(i);
  text += ", ";
  text += std::to_string(j);
  text += ')';
  return text;
}

namespace detail {

// The unsigned integer of a storage type's bits.
template <class T>
using storage_bits =
    std::conditional_t<sizeof(T) == 8, std::uint64_t,
                       std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint16_t>>;

// True when every element of the contiguous run p[0..n) is finite (exponent bits not all ones);
// an integer OR-reduction the compiler vectorises (a bool accumulator is not vectorised by GCC
// 12, and ran 7x slower).
template <class T>
bool all_finite(const T* p, index_t n) noexcept {
  using bits = storage_bits<T>;
  constexpr bits exponent = std::is_same_v<T, double>  ? bits(0x7ff0000000000000ull)
                            : std::is_same_v<T, float> ? bits(0x7f800000u)
                            : std::is_same_v<T, half>  ? bits(0x7c00u)
                                                       : bits(0x7f80u);
  std::uint32_t bad = 0;
  for (index_t k = 0; k < n; ++k)
    bad |= static_cast<std::uint32_t>((std::bit_cast<bits>(p[k]) & exponent) == exponent);
  return bad == 0;
}

/// The largest magnitude of the contiguous run p[0..n) as its bit pattern without the sign
/// (which orders magnitudes as unsigned integers); at least the all-ones exponent when some
/// element is NaN or infinite. An integer max-reduction the compiler vectorises.
template <class T>
storage_bits<T> largest_magnitude_bits(const T* p, index_t n) noexcept {
  using bits = storage_bits<T>;
  // (~bits(0) is an int for 16-bit types: cast back before the shift.)
  constexpr bits magnitude = static_cast<bits>(static_cast<bits>(~bits(0)) >> 1);
  bits largest = 0;
  for (index_t k = 0; k < n; ++k)
    largest = std::max<bits>(largest, static_cast<bits>(std::bit_cast<bits>(p[k]) & magnitude));
  return largest;
}

/// The value of largest_magnitude_bits' result, as a double.
template <class T, class Bits>
double magnitude_value(Bits b) noexcept {
  return to_compute<double>(std::bit_cast<T>(b));
}

[[noreturn]] inline void throw_non_finite(std::string_view who, std::string_view what,
                                          const std::string& position, double value) {
  throw non_finite_error(std::string(who) + ": non-finite " + std::string(what) + " at " +
                         position + " = " + format_number(value));
}

}  // namespace detail

/// Throws non_finite_error naming the first NaN or infinity of x in row-major order:
/// "<who>: non-finite <what> at (i, j) = <value>".
template <class T>
requires storage_type<std::remove_const_t<T>>
void require_finite(matrix_view<T, host_space> x, std::string_view who, std::string_view what) {
  using value_type = std::remove_const_t<T>;
  if (x.col_stride() == 1 || x.row_stride() == 1) {
    const bool by_rows = x.col_stride() == 1;
    const index_t outer = by_rows ? x.rows() : x.cols();
    const index_t inner = by_rows ? x.cols() : x.rows();
    const index_t stride = by_rows ? x.row_stride() : x.col_stride();
    bool ok = true;
    for (index_t o = 0; o < outer && ok; ++o)
      ok = detail::all_finite<value_type>(x.data() + o * stride, inner);
    if (ok) return;
  }
  for (index_t i = 0; i < x.rows(); ++i)
    for (index_t j = 0; j < x.cols(); ++j) {
      const double v = to_compute<double>(static_cast<value_type>(x(i, j)));
      if (!std::isfinite(v)) detail::throw_non_finite(who, what, position_text(i, j), v);
    }
}

/// The largest |x| of a host view of finite values, as a double (0 when x is empty).
template <class T>
requires storage_type<std::remove_const_t<T>>
double largest_magnitude(matrix_view<T, host_space> x) {
  using value_type = std::remove_const_t<T>;
  double largest = 0.0;
  for (index_t i = 0; i < x.rows(); ++i)
    for (index_t j = 0; j < x.cols(); ++j)
      largest = std::max(largest, std::abs(to_compute<double>(static_cast<value_type>(x(i, j)))));
  return largest;
}

/// Throws non_finite_error naming the first NaN or infinity of x:
/// "<who>: non-finite <what> at [j] = <value>".
template <class T>
requires storage_type<std::remove_const_t<T>>
void require_finite(std::span<T> x, std::string_view who, std::string_view what) {
  for (std::size_t j = 0; j < x.size(); ++j) {
    const double v = to_compute<double>(static_cast<std::remove_const_t<T>>(x[j]));
    if (!std::isfinite(v)) detail::throw_non_finite(who, what, "[" + std::to_string(j) + "]", v);
  }
}

/// Throws shape_error unless a_rows x a_cols equals b_rows x b_cols:
/// "<who>: <what_a> (RxC) and <what_b> (RxC) differ in shape".
inline void require_same_shape(std::string_view who, std::string_view what_a, index_t a_rows,
                               index_t a_cols, std::string_view what_b, index_t b_rows,
                               index_t b_cols) {
  if (a_rows != b_rows || a_cols != b_cols)
    throw shape_error(std::string(who) + ": " + std::string(what_a) + " (" +
                      shape_text(a_rows, a_cols) + ") and " + std::string(what_b) + " (" +
                      shape_text(b_rows, b_cols) + ") differ in shape");
}
template <class A, class B, class Space>
void require_same_shape(std::string_view who, std::string_view what_a,
                        const matrix_view<A, Space>& a, std::string_view what_b,
                        const matrix_view<B, Space>& b) {
  require_same_shape(who, what_a, a.rows(), a.cols(), what_b, b.rows(), b.cols());
}

/// The N:M requirement of a pattern that prunes `pruned` weights in each aligned group of
/// `group` consecutive input columns: throws option_error unless 0 < pruned < group.
inline void require_n_m(std::string_view who, index_t pruned, index_t group) {
  if (pruned <= 0 || group <= 0 || pruned >= group)
    throw option_error(std::string(who) +
                       ": N:M needs 0 < N < M (N pruned in each group of M), got " +
                       std::to_string(pruned) + ":" + std::to_string(group));
}
/// As above, and the group must divide `width` (d_in, the number of columns).
inline void require_n_m(std::string_view who, index_t pruned, index_t group, index_t width) {
  require_n_m(who, pruned, group);
  if (width % group != 0)
    throw option_error(std::string(who) + ": M=" + std::to_string(group) +
                       " does not divide d_in=" + std::to_string(width));
}

/// Throws option_error unless lo <= value < hi (NaN fails):
/// "<who>: <what> must be in [lo, hi), got <value>".
inline void require_in_range(std::string_view who, std::string_view what, double value, double lo,
                             double hi) {
  if (!(value >= lo && value < hi))
    throw option_error(std::string(who) + ": " + std::string(what) + " must be in [" +
                       format_number(lo) + ", " + format_number(hi) + "), got " +
                       format_number(value));
}

/// Throws option_error unless value is finite and >= lo: "<who>: <what> must be finite and >=
/// lo, got <value>".
inline void require_at_least(std::string_view who, std::string_view what, double value, double lo) {
  if (!(std::isfinite(value) && value >= lo))
    throw option_error(std::string(who) + ": " + std::string(what) + " must be finite and >= " +
                       format_number(lo) + ", got " + format_number(value));
}

/// Throws option_error unless value is finite and > lo: "<who>: <what> must be finite and > lo,
/// got <value>".
inline void require_greater(std::string_view who, std::string_view what, double value, double lo) {
  if (!(std::isfinite(value) && value > lo))
    throw option_error(std::string(who) + ": " + std::string(what) + " must be finite and > " +
                       format_number(lo) + ", got " + format_number(value));
}

/// Throws shape_error unless rows == cols: "<who>: <what> is RxC, not square".
inline void require_square(std::string_view who, std::string_view what, index_t rows,
                           index_t cols) {
  if (rows != cols)
    throw shape_error(std::string(who) + ": " + std::string(what) + " is " +
                      shape_text(rows, cols) + ", not square");
}

/// Throws factorisation_error for a Hessian that no damping up to the last one tried made
/// positive definite: "<who>: the nxn Hessian is not positive definite even with damping λ
/// (percdamp p of mean diagonal m, after r retries)".
[[noreturn]] inline void throw_not_positive_definite(std::string_view who, index_t n,
                                                     double damping, double percdamp,
                                                     double mean_diagonal, int retries) {
  std::ostringstream message;
  message << who << ": the " << n << "x" << n
          << " Hessian is not positive definite even with damping " << damping << " (percdamp "
          << percdamp << " of mean diagonal " << mean_diagonal << ", after " << retries
          << " retries)";
  throw factorisation_error(message.str());
}

/// Throws factorisation_error for a Hessian with a negative diagonal entry H(j, j) = value: it
/// is not positive semidefinite (H = (2/N)·XᵀX never is so), and damping, a positive multiple of
/// its mean diagonal, cannot make it definite — with a negative mean it would subtract.
[[noreturn]] inline void throw_not_positive_semidefinite(std::string_view who, index_t n, index_t j,
                                                         double value) {
  std::ostringstream message;
  message << who << ": the " << n << "x" << n << " Hessian is not positive semidefinite: H(" << j
          << ", " << j << ") = " << value
          << " < 0, which no XᵀX has; damping cannot repair it (pass H = (2/N)·XᵀX)";
  throw factorisation_error(message.str());
}

/// Throws factorisation_error for a symmetric Hessian with a clearly negative eigenvalue (below
/// −tolerance): like a negative diagonal, no XᵀX has one, and damping that makes it factor
/// changes what is minimised, so the result would be no least-squares solution.
[[noreturn]] inline void throw_indefinite_hessian(std::string_view who, index_t n,
                                                  double smallest_eigenvalue, double tolerance) {
  std::ostringstream message;
  message << who << ": the " << n << "x" << n
          << " Hessian is not positive semidefinite: its smallest eigenvalue is "
          << smallest_eigenvalue << " (below -" << tolerance
          << ", sqrt(epsilon) times its largest diagonal entry), which no XᵀX has; damping "
             "cannot repair it (pass H = (2/N)·XᵀX)";
  throw factorisation_error(message.str());
}

}  // namespace pollard
