#include <doctest/doctest.h>

#include <limits>

#include "criteria/criterion_test_driver.hpp"
#include "pollard/criteria/criterion_input_buffers.hpp"
#include "pollard/criteria/obs.hpp"
#include "support/naive_criteria.hpp"

TEST_CASE("obs scores equal W²/d² for every shape, layout and element type") {
  pollard::test::check_against_naive(
      pollard::obs{},
      [](auto w, const std::vector<double>& d) { return pollard::test::naive_obs(w, d); }, true);
}

TEST_CASE("obs takes its diagonal from a square matrix through the input buffers") {
  const pollard::index_t d_in = 6;
  auto hinv = pollard::test::random_normal<double>(d_in, d_in, 4);
  for (pollard::index_t j = 0; j < d_in; ++j) hinv(j, j) = 0.5 + static_cast<double>(j);
  auto w = pollard::test::random_normal<float>(3, d_in, 5);
  pollard::criterion_input_buffers<float> buffers;
  buffers.set_inverse_hessian(hinv.view());
  pollard::test::dense_matrix<float> s(3, d_in);
  pollard::obs{}.score(w.view(), buffers.inputs(), s.view());
  std::vector<double> diag;
  for (pollard::index_t j = 0; j < d_in; ++j) diag.push_back(hinv(j, j));
  const auto ref = pollard::test::naive_obs(w.view(), diag);
  for (std::size_t k = 0; k < ref.size(); ++k)
    CHECK(static_cast<double>(s.values[k]) == doctest::Approx(ref[k]).epsilon(1e-6));
}

TEST_CASE("obs names a missing or non-positive inverse-Hessian diagonal") {
  static_assert(pollard::needs_of<pollard::obs>().inverse_hessian_diagonal);
  static_assert(!pollard::needs_of<pollard::obs>().sq_norm_per_sample);
  auto w = pollard::test::random_normal<float>(2, 3, 1);
  pollard::test::dense_matrix<float> s(2, 3);
  CHECK_THROWS_WITH_AS(pollard::obs{}.score(w.view(), {}, s.view()),
                       "obs: needs inverse_hessian_diagonal (the diagonal of the inverse Hessian)",
                       pollard::option_error);
  std::vector<float> d = {1.0f, 0.0f, 2.0f};
  CHECK_THROWS_WITH_AS(pollard::obs{}.score(w.view(), {.inverse_hessian_diagonal = d}, s.view()),
                       "obs: inverse_hessian_diagonal at [1] must be finite and > 0, got 0",
                       pollard::option_error);
  d[1] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS(pollard::obs{}.score(w.view(), {.inverse_hessian_diagonal = d}, s.view()),
                       "obs: non-finite inverse_hessian_diagonal at [1] = inf",
                       pollard::non_finite_error);
}
