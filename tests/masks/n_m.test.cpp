#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <utility>

#include "pollard/core/element_types.hpp"
#include "pollard/masks/mask_policy.hpp"
#include "pollard/masks/n_m.hpp"
#include "pollard/metrics/sparsity.hpp"
#include "support/naive_masks.hpp"
#include "support/random.hpp"

namespace {

using pollard::index_t;
using pollard::test::dense_matrix;

using pollard::test::tied_scores;

/// Number of pruned entries of row i in columns [j0, j0 + m).
index_t pruned_in_window(const pollard::mask& mk, index_t i, index_t j0, index_t m) {
  index_t count = 0;
  for (index_t j = j0; j < j0 + m; ++j) count += mk.pruned(i, j) ? 1 : 0;
  return count;
}

}  // namespace

static_assert(pollard::mask_policy<pollard::n_m, float>);
static_assert(pollard::mask_policy<pollard::n_m, double>);
static_assert(pollard::mask_policy<pollard::n_m, pollard::bfloat16>);
static_assert(pollard::mask_policy<pollard::pruned_of<2, 4>, float>);
static_assert(pollard::mask_policy<pollard::pruned_of<4, 8>, pollard::half>);
static_assert(!pollard::mask_policy<pollard::n_m, int>);
static_assert(pollard::pruned_of<2, 4>::pruned() == 2 &&
              pollard::pruned_of<2, 4>::group_size() == 4);

TEST_CASE_TEMPLATE(
    "N:M mask prunes exactly the N lowest of every window of M, lower column first "
    "on ties",
    T, float, double) {
  const std::pair<index_t, index_t> patterns[] = {{2, 4},  {1, 4}, {3, 4},  {4, 8},  {1, 2},
                                                  {5, 16}, {2, 3}, {7, 80}, {40, 80}};
  std::uint64_t seed = 400;
  for (const auto& [n, m] : patterns)
    for (const index_t rows : {index_t{1}, index_t{3}, index_t{17}})
      for (const index_t windows : {index_t{1}, index_t{5}, index_t{33}}) {
        const index_t cols = windows * m;
        CAPTURE(n);
        CAPTURE(m);
        CAPTURE(rows);
        CAPTURE(cols);
        const auto normal = pollard::test::random_normal<T>(rows, cols, seed += 3);
        const auto tied = tied_scores<T>(rows, cols, 2, seed + 1);
        const auto equal = tied_scores<T>(rows, cols, 1, seed + 2);
        for (const auto* scores : {&normal, &tied, &equal}) {
          const auto got = pollard::n_m::pruned_of(n, m).select(scores->view());
          CHECK(got == pollard::test::naive_n_m(scores->view(), n, m));
          CHECK(pollard::satisfies_n_m(got, n, m));
          CHECK(got.pruned_count() == rows * windows * n);
          for (index_t i = 0; i < rows; ++i)
            for (index_t j0 = 0; j0 < cols; j0 += m) CHECK(pruned_in_window(got, i, j0, m) == n);
        }
      }
}

TEST_CASE("compile-time N:M patterns select the same masks as the run-time policy") {
  const auto scores = tied_scores<float>(9, 64, 3, 41);
  CHECK(pollard::pruned_of<2, 4>{}.select(scores.view()) ==
        pollard::test::naive_n_m(scores.view(), 2, 4));
  CHECK(pollard::pruned_of<4, 8>{}.select(scores.view()) ==
        pollard::test::naive_n_m(scores.view(), 4, 8));
  CHECK(pollard::pruned_of<1, 64>{}.select(scores.view()) ==
        pollard::test::naive_n_m(scores.view(), 1, 64));
  const auto wide = pollard::test::random_normal<double>(2, 256, 42);
  CHECK(pollard::pruned_of<100, 128>{}.select(wide.view()) ==
        pollard::test::naive_n_m(wide.view(), 100, 128));
}

TEST_CASE("N:M hand-worked: 2:4 on 1 3 2 0 | 5 5 5 5 prunes columns 0, 3 and 4, 5") {
  const float values[8] = {1, 3, 2, 0, 5, 5, 5, 5};
  const pollard::matrix_view<const float> scores(values, 1, 8);
  const auto got = pollard::n_m::pruned_of(2, 4).select(scores);
  const bool expected[8] = {true, false, false, true, true, true, false, false};
  for (index_t j = 0; j < 8; ++j) CHECK(got.pruned(0, j) == expected[j]);
}

TEST_CASE("N:M selects on strided views and 16-bit scores like the reference") {
  auto storage = tied_scores<float>(24, 30, 4, 43);
  const pollard::matrix_view<const float> transposed = storage.view().transposed();  // 30 x 24
  CHECK(pollard::n_m::pruned_of(2, 4).select(transposed) ==
        pollard::test::naive_n_m(transposed, 2, 4));
  CHECK(pollard::n_m::pruned_of(3, 8).select(transposed) ==
        pollard::test::naive_n_m(transposed, 3, 8));
  dense_matrix<pollard::half> halves(5, 32);
  const auto normal = pollard::test::random_normal<float>(5, 32, 44);
  for (std::size_t k = 0; k < normal.values.size(); ++k)
    halves.values[k] = pollard::half(normal.values[k]);
  CHECK(pollard::n_m::pruned_of(2, 4).select(halves.view()) ==
        pollard::test::naive_n_m(halves.view(), 2, 4));
}

TEST_CASE("an N:M pattern with N >= M or N <= 0 is an option_error naming N and M") {
  CHECK_THROWS_WITH_AS(pollard::n_m::pruned_of(4, 4),
                       "n_m: N:M needs 0 < N < M (N pruned in each group of M), got 4:4",
                       pollard::option_error);
  CHECK_THROWS_WITH_AS(pollard::n_m::pruned_of(5, 4),
                       "n_m: N:M needs 0 < N < M (N pruned in each group of M), got 5:4",
                       pollard::option_error);
  CHECK_THROWS_WITH_AS(pollard::n_m::pruned_of(0, 4),
                       "n_m: N:M needs 0 < N < M (N pruned in each group of M), got 0:4",
                       pollard::option_error);
  CHECK_THROWS_WITH_AS(pollard::n_m::pruned_of(-1, 4),
                       "n_m: N:M needs 0 < N < M (N pruned in each group of M), got -1:4",
                       pollard::option_error);
}

TEST_CASE("an M that does not divide d_in is an option_error naming M and d_in") {
  const auto scores = pollard::test::random_normal<float>(3, 10, 45);
  CHECK_THROWS_WITH_AS(pollard::n_m::pruned_of(2, 4).select(scores.view()),
                       "n_m: M=4 does not divide d_in=10", pollard::option_error);
  using one_of_three = pollard::pruned_of<1, 3>;
  CHECK_THROWS_WITH_AS(one_of_three{}.select(scores.view()), "n_m: M=3 does not divide d_in=10",
                       pollard::option_error);
}

TEST_CASE("+inf means always keep: a window prunes its finite scores first, then +inf by column") {
  const float inf = std::numeric_limits<float>::infinity();
  // Hand-worked 2:4: inf inf inf 1 -> prune column 3 (finite) and column 0 (first +inf);
  // 5 inf 3 inf -> prune 3 and 5.
  float row[8] = {inf, inf, inf, 1.0f, 5.0f, inf, 3.0f, inf};
  const auto m = pollard::n_m::pruned_of(2, 4).select(pollard::matrix_view<const float>(row, 1, 8));
  CHECK(m.pruned(0, 0));
  CHECK(!m.pruned(0, 1));
  CHECK(!m.pruned(0, 2));
  CHECK(m.pruned(0, 3));
  CHECK(m.pruned(0, 4));
  CHECK(!m.pruned(0, 5));
  CHECK(m.pruned(0, 6));
  CHECK(!m.pruned(0, 7));
  auto scores = pollard::test::random_normal<float>(70, 256, 48);
  for (index_t i = 0; i < 70; ++i)
    for (index_t j = 0; j < 256; j += 3) scores(i, j) = inf;
  const auto v = scores.view();
  for (const auto& [n, m_] : {std::pair<index_t, index_t>{2, 4}, {4, 8}, {3, 16}, {100, 128}})
    CHECK(pollard::n_m::pruned_of(n, m_).select(v) == pollard::test::naive_n_m(v, n, m_));
}

TEST_CASE("a NaN or -inf score is a non_finite_error naming its position") {
  auto scores = pollard::test::random_normal<float>(3, 16, 46);
  scores(1, 6) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(pollard::n_m::pruned_of(2, 4).select(scores.view()),
                       "n_m: non-finite score at (1, 6) = nan", pollard::non_finite_error);
  CHECK_THROWS_WITH_AS(pollard::n_m::pruned_of(1, 16).select(scores.view()),
                       "n_m: non-finite score at (1, 6) = nan", pollard::non_finite_error);
  auto wide = pollard::test::random_normal<double>(2, 256, 47);
  wide(1, 200) = -std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH_AS(pollard::n_m::pruned_of(3, 128).select(wide.view()),
                       "n_m: non-finite score at (1, 200) = -inf", pollard::non_finite_error);
}
