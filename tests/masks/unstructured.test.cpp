#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "pollard/core/element_types.hpp"
#include "pollard/masks/mask_policy.hpp"
#include "pollard/masks/unstructured.hpp"
#include "support/naive_masks.hpp"
#include "support/random.hpp"

namespace {

using pollard::index_t;
using pollard::test::dense_matrix;

using pollard::test::tied_scores;

/// Scores of both signs spanning many orders of magnitude (subnormals to ~1e30).
template <class T>
dense_matrix<T> wide_range_scores(index_t rows, index_t cols, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> exponent(0.0, 25.0);
  std::bernoulli_distribution negative(0.3);
  dense_matrix<T> m(rows, cols);
  for (auto& v : m.values) {
    const double e = std::clamp(exponent(rng), -140.0, 100.0);
    v = static_cast<T>((negative(rng) ? -1.0 : 1.0) * std::exp2(e));
  }
  return m;
}

struct shape {
  index_t rows, cols;
};
const shape shapes[] = {{1, 1},    {1, 7},    {1, 128},  {5, 130},  {7, 257},
                        {3, 1000}, {16, 256}, {33, 300}, {1, 20000}};
const double sparsities[] = {0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99};

template <class T>
std::vector<dense_matrix<T>> score_sets(shape sh, std::uint64_t seed) {
  std::vector<dense_matrix<T>> sets;
  sets.push_back(pollard::test::random_normal<T>(sh.rows, sh.cols, seed));
  sets.push_back(tied_scores<T>(sh.rows, sh.cols, 3, seed + 1));
  sets.push_back(tied_scores<T>(sh.rows, sh.cols, 1, seed + 2));  // all equal
  sets.push_back(wide_range_scores<T>(sh.rows, sh.cols, seed + 3));
  return sets;
}

}  // namespace

static_assert(pollard::mask_policy<pollard::unstructured, float>);
static_assert(pollard::mask_policy<pollard::unstructured, double>);
static_assert(pollard::mask_policy<pollard::unstructured, pollard::half>);
static_assert(pollard::mask_policy<pollard::unstructured, pollard::bfloat16>);
static_assert(!pollard::mask_policy<pollard::unstructured, int>);  // scores are floating point

TEST_CASE_TEMPLATE(
    "per-row mask equals a stable ascending sort of each row and zeroes exactly "
    "floor(d_in*s) weights in every row",
    T, float, double) {
  std::uint64_t seed = 100;
  for (const auto sh : shapes)
    for (const auto& scores : score_sets<T>(sh, seed += 10))
      for (const double s : sparsities) {
        CAPTURE(sh.rows);
        CAPTURE(sh.cols);
        CAPTURE(s);
        const auto got = pollard::unstructured{s, pollard::per_row}.select(scores.view());
        CHECK(got == pollard::test::naive_per_row(scores.view(), s));
        for (index_t i = 0; i < sh.rows; ++i)
          CHECK(got.pruned_in_row(i) ==
                static_cast<index_t>(std::floor(static_cast<double>(sh.cols) * s)));
      }
}

TEST_CASE_TEMPLATE(
    "per-matrix mask prunes exactly floor(rows*cols*s) lowest scores, ties by "
    "row-major position",
    T, float, double) {
  std::uint64_t seed = 200;
  for (const auto sh : shapes)
    for (const auto& scores : score_sets<T>(sh, seed += 10))
      for (const double s : sparsities) {
        CAPTURE(sh.rows);
        CAPTURE(sh.cols);
        CAPTURE(s);
        const auto got = pollard::unstructured{s, pollard::per_matrix}.select(scores.view());
        CHECK(got == pollard::test::naive_per_matrix(scores.view(), s));
        CHECK(got.pruned_count() ==
              static_cast<index_t>(std::floor(static_cast<double>(sh.rows * sh.cols) * s)));
      }
}

TEST_CASE_TEMPLATE(
    "per-column-block mask prunes floor(rows*width*s) lowest in every block of "
    "columns, the last block narrower",
    T, float, double) {
  std::uint64_t seed = 300;
  for (const index_t width : {index_t{128}, index_t{7}, index_t{1}})
    for (const auto sh : shapes)
      for (const auto& scores : score_sets<T>(sh, seed += 10))
        for (const double s : {0.0, 0.3, 0.5, 0.9}) {
          CAPTURE(width);
          CAPTURE(sh.rows);
          CAPTURE(sh.cols);
          CAPTURE(s);
          const auto got =
              pollard::unstructured{s, pollard::per_column_block{width}}.select(scores.view());
          CHECK(got == pollard::test::naive_per_column_block(scores.view(), s, width));
          for (index_t c0 = 0; c0 < sh.cols; c0 += width) {
            const index_t w = std::min(width, sh.cols - c0);
            index_t pruned = 0;
            for (index_t i = 0; i < sh.rows; ++i)
              for (index_t j = c0; j < c0 + w; ++j) pruned += got.pruned(i, j) ? 1 : 0;
            CHECK(pruned == static_cast<index_t>(std::floor(static_cast<double>(sh.rows * w) * s)));
          }
        }
}

TEST_CASE("the default comparison group is per row with column blocks of 128") {
  const pollard::unstructured by_row{0.5};
  CHECK(by_row.comparison_group() == pollard::unstructured::group::row);
  CHECK(by_row.sparsity() == 0.5);
  const pollard::unstructured by_block{0.25, pollard::per_column_block{}};
  CHECK(by_block.comparison_group() == pollard::unstructured::group::column_block);
  CHECK(by_block.block_width() == 128);
  const auto scores = pollard::test::random_normal<float>(3, 300, 5);
  CHECK(by_block.select(scores.view()) ==
        pollard::test::naive_per_column_block(scores.view(), 0.25, 128));
}

TEST_CASE("equal scores are pruned lower column first, and -0 ties with +0") {
  // Hand-worked: row 0 = 2 2 1 2 2 2, s = 0.5 -> prune the 1 (col 2), then cols 0 and 1.
  // Row 1 = +0 -0 +0 -0, s = 0.5 -> cols 0 and 1.
  float values[2][6] = {{2, 2, 1, 2, 2, 2}, {0.0f, -0.0f, 0.0f, -0.0f, 5, 5}};
  const pollard::matrix_view<const float> scores(&values[0][0], 2, 6);
  const auto got = pollard::unstructured{0.5}.select(scores);
  const bool expected[2][6] = {{true, true, true, false, false, false},
                               {true, true, true, false, false, false}};
  for (index_t i = 0; i < 2; ++i)
    for (index_t j = 0; j < 6; ++j) CHECK(got.pruned(i, j) == expected[i][j]);
  // Per matrix, 12 * 0.25 = 3: the four zeros tie, the first three in row-major order go.
  const auto whole = pollard::unstructured{0.25, pollard::per_matrix}.select(scores);
  CHECK(whole.pruned_count() == 3);
  CHECK(whole.pruned(1, 0));
  CHECK(whole.pruned(1, 1));
  CHECK(whole.pruned(1, 2));
  CHECK_FALSE(whole.pruned(1, 3));
}

TEST_CASE("sparsity 0 prunes nothing in any comparison group") {
  const auto scores = tied_scores<float>(9, 140, 2, 11);
  CHECK(pollard::unstructured{0.0}.select(scores.view()).pruned_count() == 0);
  CHECK(pollard::unstructured{0.0, pollard::per_matrix}.select(scores.view()).pruned_count() == 0);
  CHECK(pollard::unstructured{0.0, pollard::per_column_block{}}
            .select(scores.view())
            .pruned_count() == 0);
}

TEST_CASE("strided views, const and non-const, and 16-bit scores select like the reference") {
  auto storage = tied_scores<float>(40, 70, 5, 21);
  const pollard::matrix_view<const float> transposed = storage.view().transposed();  // 70 x 40
  for (const double s : {0.3, 0.6}) {
    CHECK(pollard::unstructured{s}.select(transposed) ==
          pollard::test::naive_per_row(transposed, s));
    CHECK(pollard::unstructured{s, pollard::per_matrix}.select(transposed) ==
          pollard::test::naive_per_matrix(transposed, s));
    CHECK(pollard::unstructured{s, pollard::per_column_block{16}}.select(transposed) ==
          pollard::test::naive_per_column_block(transposed, s, 16));
  }
  const pollard::matrix_view<float> mutable_view = storage.view();
  CHECK(pollard::unstructured{0.5}.select(mutable_view) ==
        pollard::test::naive_per_row(storage.view(), 0.5));

  const auto normal = pollard::test::random_normal<float>(6, 90, 22);
  dense_matrix<pollard::half> halves(6, 90);
  dense_matrix<pollard::bfloat16> brains(6, 90);
  for (std::size_t k = 0; k < normal.values.size(); ++k) {
    halves.values[k] = pollard::half(normal.values[k]);
    brains.values[k] = pollard::bfloat16(normal.values[k]);
  }
  CHECK(pollard::unstructured{0.5}.select(halves.view()) ==
        pollard::test::naive_per_row(halves.view(), 0.5));
  CHECK(pollard::unstructured{0.7, pollard::per_matrix}.select(brains.view()) ==
        pollard::test::naive_per_matrix(brains.view(), 0.7));
}

TEST_CASE("empty score matrices give empty masks") {
  const pollard::matrix_view<const float> none(nullptr, 0, 5);
  CHECK(pollard::unstructured{0.5}.select(none).size() == 0);
  CHECK(pollard::unstructured{0.5, pollard::per_matrix}.select(none).size() == 0);
  CHECK(pollard::unstructured{0.5, pollard::per_column_block{}}.select(none).size() == 0);
}

TEST_CASE("a sparsity outside [0, 1) or a non-positive block width is an option_error naming it") {
  CHECK_THROWS_WITH_AS(pollard::unstructured{1.0},
                       "unstructured: sparsity must be in [0, 1), got 1", pollard::option_error);
  CHECK_THROWS_WITH_AS(pollard::unstructured(-0.1, pollard::per_matrix),
                       "unstructured: sparsity must be in [0, 1), got -0.1", pollard::option_error);
  CHECK_THROWS_WITH_AS(pollard::unstructured(std::nan(""), pollard::per_row),
                       "unstructured: sparsity must be in [0, 1), got nan", pollard::option_error);
  CHECK_THROWS_WITH_AS(pollard::unstructured(0.5, pollard::per_column_block{0}),
                       "unstructured: column block width must be positive, got 0",
                       pollard::option_error);
}

TEST_CASE("a NaN or -inf score is a non_finite_error naming its position, in every group") {
  auto scores = pollard::test::random_normal<float>(4, 300, 31);
  scores(2, 131) = std::numeric_limits<float>::quiet_NaN();
  for (const double s : {0.0, 0.5}) {
    CHECK_THROWS_WITH_AS(pollard::unstructured{s}.select(scores.view()),
                         "unstructured: non-finite score at (2, 131) = nan",
                         pollard::non_finite_error);
    CHECK_THROWS_WITH_AS(pollard::unstructured(s, pollard::per_matrix).select(scores.view()),
                         "unstructured: non-finite score at (2, 131) = nan",
                         pollard::non_finite_error);
    CHECK_THROWS_WITH_AS(
        pollard::unstructured(s, pollard::per_column_block{}).select(scores.view()),
        "unstructured: non-finite score at (2, 131) = nan", pollard::non_finite_error);
  }
  scores(2, 131) = 1.0f;
  scores(0, 4) = -std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS(pollard::unstructured{0.5}.select(scores.view()),
                       "unstructured: non-finite score at (0, 4) = -inf",
                       pollard::non_finite_error);
  auto doubles = pollard::test::random_normal<double>(3, 10, 32);
  doubles(1, 9) = -std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH_AS(pollard::unstructured(0.5, pollard::per_matrix).select(doubles.view()),
                       "unstructured: non-finite score at (1, 9) = -inf",
                       pollard::non_finite_error);
}

TEST_CASE(
    "+inf means always keep: pruned only when a group must prune more than its finite "
    "scores, then by position") {
  const float inf = std::numeric_limits<float>::infinity();
  // Hand-worked: per row at s = 0.75 prunes 3 of 4: the finite 1 and 2, then the first +inf.
  float row[4] = {inf, 1.0f, inf, 2.0f};
  const auto m = pollard::unstructured{0.75}.select(pollard::matrix_view<const float>(row, 1, 4));
  CHECK(m.pruned(0, 0));
  CHECK(m.pruned(0, 1));
  CHECK(!m.pruned(0, 2));
  CHECK(m.pruned(0, 3));
  // Random groups with +inf sprinkled in, a row of +inf only and a column of +inf only: the same
  // masks as a stable ascending sort (+inf sorts above every finite score).
  for (const std::uint64_t seed : {81u, 82u}) {
    auto scores = pollard::test::random_normal<float>(9, 300, seed);
    std::mt19937_64 rng(seed);
    for (int t = 0; t < 400; ++t)
      scores(static_cast<index_t>(rng() % 9), static_cast<index_t>(rng() % 300)) = inf;
    for (index_t j = 0; j < 300; ++j) scores(4, j) = inf;
    for (index_t i = 0; i < 9; ++i) scores(i, 7) = inf;
    const auto v = scores.view();
    for (const double s : {0.3, 0.5, 0.9}) {
      CAPTURE(s);
      CHECK(pollard::unstructured{s}.select(v) == pollard::test::naive_per_row(v, s));
      CHECK(pollard::unstructured(s, pollard::per_matrix).select(v) ==
            pollard::test::naive_per_matrix(v, s));
      CHECK(pollard::unstructured(s, pollard::per_column_block{64}).select(v) ==
            pollard::test::naive_per_column_block(v, s, 64));
    }
  }
}
