// pollard — the check mask policies apply to scores: what a score may be (the criterion
// contract: larger = keep, +inf = always keep, never NaN); a bad one is named as
// core/checks.hpp names every non-finite value.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard::detail {

/// The type scores of element type T are compared in (float for 16-bit storage types).
template <class T>
using score_compute_t = compute_type_for<std::remove_cv_t<T>>;

template <class T>
inline score_compute_t<T> score_value(T value) noexcept {
  return to_compute<score_compute_t<T>>(value);
}

[[noreturn]] inline void throw_bad_score(const char* who, index_t i, index_t j, double value) {
  throw_non_finite(who, "score", position_text(i, j), value);
}

/// True for a score no policy can rank: NaN, or -inf (no criterion produces it). +inf is a
/// valid score meaning "always keep". Integer-only, so loops that or it together stay
/// branch-free.
inline std::uint32_t unrankable_bit(float value) noexcept {
  const auto bits = std::bit_cast<std::uint32_t>(value);
  return ((bits & 0x7f800000u) == 0x7f800000u) & (bits != 0x7f800000u) ? 1u : 0u;
}
inline std::uint32_t unrankable_bit(double value) noexcept {
  const auto bits = std::bit_cast<std::uint64_t>(value);
  return ((bits & 0x7ff0000000000000u) == 0x7ff0000000000000u) & (bits != 0x7ff0000000000000u) ? 1u
                                                                                               : 0u;
}

/// Throws non_finite_error naming the first NaN or -inf entry of `scores`, if any (offset by
/// (r0, c0) as above); +inf entries pass.
template <class T>
void check_rankable_scores(const char* who, matrix_view<const T, host_space> scores, index_t r0 = 0,
                           index_t c0 = 0) {
  for (index_t i = 0; i < scores.rows(); ++i)
    for (index_t j = 0; j < scores.cols(); ++j) {
      const auto v = score_value(scores(i, j));
      if (unrankable_bit(v) != 0) throw_bad_score(who, r0 + i, c0 + j, static_cast<double>(v));
    }
}

}  // namespace pollard::detail
