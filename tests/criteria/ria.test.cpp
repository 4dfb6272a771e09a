#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "criteria/criterion_test_driver.hpp"
#include "pollard/criteria/ria.hpp"
#include "support/naive_criteria.hpp"

TEST_CASE("ria scores equal the reference expression with a = 0.5 for every shape and layout") {
  pollard::test::check_against_naive(
      pollard::ria{},
      [](auto w, const std::vector<double>& sq) { return pollard::test::naive_ria(w, sq, 0.5); },
      false);
}

TEST_CASE("ria honours other exponents, including a = 0 (no activation term) and a = 1") {
  for (double a : {0.0, 1.0, 2.5}) {
    CAPTURE(a);
    pollard::test::check_against_naive(
        pollard::ria{.exponent = a},
        [a](auto w, const std::vector<double>& sq) { return pollard::test::naive_ria(w, sq, a); },
        false);
  }
}

TEST_CASE(
    "ria scores a zero weight 0, in an all-zero row or column too, and as the reference "
    "elsewhere") {
  // The reference divides 0 by a zero row/column sum: NaN, which torch.sort and topk rank above
  // every number, so it keeps the existing zeros and prunes live weights in their place. A zero
  // weight costs nothing to prune: ria scores it 0 (the lowest score), the reference value
  // everywhere else.
  pollard::test::dense_matrix<float> w(4, 5);
  const float values[4][5] = {
      {1, -2, 0, 3, 0.5f}, {0, 0, 0, 0, 0}, {2, 1, 0, -1, 4}, {1, 1, 0, 2, -3}};
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 5; ++j) w(i, j) = values[i][j];
  std::vector<float> sq = {1.0f, 0.0f, 2.0f, 4.0f, 9.0f};  // a channel that never fired, too
  pollard::test::dense_matrix<float> s(4, 5);
  pollard::ria{}.score(w.view(), {.sq_norm_per_sample = sq}, s.view());
  const auto ref =
      pollard::test::naive_ria(w.view(), std::vector<double>(sq.begin(), sq.end()), 0.5);
  int zero_weights = 0;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 5; ++j) {
      const double r = ref[static_cast<std::size_t>(i * 5 + j)];
      CAPTURE(i);
      CAPTURE(j);
      CHECK(!std::isnan(s(i, j)));
      if (i == 1 || j == 2) {
        CHECK(std::isnan(r));
        CHECK(s(i, j) == 0.0f);
        ++zero_weights;
      } else {
        CHECK(static_cast<double>(s(i, j)) == doctest::Approx(r).epsilon(1e-6));
      }
    }
  CHECK(zero_weights == 8);
  CHECK(s(0, 1) == 0.0f);  // a channel with Σx² = 0 scores 0 when a > 0
}

TEST_CASE("ria rejects a bad exponent and missing statistics") {
  auto w = pollard::test::random_normal<float>(3, 4, 9);
  pollard::test::dense_matrix<float> s(3, 4);
  std::vector<float> sq(4, 1.0f);
  CHECK_THROWS_WITH_AS(
      pollard::ria{.exponent = -1.0}.score(w.view(), {.sq_norm_per_sample = sq}, s.view()),
      "ria: the exponent a must be finite and >= 0, got -1", pollard::option_error);
  CHECK_THROWS_WITH_AS(pollard::ria{}.score(w.view(), {}, s.view()),
                       "ria: needs sq_norm_per_sample (moment statistics)", pollard::option_error);
  w(2, 1) = -std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS(pollard::ria{}.score(w.view(), {.sq_norm_per_sample = sq}, s.view()),
                       "ria: non-finite W at (2, 1) = -inf", pollard::non_finite_error);
}
