// Tests for pollard/backends/cpu/vector_math.hpp against the C library.
#include "pollard/backends/cpu/vector_math.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <numbers>
#include <random>

TEST_CASE("the vectorisable exp and log of the hot loop are within 2 ulp of the C library") {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  double worst_exp = 0.0, worst_log = 0.0;
  for (int k = 0; k < 200000; ++k) {
    const double x = -std::pow(unit(rng), 3.0) * 708.0;  // dense near 0, reaching −708
    const double e = std::exp(x);
    worst_exp = std::max(worst_exp, std::abs(pollard::cpu::exp_nonpositive(x) - e) / e);
    const double y = std::exp(-unit(rng) * 700.0) * (1.0 + unit(rng));
    const double l = std::log(y);
    worst_log = std::max(worst_log, std::abs(pollard::cpu::log_nonnegative(y) - l) / std::abs(l));
  }
  CHECK(worst_exp <= 2.3e-16);
  CHECK(worst_log <= 4.5e-16);
  CHECK(pollard::cpu::exp_nonpositive(0.0) == 1.0);
  CHECK(pollard::cpu::exp_nonpositive(-0.0) == 1.0);
  CHECK(pollard::cpu::exp_nonpositive(-1e30) == doctest::Approx(std::exp(-708.0)).epsilon(1e-15));
  CHECK(pollard::cpu::log_nonnegative(1.0) == 0.0);
  CHECK(pollard::cpu::log_nonnegative(0.0) == doctest::Approx(std::log(DBL_MIN)).epsilon(1e-15));
  CHECK(pollard::cpu::log_nonnegative(0.5) == doctest::Approx(-std::numbers::ln2).epsilon(1e-16));
}
