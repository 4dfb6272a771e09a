#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "pollard/masks/layer_allocation.hpp"
#include "support/naive_masks.hpp"
#include "support/random.hpp"

namespace {

using pollard::index_t;

double mean_of(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

/// |normal| scores with a few planted large ones, like Wanda scores with outlier features.
pollard::test::dense_matrix<float> scores_with_outliers(index_t rows, index_t cols,
                                                        double outlier_fraction,
                                                        std::uint64_t seed) {
  auto m = pollard::test::random_normal<float>(rows, cols, seed);
  std::mt19937_64 rng(seed + 1);
  std::bernoulli_distribution outlier(outlier_fraction);
  for (auto& v : m.values) v = std::abs(v) * (outlier(rng) ? 50.0f : 1.0f);
  return m;
}

}  // namespace

TEST_CASE("uniform allocation gives every layer the target sparsity") {
  const auto a = pollard::uniform_allocation(0.6, 5);
  CHECK(a == std::vector<double>(5, 0.6));
  CHECK(pollard::uniform_allocation(0.0, 0).empty());
  CHECK_THROWS_WITH_AS(pollard::uniform_allocation(1.0, 3),
                       "uniform_allocation: sparsity must be in [0, 1), got 1",
                       pollard::option_error);
  CHECK_THROWS_WITH_AS(pollard::uniform_allocation(0.5, -2),
                       "uniform_allocation: layer count must be non-negative, got -2",
                       pollard::option_error);
}

TEST_CASE("outlier ratio hand-worked: one score above 5x the mean of ten is 10 percent") {
  // Nine ones and a 100: mean 10.9, threshold 54.5, one outlier.
  float values[10] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 100};
  const pollard::matrix_view<const float> scores(values, 2, 5);
  CHECK(pollard::outlier_ratio(scores) == doctest::Approx(10.0));
  // With M = 9 the threshold is 98.1: still one; with M = 10 it is 109: none.
  CHECK(pollard::outlier_ratio(scores, 9.0) == doctest::Approx(10.0));
  CHECK(pollard::outlier_ratio(scores, 10.0) == 0.0);
}

TEST_CASE("outlier ratio pools the scores of all linears of a block before taking the mean") {
  // Alone, {1, 1, 1, 30} has mean 8.25 and, at M = 4, threshold 33: no outlier. Pooled with
  // {4, 4, 4, 4}, the mean is 6.5 and the threshold 26: the 30 is one outlier of 8.
  const float a[4] = {4, 4, 4, 4};
  const float b[4] = {1, 1, 1, 30};
  const std::vector<pollard::matrix_view<const float>> block = {{a, 2, 2}, {b, 1, 4}};
  CHECK(pollard::outlier_ratio(std::span(block), 4.0) == doctest::Approx(100.0 / 8.0));
  CHECK(pollard::outlier_ratio(block[1], 4.0) == 0.0);
  std::vector<pollard::matrix_view<const float>> mutable_block = block;
  CHECK(pollard::outlier_ratio(std::span(mutable_block), 4.0) == doctest::Approx(100.0 / 8.0));
}

TEST_CASE("outlier ratio equals the naive reference on random blocks of several linears") {
  for (std::uint64_t seed = 70; seed < 75; ++seed) {
    const auto q = scores_with_outliers(16, 40, 0.01, seed);
    const auto up = scores_with_outliers(24, 40, 0.003, seed + 10);
    const auto down = scores_with_outliers(40, 24, 0.02, seed + 20);
    const std::vector<pollard::matrix_view<const float>> block = {q.view(), up.view(), down.view()};
    for (const double m : {5.0, 3.0, 7.0})
      CHECK(pollard::outlier_ratio(std::span(block), m) ==
            doctest::Approx(pollard::test::naive_outlier_ratio(block, m)).epsilon(1e-12));
  }
}

TEST_CASE("outlier ratio rejects empty blocks, non-finite scores and a bad M") {
  const std::vector<pollard::matrix_view<const float>> none;
  CHECK_THROWS_WITH_AS(pollard::outlier_ratio(std::span(none)),
                       "outlier_ratio: the block has no scores", pollard::shape_error);
  auto s = pollard::test::random_normal<float>(3, 4, 76);
  s(2, 1) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(pollard::outlier_ratio(s.view()),
                       "outlier_ratio: non-finite score at (2, 1) = nan",
                       pollard::non_finite_error);
  s(2, 1) = 1.0f;
  CHECK_THROWS_WITH_AS(pollard::outlier_ratio(s.view(), 0.0),
                       "outlier_ratio: M must be finite and > 0, got 0", pollard::option_error);
}

TEST_CASE("OWL hand-worked with 3 blocks: D = 2, 6, 4 at s = 0.5, lambda = 0.08") {
  // D~ = 0, 0.16, 0.08; mean 0.08; density = 0.42, 0.58, 0.50; sparsity = 0.58, 0.42, 0.50.
  const std::vector<double> d = {2, 6, 4};
  const auto a = pollard::owl_allocation(d, 0.5);
  REQUIRE(a.size() == 3);
  CHECK(a[0] == doctest::Approx(0.58));
  CHECK(a[1] == doctest::Approx(0.42));
  CHECK(a[2] == doctest::Approx(0.50));
}

TEST_CASE("OWL sparsities average to s, span exactly 2 lambda and fall as outliers rise") {
  std::mt19937_64 rng(80);
  std::uniform_real_distribution<double> ratio(0.5, 12.0);
  for (const std::size_t blocks : {std::size_t{2}, std::size_t{5}, std::size_t{32}})
    for (const double s : {0.3, 0.5, 0.7})
      for (const double lambda : {0.0, 0.04, 0.08, 0.2}) {
        std::vector<double> d(blocks);
        for (auto& v : d) v = ratio(rng);
        CAPTURE(blocks);
        CAPTURE(s);
        CAPTURE(lambda);
        const auto a = pollard::owl_allocation(d, s, lambda);
        const auto expected = pollard::test::naive_owl(d, s, lambda);
        REQUIRE(a.size() == blocks);
        for (std::size_t l = 0; l < blocks; ++l)
          CHECK(a[l] == doctest::Approx(expected[l]).epsilon(1e-12));
        CHECK(mean_of(a) == doctest::Approx(s).epsilon(1e-12));
        const auto [lo, hi] = std::minmax_element(a.begin(), a.end());
        CHECK(*hi - *lo == doctest::Approx(2.0 * lambda).epsilon(1e-12));
        for (const double v : a) {
          CHECK(v >= s - 2.0 * lambda - 1e-12);
          CHECK(v <= s + 2.0 * lambda + 1e-12);
        }
        for (std::size_t l = 0; l < blocks; ++l)
          for (std::size_t k = 0; k < blocks; ++k)
            if (d[l] > d[k]) CHECK(a[l] <= a[k]);
      }
}

TEST_CASE("OWL sparsities stay within s +- lambda when the outlier ratios are symmetric") {
  const std::vector<double> d = {1.0, 3.0, 5.0, 7.0, 9.0, 2.0, 8.0};
  const auto a = pollard::owl_allocation(d, 0.6, 0.1);
  CHECK(mean_of(a) == doctest::Approx(0.6));
  for (const double v : a) {
    CHECK(v >= 0.5 - 1e-12);
    CHECK(v <= 0.7 + 1e-12);
  }
}

TEST_CASE("OWL with equal outlier ratios, one block or none is the uniform allocation") {
  CHECK(pollard::owl_allocation(std::vector<double>{3.0, 3.0, 3.0}, 0.7) ==
        std::vector<double>(3, 0.7));
  CHECK(pollard::owl_allocation(std::vector<double>{4.2}, 0.5) == std::vector<double>{0.5});
  CHECK(pollard::owl_allocation(std::vector<double>{}, 0.5).empty());
}

TEST_CASE(
    "OWL rejects a sparsity outside [0, 1), a bad lambda, a non-finite ratio, and a lambda "
    "that pushes a block outside [0, 1)") {
  const std::vector<double> d = {1.0, 2.0, 3.0};
  CHECK_THROWS_WITH_AS(pollard::owl_allocation(d, 1.0),
                       "owl_allocation: sparsity must be in [0, 1), got 1", pollard::option_error);
  CHECK_THROWS_WITH_AS(pollard::owl_allocation(d, -0.1),
                       "owl_allocation: sparsity must be in [0, 1), got -0.1",
                       pollard::option_error);
  CHECK_THROWS_WITH_AS(pollard::owl_allocation(d, 0.5, -0.01),
                       "owl_allocation: lambda must be finite and >= 0, got -0.01",
                       pollard::option_error);
  const std::vector<double> bad = {1.0, std::nan(""), 3.0};
  CHECK_THROWS_WITH_AS(pollard::owl_allocation(bad, 0.5),
                       "owl_allocation: outlier ratio of block 1 is nan", pollard::option_error);
  // s = 0.05, lambda = 0.08: the block with the most outliers would get 0.05 - 0.08 < 0.
  CHECK_THROWS_WITH_AS(pollard::owl_allocation(d, 0.05),
                       "owl_allocation: lambda=0.08 with sparsity 0.05 gives block 2 sparsity "
                       "-0.030000000000000027, outside [0, 1)",
                       pollard::option_error);
  // s = 0.95: the block with the fewest outliers would get 1.03.
  CHECK_THROWS_WITH_AS(pollard::owl_allocation(d, 0.95),
                       "owl_allocation: lambda=0.08 with sparsity 0.95 gives block 0 sparsity "
                       "1.03, outside [0, 1)",
                       pollard::option_error);
}
