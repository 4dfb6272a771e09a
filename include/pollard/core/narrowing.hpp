// pollard — checked narrowing conversions (float64 -> float32, float32 -> float16/bfloat16): the
// one place a value is made smaller on its way to an output, so an overflow is never written as
// inf.
#pragma once

#include <cmath>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/dtype.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/number_text.hpp"

namespace pollard {

/// A finite value that does not fit the type it is converted to on output (float32 100000 to
/// float16), named with its position; see overflow::saturate for the alternative.
class narrowing_error : public error {
 public:
  using error::error;
};

/// What a narrowing conversion does with a finite value beyond the destination's largest finite
/// value (after rounding): `error` (the default) throws narrowing_error naming the value and its
/// position; `saturate` stores the largest finite value of the same sign instead (as
/// torch.clamp to the type's finfo range before the cast would). NaN and infinite inputs are
/// refused with non_finite_error under both.
enum class overflow { error, saturate };

/// Where a converted value sits, for messages: who converts, what is converted (a tensor or file
/// name; may be empty) and the element (row, col).
struct narrowing_site {
  std::string_view who;
  std::string_view what;
  index_t row = 0;
  index_t col = 0;
};

/// The largest finite value of a storage type, in double.
template <class T>
requires storage_type<T>
constexpr double largest_finite() noexcept {
  if constexpr (std::is_same_v<T, half>)
    return 65504.0;
  else if constexpr (std::is_same_v<T, bfloat16>)
    return 3.3895313892515355e38;  // (2 - 2^-7) * 2^127
  else
    return static_cast<double>(std::numeric_limits<T>::max());
}

/// True when Src -> Dst can lose range (Dst's largest finite value is below Src's).
template <class Src, class Dst>
inline constexpr bool is_narrowing_v = largest_finite<Dst>() < largest_finite<Src>();

/// value converted to Dst (rounding to nearest even). A NaN or infinite value throws
/// non_finite_error ("<who>: non-finite <what> at (i, j) = nan"); a finite value that rounds
/// beyond Dst's range throws narrowing_error ("<who>: float32 value 100000 of <what> at (i, j)
/// overflows float16 (largest finite 65504)") or, with overflow::saturate, becomes
/// ±largest_finite<Dst>().
template <class Dst, class Src>
requires storage_type<Dst> && storage_type<Src> Dst narrow(Src value, overflow mode,
                                                           const narrowing_site& site) {
  using compute = std::conditional_t<std::is_same_v<Src, double>, double, float>;
  const compute c = to_compute<compute>(value);
  if (!std::isfinite(c))
    detail::throw_non_finite(site.who, site.what.empty() ? std::string_view("value") : site.what,
                             position_text(site.row, site.col), static_cast<double>(c));
  const Dst d = from_compute<Dst>(c);
  if (std::isfinite(to_compute<double>(d))) return d;
  if (mode == overflow::saturate)
    return from_compute<Dst>(static_cast<compute>(std::copysign(largest_finite<Dst>(), c)));
  throw narrowing_error(std::string(site.who) + ": " +
                        std::string(dtype_long_name(dtype_of<Src>())) + " value " +
                        format_number(static_cast<double>(c)) +
                        (site.what.empty() ? std::string() : " of " + std::string(site.what)) +
                        " at (" + std::to_string(site.row) + ", " + std::to_string(site.col) +
                        ") overflows " + std::string(dtype_long_name(dtype_of<Dst>())) +
                        " (largest finite " + format_number(largest_finite<Dst>()) + ")");
}

}  // namespace pollard
