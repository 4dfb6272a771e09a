#include <doctest/doctest.h>

#include <vector>

#include "pollard/criteria/criterion_input_buffers.hpp"
#include "pollard/stats/moment_statistics.hpp"
#include "support/naive_stats.hpp"
#include "support/random.hpp"

TEST_CASE("input buffers carry Σx²/N from moment statistics with either normalisation") {
  const auto x = pollard::test::random_normal<float>(30, 6, 2);
  pollard::moment_statistics<double> m(6);
  m.accumulate(x.view(), 3);
  const auto sq = pollard::test::naive_column_sum_squares(x.view());
  pollard::criterion_input_buffers<double> by_seq, by_tok;
  by_seq.set_moments(m);
  by_tok.set_moments(m, pollard::normalisation::by_tokens);
  const auto a = by_seq.inputs(), b = by_tok.inputs();
  REQUIRE(a.sq_norm_per_sample.size() == 6);
  CHECK(a.inverse_hessian_diagonal.empty());
  for (std::size_t j = 0; j < 6; ++j) {
    CHECK(a.sq_norm_per_sample[j] == doctest::Approx(sq[j] / 3.0).epsilon(1e-12));
    CHECK(b.sq_norm_per_sample[j] == doctest::Approx(sq[j] / 30.0).epsilon(1e-12));
  }
}

TEST_CASE("input buffers copy given channel values and take a square matrix's diagonal") {
  const std::vector<double> scaler_row = {1.0, 2.0, 3.0};
  pollard::criterion_input_buffers<float> buffers;
  buffers.set_sq_norm_per_sample(std::span<const double>(scaler_row))
      .set_inverse_hessian_diagonal(std::span<const double>(scaler_row));
  const auto in = buffers.inputs();
  CHECK(in.sq_norm_per_sample[2] == 3.0f);
  CHECK(in.inverse_hessian_diagonal[1] == 2.0f);

  pollard::test::dense_matrix<pollard::half> h(3, 3);
  for (int j = 0; j < 3; ++j) h(j, j) = pollard::half(0.5f * static_cast<float>(j + 1));
  buffers.set_inverse_hessian(h.view());
  CHECK(buffers.inputs().inverse_hessian_diagonal[2] == 1.5f);

  pollard::test::dense_matrix<double> rect(3, 4);
  CHECK_THROWS_WITH_AS(buffers.set_inverse_hessian(rect.view()),
                       "criterion inputs: the inverse Hessian must be square, got 3x4",
                       pollard::shape_error);
}

TEST_CASE("moment statistics that saw no token are reported as empty, not as a missing input") {
  pollard::moment_statistics<double> none(4);
  pollard::criterion_input_buffers<float> buffers;
  CHECK_THROWS_WITH_AS(buffers.set_moments(none),
                       "criterion inputs: the moment statistics are empty (no calibration tokens)",
                       pollard::empty_statistics_error);
  CHECK(buffers.inputs().sq_norm_per_sample.empty());  // nothing set
}
