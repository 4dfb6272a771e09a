// Checked narrowing conversions. The limits are the formats' own (numpy.finfo: float16 max 65504,
// bfloat16 max (2 - 2^-7) * 2^127, float32 max (2 - 2^-23) * 2^127); halfway cases are worked by
// hand from the binary16 spacing (32 at 2^15..2^16).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "pollard/core/convert.hpp"
#include "pollard/core/narrowing.hpp"

using pollard::bfloat16;
using pollard::half;
using pollard::matrix_view;
using pollard::narrow;
using pollard::narrowing_site;
using pollard::overflow;

TEST_CASE("float32 -> float16: the largest values that round to 65504 pass, the rest is an error") {
  const narrowing_site site{"test", "W", 2, 3};
  CHECK(static_cast<float>(narrow<half>(65504.0f, overflow::error, site)) == 65504.0f);
  // 65519.996 is below the halfway point 65520 between 65504 and 2^16, so it rounds to 65504.
  CHECK(static_cast<float>(narrow<half>(65519.996f, overflow::error, site)) == 65504.0f);
  CHECK_THROWS_WITH_AS(narrow<half>(65520.0f, overflow::error, site),
                       "test: float32 value 65520 of W at (2, 3) overflows float16 (largest "
                       "finite 65504)",
                       pollard::narrowing_error);
  CHECK_THROWS_WITH_AS(narrow<half>(-1e5f, overflow::error, site),
                       "test: float32 value -1e+05 of W at (2, 3) overflows float16 (largest "
                       "finite 65504)",
                       pollard::narrowing_error);
  CHECK(static_cast<float>(narrow<half>(1e5f, overflow::saturate, site)) == 65504.0f);
  CHECK(static_cast<float>(narrow<half>(-7e4f, overflow::saturate, site)) == -65504.0f);
}

TEST_CASE("NaN and infinite inputs are refused by name under both overflow modes") {
  const narrowing_site site{"test", "W", 0, 1};
  for (auto mode : {overflow::error, overflow::saturate}) {
    CHECK_THROWS_WITH_AS(narrow<half>(std::numeric_limits<float>::quiet_NaN(), mode, site),
                         "test: non-finite W at (0, 1) = nan", pollard::non_finite_error);
    CHECK_THROWS_WITH_AS(narrow<bfloat16>(-std::numeric_limits<float>::infinity(), mode, site),
                         "test: non-finite W at (0, 1) = -inf", pollard::non_finite_error);
  }
}

TEST_CASE("float32 -> bfloat16 and float64 -> float32 overflow at their formats' limits") {
  const narrowing_site site{"test", "", 4, 0};
  const float bf16_max = std::ldexp(2.0f - std::ldexp(1.0f, -7), 127);
  CHECK(static_cast<float>(narrow<bfloat16>(bf16_max, overflow::error, site)) == bf16_max);
  CHECK_THROWS_AS(narrow<bfloat16>(std::numeric_limits<float>::max(), overflow::error, site),
                  pollard::narrowing_error);
  CHECK(static_cast<float>(narrow<bfloat16>(std::numeric_limits<float>::max(), overflow::saturate,
                                            site)) == bf16_max);
  CHECK_THROWS_WITH_AS(narrow<float>(1e300, overflow::error, site),
                       "test: float64 value 1e+300 at (4, 0) overflows float32 (largest finite "
                       "3.4028234663852886e+38)",
                       pollard::narrowing_error);
  CHECK(narrow<float>(-1e300, overflow::saturate, site) == -std::numeric_limits<float>::max());
  CHECK(narrow<float>(1e-300, overflow::error, site) == 0.0f);  // underflow is not overflow
}

TEST_CASE("copy checks a narrowing copy before writing anything, and can saturate") {
  std::vector<float> from{1.0f, 2.0f, 3.0f, 1e5f, 5.0f, 6.0f};
  std::vector<half> to(6, half(-1.0f));
  CHECK_THROWS_WITH_AS(
      pollard::copy(matrix_view<const float>(from.data(), 2, 3),
                    matrix_view<half>(to.data(), 2, 3)),
      "copy: float32 value 1e+05 of source at (1, 0) overflows float16 (largest finite 65504)",
      pollard::narrowing_error);
  for (const half h : to) CHECK(static_cast<float>(h) == -1.0f);  // untouched
  pollard::copy(matrix_view<const float>(from.data(), 2, 3), matrix_view<half>(to.data(), 2, 3),
                {.on_overflow = overflow::saturate, .what = "W"});
  CHECK(static_cast<float>(to[3]) == 65504.0f);
  CHECK(static_cast<float>(to[5]) == 6.0f);
  // Widening copies are exact and unchecked: an infinity in float16 stays one in float32.
  std::vector<half> inf{half(std::numeric_limits<float>::infinity())};
  std::vector<float> wide(1);
  pollard::copy(matrix_view<const half>(inf.data(), 1, 1), matrix_view<float>(wide.data(), 1, 1));
  CHECK(std::isinf(wide[0]));
}
