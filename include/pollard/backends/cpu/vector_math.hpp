// pollard — the CPU backend's vectorisable exp and log: branch-free double-precision functions that
// the compiler vectorises over a loop (the divergence rows' hot loops).
#pragma once

#include <bit>
#include <cstdint>

namespace pollard::cpu {

// exp(x) for x ≤ 0 (as l − max always is), relative error ≤ 1 ulp against glibc; below
// −708 it returns e^-708 ≈ 3e-308 instead of underflowing. Cody–Waite reduction
// x = k·ln2 + r, |r| ≤ ln2/2, degree-13 Taylor polynomial, 2^k added to the exponent bits.
// Branch-free (the clamp compares bit patterns: for x ≤ 0 a larger pattern is a more negative
// number), so a loop over it vectorises.
inline double exp_nonpositive(double x) noexcept {
  const std::uint64_t bits = std::bit_cast<std::uint64_t>(x);
  const std::uint64_t limit = std::bit_cast<std::uint64_t>(-708.0);
  x = std::bit_cast<double>(bits < limit ? bits : limit);
  constexpr double shifter = 0x1.8p52;  // t's low mantissa bits hold round(x/ln2)
  const double t = x * 1.4426950408889634 + shifter;
  const double k = t - shifter;
  double r = k * -6.93147180369123816490e-01 + x;
  r = k * -1.90821492927058770002e-10 + r;
  double e = 1.0 / 6227020800.0;
  e = e * r + 1.0 / 479001600.0;
  e = e * r + 1.0 / 39916800.0;
  e = e * r + 1.0 / 3628800.0;
  e = e * r + 1.0 / 362880.0;
  e = e * r + 1.0 / 40320.0;
  e = e * r + 1.0 / 5040.0;
  e = e * r + 1.0 / 720.0;
  e = e * r + 1.0 / 120.0;
  e = e * r + 1.0 / 24.0;
  e = e * r + 1.0 / 6.0;
  e = e * r + 0.5;
  e = e * r + 1.0;
  e = e * r + 1.0;
  return std::bit_cast<double>(std::bit_cast<std::uint64_t>(e) +
                               (std::bit_cast<std::uint64_t>(t) << 52));
}

// log(max(x, DBL_MIN)) for x ≥ 0, relative error ≤ 2 ulp against glibc. x = 2^e·f with
// f in [√½, √2), log f = 2·atanh(s), s = (f − 1)/(f + 1), |s| ≤ 0.172, odd series to s^21.
// Branch-free like exp_nonpositive.
inline double log_nonnegative(double x) noexcept {
  std::uint64_t bits = std::bit_cast<std::uint64_t>(x);
  constexpr std::uint64_t min_normal = 0x0010000000000000ULL;  // DBL_MIN
  bits = bits > min_normal ? bits : min_normal;
  // adding 1 − √½ (in bit patterns) carries into the exponent exactly when the mantissa ≥ √2
  const std::uint64_t biased = (bits + 0x00095f619980c433ULL) >> 52;
  const double f = std::bit_cast<double>(bits - ((biased - 1023) << 52));
  const double e =
      std::bit_cast<double>(biased | 0x4330000000000000ULL) - (4503599627370496.0 + 1023.0);
  const double s = (f - 1.0) / (f + 1.0);
  const double s2 = s * s;
  double a = 1.0 / 21;
  a = a * s2 + 1.0 / 19;
  a = a * s2 + 1.0 / 17;
  a = a * s2 + 1.0 / 15;
  a = a * s2 + 1.0 / 13;
  a = a * s2 + 1.0 / 11;
  a = a * s2 + 1.0 / 9;
  a = a * s2 + 1.0 / 7;
  a = a * s2 + 1.0 / 5;
  a = a * s2 + 1.0 / 3;
  a = a * s2 + 1.0;
  return e * 6.93147180369123816490e-01 + (2.0 * s * a + e * 1.90821492927058770002e-10);
}

}  // namespace pollard::cpu
