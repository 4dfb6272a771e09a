#include <doctest/doctest.h>

#include "pollard/core/mask.hpp"
#include "pollard/metrics/sparsity.hpp"

TEST_CASE("a new mask keeps everything and counts what is pruned") {
  pollard::mask m(3, 8);
  CHECK(m.pruned_count() == 0);
  CHECK(m.sparsity() == 0.0);
  m.prune(0, 1);
  m.prune(2, 7);
  m.prune(2, 6);
  CHECK(m.pruned_count() == 3);
  CHECK(m.kept_count() == 21);
  CHECK(m.pruned_in_row(2) == 2);
  CHECK(m.sparsity() == doctest::Approx(3.0 / 24.0));
}

TEST_CASE("N:M validity needs at least N pruned in every window of M") {
  pollard::mask m(2, 8);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 8; j += 4) {
      m.prune(i, j);
      m.prune(i, j + 3);
    }
  CHECK(pollard::satisfies_n_m(m, 2, 4));
  CHECK_FALSE(pollard::satisfies_n_m(m, 3, 4));
  CHECK(pollard::satisfies_n_m(m, 1, 2));  // windows start at multiples of M: {0,1}, {2,3}, ...
  CHECK(pollard::satisfies_n_m(m, 4, 8));
  CHECK_FALSE(pollard::satisfies_n_m(m, 5, 8));
  m.keep(1, 7);
  CHECK_FALSE(pollard::satisfies_n_m(m, 2, 4));
  CHECK_THROWS_AS(pollard::satisfies_n_m(m, 4, 4), pollard::option_error);
  CHECK_THROWS_WITH_AS(pollard::satisfies_n_m(m, 2, 3), "satisfies_n_m: M=3 does not divide d_in=8",
                       pollard::option_error);
}

TEST_CASE("apply_mask zeroes exactly the pruned entries of a strided view") {
  float storage[2 * 5] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  pollard::matrix_view<float> v(storage, 2, 2, 5, 2);  // columns 0 and 2 of each row
  pollard::mask m(2, 2);
  m.prune(0, 1);
  m.prune(1, 0);
  pollard::apply_mask(m, v);
  const float expected[10] = {1, 2, 0, 4, 5, 0, 7, 8, 9, 10};
  for (int k = 0; k < 10; ++k) CHECK(storage[k] == expected[k]);
  CHECK_THROWS_AS(pollard::apply_mask(pollard::mask(3, 2), v), pollard::shape_error);
}
