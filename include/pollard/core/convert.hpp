// pollard — element-type conversion between views: weights stored as f16/bf16/f32/f64, computed
// on in f32/f64.
#pragma once

#include <string>
#include <type_traits>

#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/core/narrowing.hpp"

namespace pollard {

namespace detail {

// The compute type a Src -> Dst conversion goes through: double when either side is double, so
// float <-> double is exact; 16-bit types go through float (from_compute<half>(double) rounds
// to float first, the only conversion element_types offers).
template <class Src, class Dst>
using conversion_type_t =
    std::conditional_t<std::is_same_v<Src, double> || std::is_same_v<Dst, double>, double, float>;

}  // namespace detail

/// How copy treats a narrowing conversion (float64 -> float32, float32 -> float16/bfloat16):
/// `on_overflow` (see pollard::overflow) and the name of the source in messages.
struct copy_options {
  overflow on_overflow = overflow::error;
  std::string_view what = "source";
};

/// Writes from(i, j), converted to Dst, to to(i, j) for every element (host views).
/// Throws shape_error when the shapes differ. When Dst has a smaller range than Src, every value
/// is checked before anything is written: a NaN or infinity throws non_finite_error, a finite
/// value beyond Dst's range throws narrowing_error ("copy: float32 value 100000 of source at
/// (0, 1) overflows float16 (largest finite 65504)") unless options.on_overflow is saturate.
/// The views must not overlap unless they are the same memory with the same element type.
template <class Src, class Dst>
requires storage_type<std::remove_const_t<Src>> && storage_type<Dst>
void copy(matrix_view<Src, host_space> from, matrix_view<Dst, host_space> to,
          const copy_options& options = {}) {
  require_same_shape("copy", "source", from.rows(), from.cols(), "destination", to.rows(),
                     to.cols());
  using source = std::remove_const_t<Src>;
  if constexpr (is_narrowing_v<source, Dst>) {
    for (index_t i = 0; i < from.rows(); ++i)  // check everything first: nothing half-written
      for (index_t j = 0; j < from.cols(); ++j)
        (void)narrow<Dst>(static_cast<source>(from(i, j)), options.on_overflow,
                          {"copy", options.what, i, j});
    for (index_t i = 0; i < from.rows(); ++i)
      for (index_t j = 0; j < from.cols(); ++j)
        to(i, j) = narrow<Dst>(static_cast<source>(from(i, j)), options.on_overflow,
                               {"copy", options.what, i, j});
    return;
  }
  using compute = detail::conversion_type_t<source, Dst>;
  for (index_t i = 0; i < from.rows(); ++i)
    for (index_t j = 0; j < from.cols(); ++j)
      to(i, j) = from_compute<Dst>(to_compute<compute>(from(i, j)));
}

}  // namespace pollard
