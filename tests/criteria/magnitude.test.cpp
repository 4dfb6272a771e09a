#include <doctest/doctest.h>

#include <limits>

#include "criteria/criterion_test_driver.hpp"
#include "pollard/criteria/magnitude.hpp"
#include "support/naive_criteria.hpp"

TEST_CASE("magnitude scores equal |W| for every shape, layout and element type") {
  pollard::test::check_against_naive(
      pollard::magnitude{},
      [](auto w, const std::vector<double>&) { return pollard::test::naive_magnitude(w); }, false);
}

TEST_CASE("magnitude needs no statistics and rejects bad shapes and non-finite weights") {
  static_assert(!pollard::needs_of<pollard::magnitude>().sq_norm_per_sample);
  static_assert(!pollard::needs_of<pollard::magnitude>().inverse_hessian_diagonal);
  auto w = pollard::test::random_normal<float>(4, 8, 3);
  pollard::test::dense_matrix<float> s(4, 7);
  CHECK_THROWS_WITH_AS(pollard::magnitude{}.score(w.view(), {}, s.view()),
                       "magnitude: W (4x8) and scores (4x7) differ in shape", pollard::shape_error);
  pollard::test::dense_matrix<float> ok(4, 8);  // zero-initialised
  w(3, 0) = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS(pollard::magnitude{}.score(w.view(), {}, ok.view()),
                       "magnitude: non-finite W at (3, 0) = inf", pollard::non_finite_error);
  for (float v : ok.values) CHECK(v == 0.0f);  // nothing written before the throw
}
