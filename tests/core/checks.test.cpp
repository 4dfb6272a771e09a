// The shared operand checks: each message is written out by hand here, in the one documented form.
#include <doctest/doctest.h>

#include <limits>
#include <span>
#include <vector>

#include "pollard/core/checks.hpp"
#include "pollard/core/number_text.hpp"

using pollard::index_t;
using pollard::matrix_view;

TEST_CASE("format_number writes the shortest text that reads back exactly") {
  CHECK(pollard::format_number(0.5) == "0.5");
  CHECK(pollard::format_number(-1.0) == "-1");
  CHECK(pollard::format_number(0.1) == "0.1");
  CHECK(pollard::format_number(1e300) == "1e+300");
  CHECK(pollard::format_number(65520.0) == "65520");
  CHECK(pollard::format_number(std::numeric_limits<double>::infinity()) == "inf");
  CHECK(pollard::format_number(-std::numeric_limits<double>::infinity()) == "-inf");
  CHECK(pollard::format_number(-std::numeric_limits<double>::quiet_NaN()) == "nan");
  CHECK(std::stod(pollard::format_number(1.0 / 3.0)) == 1.0 / 3.0);
}

TEST_CASE("shape_text is RxC") {
  CHECK(pollard::shape_text(3, 4) == "3x4");
  std::vector<float> a(6);
  CHECK(pollard::shape_text(matrix_view<float>(a.data(), 2, 3)) == "2x3");
}

TEST_CASE("require_finite names the first non-finite element in row-major order, any layout") {
  std::vector<float> a(12, 1.0f);
  const matrix_view<const float> row_major(a.data(), 3, 4);
  CHECK_NOTHROW(pollard::require_finite(row_major, "test", "X"));
  a[7] = std::numeric_limits<float>::quiet_NaN();  // (1, 3) row-major
  a[9] = std::numeric_limits<float>::infinity();   // (2, 1) row-major
  CHECK_THROWS_WITH_AS(pollard::require_finite(row_major, "test", "X"),
                       "test: non-finite X at (1, 3) = nan", pollard::non_finite_error);
  // The same memory read column-major (4x3, element (i, j) at i + 4j): a[7] is (3, 1), a[9] is
  // (1, 2); row-major scan order meets (1, 2) first.
  const matrix_view<const float> col_major(a.data(), 4, 3, 1, 4);
  CHECK_THROWS_WITH_AS(pollard::require_finite(col_major, "test", "X"),
                       "test: non-finite X at (1, 2) = inf", pollard::non_finite_error);
  // A strided view that skips both bad elements is finite.
  const matrix_view<const float> even(a.data(), 3, 2, 4, 2);
  CHECK_NOTHROW(pollard::require_finite(even, "test", "X"));
  std::vector<pollard::half> h(4, pollard::half(1.0f));
  h[2] = pollard::half(-std::numeric_limits<float>::infinity());
  CHECK_THROWS_WITH_AS(
      pollard::require_finite(matrix_view<pollard::half>(h.data(), 2, 2), "test", "W"),
      "test: non-finite W at (1, 0) = -inf", pollard::non_finite_error);
  std::vector<double> v{1.0, 2.0, std::numeric_limits<double>::quiet_NaN()};
  CHECK_THROWS_WITH_AS(pollard::require_finite(std::span<const double>(v), "test", "d"),
                       "test: non-finite d at [2] = nan", pollard::non_finite_error);
}

TEST_CASE("require_same_shape, require_n_m and the range checks say what is wrong") {
  CHECK_NOTHROW(pollard::require_same_shape("test", "W", 2, 3, "scores", 2, 3));
  CHECK_THROWS_WITH_AS(pollard::require_same_shape("test", "W", 2, 3, "scores", 3, 2),
                       "test: W (2x3) and scores (3x2) differ in shape", pollard::shape_error);
  CHECK_NOTHROW(pollard::require_n_m("test", 2, 4, 8));
  for (auto [n, m] : {std::pair<index_t, index_t>{4, 4}, {0, 4}, {-1, 4}, {5, 4}})
    CHECK_THROWS_WITH_AS(pollard::require_n_m("test", n, m),
                         ("test: N:M needs 0 < N < M (N pruned in each group of M), got " +
                          std::to_string(n) + ":" + std::to_string(m))
                             .c_str(),
                         pollard::option_error);
  CHECK_THROWS_WITH_AS(pollard::require_n_m("test", 2, 4, 10), "test: M=4 does not divide d_in=10",
                       pollard::option_error);
  CHECK_NOTHROW(pollard::require_in_range("test", "sparsity", 0.0, 0.0, 1.0));
  CHECK_THROWS_WITH_AS(pollard::require_in_range("test", "sparsity", 1.0, 0.0, 1.0),
                       "test: sparsity must be in [0, 1), got 1", pollard::option_error);
  CHECK_THROWS_WITH_AS(pollard::require_in_range("test", "sparsity", std::nan(""), 0.0, 1.0),
                       "test: sparsity must be in [0, 1), got nan", pollard::option_error);
  CHECK_NOTHROW(pollard::require_at_least("test", "percdamp", 0.0, 0.0));
  CHECK_THROWS_WITH_AS(pollard::require_at_least("test", "percdamp", -0.5, 0.0),
                       "test: percdamp must be finite and >= 0, got -0.5", pollard::option_error);
  CHECK_THROWS_WITH_AS(
      pollard::require_at_least("test", "percdamp", std::numeric_limits<double>::infinity(), 0.0),
      "test: percdamp must be finite and >= 0, got inf", pollard::option_error);
  CHECK_THROWS_WITH_AS(pollard::require_greater("test", "d", 0.0, 0.0),
                       "test: d must be finite and > 0, got 0", pollard::option_error);
}
