#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "pollard/core/element_types.hpp"

using pollard::bfloat16;
using pollard::half;

TEST_CASE("half round-trips every finite binary16 value through float") {
  for (std::uint32_t b = 0; b < 0x10000u; ++b) {
    const auto bits = static_cast<std::uint16_t>(b);
    const float f = static_cast<float>(half::from_bits(bits));
    if (std::isnan(f)) {
      CHECK(std::isnan(static_cast<float>(half(f))));
      continue;
    }
    CHECK(half(f).bits == bits);
  }
}

TEST_CASE("half conversion matches hand-worked values") {
  CHECK(half(1.0f).bits == 0x3c00);
  CHECK(half(-2.0f).bits == 0xc000);
  CHECK(half(65504.0f).bits == 0x7bff);
  CHECK(half(65520.0f).bits == 0x7c00);                          // rounds to infinity
  CHECK(half(std::ldexp(1.0f, -24)).bits == 0x0001);             // smallest subnormal
  CHECK(half(std::ldexp(1.0f, -26)).bits == 0x0000);             // below half of it: zero
  CHECK(half(1.0f + std::ldexp(1.0f, -11)).bits == 0x3c00);      // tie to even (down)
  CHECK(half(1.0f + 3 * std::ldexp(1.0f, -11)).bits == 0x3c02);  // tie to even (up)
  CHECK(static_cast<float>(half::from_bits(0x3555)) == doctest::Approx(0.333251953125));
}

TEST_CASE("bfloat16 rounds to nearest even and keeps NaN") {
  CHECK(bfloat16(1.0f).bits == 0x3f80);
  CHECK(static_cast<float>(bfloat16(3.140625f)) == 3.140625f);
  CHECK(bfloat16(1.0f + std::ldexp(1.0f, -8)).bits == 0x3f80);      // tie, even stays
  CHECK(bfloat16(1.0f + 3 * std::ldexp(1.0f, -8)).bits == 0x3f82);  // tie, odd rounds up
  CHECK(std::isnan(static_cast<float>(bfloat16(std::numeric_limits<float>::quiet_NaN()))));
}
