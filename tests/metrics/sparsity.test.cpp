// Tests for pollard/metrics/sparsity.hpp: zero counts, sparsity and N:M validity on weights.
#include "pollard/metrics/sparsity.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "pollard/core/element_types.hpp"
#include "support/random.hpp"

using namespace pollard;

namespace {

// A 3x8 matrix with a hand-placed zero pattern: row 0 is 2:4, row 1 is 4:8 but not 2:4, row 2
// has a -0 and a NaN.
template <class T>
test::dense_matrix<T> hand_made() {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float values[3][8] = {
      {0, 1, 0, 2, 3, 0, 0, 4}, {0, 0, 0, 0, 1, 2, 3, 4}, {-0.0f, 1, nan, 2, 3, 4, 5, 6}};
  test::dense_matrix<T> m(3, 8);
  for (index_t i = 0; i < 3; ++i)
    for (index_t j = 0; j < 8; ++j) m(i, j) = from_compute<T>(values[i][j]);
  return m;
}

}  // namespace

TEST_CASE_TEMPLATE("zero counts and sparsity of a hand-made matrix count +0 and -0 but not NaN", T,
                   float, double, half, bfloat16) {
  const auto m = hand_made<T>();
  const auto rows = zeros_per_row(m.view());
  CHECK(rows == std::vector<index_t>{4, 4, 1});
  CHECK(zero_count(m.view()) == 9);
  CHECK(sparsity(m.view()) == doctest::Approx(9.0 / 24.0));
}

TEST_CASE_TEMPLATE("satisfies_n_m checks every aligned window of every row", T, float, double, half,
                   bfloat16) {
  auto m = hand_made<T>();
  const auto top = m.view().block(0, 0, 1, 8);
  CHECK(satisfies_n_m(top, 2, 4));
  CHECK(satisfies_n_m(top, 4, 8));
  CHECK_FALSE(satisfies_n_m(top, 3, 4));
  const auto second = m.view().block(1, 0, 1, 8);
  CHECK(satisfies_n_m(second, 4, 8));
  CHECK_FALSE(satisfies_n_m(second, 2, 4));    // the second window has no zero
  CHECK(satisfies_n_m(m.view(), 1, 8));        // row 2 has exactly one zero (the -0)
  CHECK_FALSE(satisfies_n_m(m.view(), 2, 8));  // ... so not two
}

TEST_CASE("satisfies_n_m is false as soon as a single row misses one zero in a window") {
  // The row 2 window [0, 8) has exactly one zero (the -0): 1:8 must hold for rows 0 and 1 and 2.
  auto m = hand_made<float>();
  m(2, 2) = 0.5f;  // replace the NaN
  CHECK(satisfies_n_m(m.view(), 1, 8));
  m(2, 0) = 1.0f;  // row 2 now has no zero
  CHECK_FALSE(satisfies_n_m(m.view(), 1, 8));
}

TEST_CASE("N:M validity of a random matrix agrees with a window-by-window count") {
  for (index_t cols : {4, 8, 12, 64}) {
    auto m = test::random_normal<float>(7, cols, 11 + static_cast<std::uint64_t>(cols));
    // zero the two smallest-index entries of every window except in one row
    for (index_t i = 0; i < 7; ++i)
      for (index_t j0 = 0; j0 < cols; j0 += 4) {
        m(i, j0 + 1) = 0.0f;
        if (i != 3 || j0 != cols - 4) m(i, j0 + 3) = 0.0f;
      }
    CHECK_FALSE(satisfies_n_m(m.view(), 2, 4));
    CHECK(satisfies_n_m(m.view(), 1, 4));
    m(3, cols - 1) = 0.0f;
    CHECK(satisfies_n_m(m.view(), 2, 4));
    CHECK(zero_count(m.view()) == 7 * cols / 2);
  }
}

TEST_CASE("sparsity works on strided views and is 0 for an empty matrix") {
  auto m = hand_made<float>();
  // the transposed view has the same zeros
  CHECK(zero_count(m.view().transposed()) == 9);
  CHECK(zeros_per_row(m.view().transposed()).size() == 8);
  test::dense_matrix<float> empty(0, 4);
  CHECK(sparsity(empty.view()) == 0.0);
  CHECK(zeros_per_row(empty.view()).empty());
  CHECK(satisfies_n_m(empty.view(), 2, 4));
}

TEST_CASE("satisfies_n_m rejects N >= M, N <= 0 and M not dividing the columns") {
  const auto m = hand_made<half>();
  CHECK_THROWS_WITH_AS(satisfies_n_m(m.view(), 4, 4),
                       "satisfies_n_m: N:M needs 0 < N < M (N pruned in each group of M), got 4:4",
                       option_error);
  CHECK_THROWS_WITH_AS(satisfies_n_m(m.view(), 0, 4),
                       "satisfies_n_m: N:M needs 0 < N < M (N pruned in each group of M), got 0:4",
                       option_error);
  CHECK_THROWS_WITH_AS(satisfies_n_m(m.view(), 2, 3), "satisfies_n_m: M=3 does not divide d_in=8",
                       option_error);
}
