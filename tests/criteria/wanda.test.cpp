#include <doctest/doctest.h>

#include <limits>

#include "criteria/criterion_test_driver.hpp"
#include "pollard/criteria/criterion_input_buffers.hpp"
#include "pollard/criteria/wanda.hpp"
#include "pollard/stats/moment_statistics.hpp"
#include "support/naive_criteria.hpp"
#include "support/naive_stats.hpp"

TEST_CASE("wanda scores equal |W|·sqrt(Σx²/N) for every shape, layout and element type") {
  pollard::test::check_against_naive(
      pollard::wanda{},
      [](auto w, const std::vector<double>& sq) { return pollard::test::naive_wanda(w, sq); },
      false);
}

TEST_CASE("wanda fed from moment statistics uses Σx² over the calibration sequences") {
  const pollard::index_t t = 40, d_in = 9, d_out = 5;
  const auto x = pollard::test::random_normal<float>(t, d_in, 6);
  const auto w = pollard::test::random_normal<float>(d_out, d_in, 7);
  pollard::moment_statistics<double> m(d_in);
  m.accumulate(x.view().block(0, 0, 20, d_in), 1);
  m.accumulate(x.view().block(20, 0, 20, d_in), 1);
  pollard::criterion_input_buffers<float> buffers;
  buffers.set_moments(m);
  pollard::test::dense_matrix<float> s(d_out, d_in);
  pollard::wanda{}.score(w.view(), buffers.inputs(), s.view());
  auto sq = pollard::test::naive_column_sum_squares(x.view());
  for (auto& v : sq) v /= 2.0;  // two sequences
  const auto ref = pollard::test::naive_wanda(w.view(), sq);
  for (std::size_t k = 0; k < ref.size(); ++k)
    CHECK(static_cast<double>(s.values[k]) == doctest::Approx(ref[k]).epsilon(1e-6));
}

TEST_CASE("wanda names what is missing or wrong in its inputs") {
  static_assert(pollard::needs_of<pollard::wanda>().sq_norm_per_sample);
  auto w = pollard::test::random_normal<float>(4, 8, 3);
  pollard::test::dense_matrix<float> s(4, 8);
  CHECK_THROWS_WITH_AS(pollard::wanda{}.score(w.view(), {}, s.view()),
                       "wanda: needs sq_norm_per_sample (moment statistics)",
                       pollard::option_error);
  std::vector<float> six(6, 1.0f);
  CHECK_THROWS_WITH_AS(pollard::wanda{}.score(w.view(), {.sq_norm_per_sample = six}, s.view()),
                       "wanda: W is 4x8 but sq_norm_per_sample has 6 channels",
                       pollard::shape_error);
  std::vector<float> eight(8, 1.0f);
  eight[5] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(pollard::wanda{}.score(w.view(), {.sq_norm_per_sample = eight}, s.view()),
                       "wanda: non-finite sq_norm_per_sample at [5] = nan",
                       pollard::non_finite_error);
  eight[5] = -1.0f;
  CHECK_THROWS_WITH_AS(pollard::wanda{}.score(w.view(), {.sq_norm_per_sample = eight}, s.view()),
                       "wanda: sq_norm_per_sample at [5] must be finite and >= 0, got -1",
                       pollard::option_error);
  eight[5] = 1.0f;
  w(0, 7) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(pollard::wanda{}.score(w.view(), {.sq_norm_per_sample = eight}, s.view()),
                       "wanda: non-finite W at (0, 7) = nan", pollard::non_finite_error);
}
