#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "pollard/stats/moment_statistics.hpp"
#include "support/naive_stats.hpp"
#include "support/random.hpp"

using pollard::index_t;
using pollard::matrix_view;
using pollard::moment_statistics;
using pollard::normalisation;
using pollard::test::dense_matrix;

namespace {

// The same values as m, stored column-major (row stride 1).
template <class T>
std::vector<T> column_major_copy(const dense_matrix<T>& m) {
  std::vector<T> out(m.values.size());
  for (index_t i = 0; i < m.rows; ++i)
    for (index_t j = 0; j < m.cols; ++j) out[static_cast<std::size_t>(j * m.rows + i)] = m(i, j);
  return out;
}

template <class Acc>
void check_against_naive(const moment_statistics<Acc>& s, matrix_view<const float> x, double tol) {
  const auto sums = pollard::test::naive_column_sums(x);
  const auto sq = pollard::test::naive_column_sum_squares(x);
  const auto var = pollard::test::naive_column_variances(x);
  REQUIRE(s.channels() == x.cols());
  CHECK(s.tokens() == x.rows());
  for (index_t j = 0; j < x.cols(); ++j) {
    const auto k = static_cast<std::size_t>(j);
    CHECK(static_cast<double>(s.sum(j)) == doctest::Approx(sums[k]).epsilon(tol));
    CHECK(static_cast<double>(s.sum_squares(j)) == doctest::Approx(sq[k]).epsilon(tol));
    CHECK(static_cast<double>(s.mean(j)) ==
          doctest::Approx(sums[k] / static_cast<double>(x.rows())).epsilon(tol).scale(1.0));
    CHECK(static_cast<double>(s.variance(j)) == doctest::Approx(var[k]).epsilon(tol));
  }
}

}  // namespace

TEST_CASE("moments equal naive double loops for row-major, column-major and strided views") {
  const index_t shapes[][2] = {{1, 1}, {7, 3}, {64, 17}, {129, 5}, {2, 33}};
  std::uint64_t seed = 11;
  for (const auto& shape : shapes) {
    const index_t t = shape[0], d = shape[1];
    CAPTURE(t);
    CAPTURE(d);
    const auto x = pollard::test::random_normal<float>(t, d, seed++);

    moment_statistics<double> row_major(d);
    row_major.accumulate(x.view());
    check_against_naive(row_major, x.view(), 1e-12);

    auto cm = column_major_copy(x);
    moment_statistics<double> col_major(d);
    col_major.accumulate(matrix_view<const float>(cm.data(), t, d, 1, t));
    check_against_naive(col_major, x.view(), 1e-12);

    // Every other column of a wider matrix: column stride 2.
    auto wide = pollard::test::random_normal<float>(t, 2 * d, seed++);
    matrix_view<const float> strided(wide.values.data(), t, d, 2 * d, 2);
    moment_statistics<float> f(d);
    f.accumulate(strided);
    check_against_naive(f, strided, 1e-4);
  }
}

TEST_CASE("accumulating in batches gives the one-shot moments and sq norm per sample") {
  const index_t t = 300, d = 9;
  const auto x = pollard::test::random_normal<float>(t, d, 5);
  moment_statistics<double> s(d);
  // Batches of 1, 2 and 3 sequences of 50 tokens each: 6 sequences in all.
  s.accumulate(x.view().block(0, 0, 50, d), 1);
  s.accumulate(x.view().block(50, 0, 100, d), 2);
  s.accumulate(x.view().block(150, 0, 150, d), 3);
  check_against_naive(s, x.view(), 1e-12);
  CHECK(s.sequences() == 6);
  const auto sq = pollard::test::naive_column_sum_squares(matrix_view<const float>(x.view()));
  const auto by_seq = s.sq_norms_per_sample<float>();
  for (index_t j = 0; j < d; ++j) {
    const auto k = static_cast<std::size_t>(j);
    CHECK(s.sq_norm_per_sample(j) == doctest::Approx(sq[k] / 6.0).epsilon(1e-12));
    CHECK(s.sq_norm_per_sample(j, normalisation::by_tokens) ==
          doctest::Approx(sq[k] / 300.0).epsilon(1e-12));
    CHECK(static_cast<double>(by_seq[k]) == doctest::Approx(sq[k] / 6.0).epsilon(1e-6));
  }
}

TEST_CASE("merging two statistics equals accumulating the union of their batches") {
  const index_t d = 13;
  const auto a = pollard::test::random_normal<float>(40, d, 21);
  const auto b = pollard::test::random_normal<float>(77, d, 22);
  moment_statistics<double> sa(d), sb(d), both(d);
  sa.accumulate(a.view(), 2);
  sb.accumulate(b.view(), 3);
  both.accumulate(a.view(), 2);
  both.accumulate(b.view(), 3);
  sa.merge(sb);
  CHECK(sa.tokens() == both.tokens());
  CHECK(sa.sequences() == both.sequences());
  for (index_t j = 0; j < d; ++j) {
    CHECK(sa.sum(j) == doctest::Approx(both.sum(j)).epsilon(1e-13));
    CHECK(sa.sum_squares(j) == doctest::Approx(both.sum_squares(j)).epsilon(1e-13));
    CHECK(sa.mean(j) == doctest::Approx(both.mean(j)).epsilon(1e-12).scale(1.0));
    CHECK(sa.variance(j) == doctest::Approx(both.variance(j)).epsilon(1e-12));
    CHECK(sa.sq_norm_per_sample(j) == doctest::Approx(both.sq_norm_per_sample(j)).epsilon(1e-13));
  }
  // Merging into an empty statistic copies the other.
  moment_statistics<double> empty(d);
  empty.merge(both);
  CHECK(empty.variance(4) == doctest::Approx(both.variance(4)).epsilon(1e-15));
}

TEST_CASE("variance stays accurate for data with mean 1e4 and standard deviation 1") {
  const index_t t = 4000, d = 4;
  std::mt19937_64 rng(99);
  std::normal_distribution<double> dist(1e4, 1.0);
  dense_matrix<double> x(t, d);
  for (auto& v : x.values) v = dist(rng);
  const auto var = pollard::test::naive_column_variances(matrix_view<const double>(x.view()));

  moment_statistics<double> s(d);
  moment_statistics<float> f(d);
  // Uneven batches and a merge of two halves, so every update path is exercised.
  moment_statistics<double> second(d);
  s.accumulate(x.view().block(0, 0, 1, d));
  s.accumulate(x.view().block(1, 0, 999, d));
  second.accumulate(x.view().block(1000, 0, 3000, d));
  s.merge(second);
  for (index_t t0 = 0; t0 < t; t0 += 500) f.accumulate(x.view().block(t0, 0, 500, d));
  // The data is hard: the textbook float formula Σx²/T − (Σx/T)² is off by more than 10 %.
  float naive_sum = 0.0f, naive_sq = 0.0f;
  for (index_t i = 0; i < t; ++i) {
    const auto v = static_cast<float>(x(i, 0));
    naive_sum += v;
    naive_sq += v * v;
  }
  const float naive_mean = naive_sum / static_cast<float>(t);
  const float naive_var = naive_sq / static_cast<float>(t) - naive_mean * naive_mean;
  CHECK(std::abs(static_cast<double>(naive_var) - var[0]) > 0.1);
  for (index_t j = 0; j < d; ++j) {
    const auto k = static_cast<std::size_t>(j);
    CHECK(var[k] == doctest::Approx(1.0).epsilon(0.1));
    CHECK(s.variance(j) == doctest::Approx(var[k]).epsilon(1e-9));
    // In float, E[x²] − E[x]² would lose every digit here (1e8 · 6e-8 ≈ 6); Welford keeps ~1e-3.
    CHECK(static_cast<double>(f.variance(j)) == doctest::Approx(var[k]).epsilon(2e-2));
  }
}

TEST_CASE("half and bfloat16 activations give the moments of their float values") {
  const index_t t = 37, d = 11;
  const auto x = pollard::test::random_normal<float>(t, d, 3);
  dense_matrix<pollard::half> xh(t, d);
  dense_matrix<pollard::bfloat16> xb(t, d);
  dense_matrix<float> xh_f(t, d), xb_f(t, d);
  for (std::size_t k = 0; k < x.values.size(); ++k) {
    xh.values[k] = pollard::half(x.values[k]);
    xb.values[k] = pollard::bfloat16(x.values[k]);
    xh_f.values[k] = static_cast<float>(xh.values[k]);
    xb_f.values[k] = static_cast<float>(xb.values[k]);
  }
  moment_statistics<double> sh(d), sb(d);
  sh.accumulate(xh.view());
  sb.accumulate(xb.view());
  check_against_naive(sh, xh_f.view(), 1e-12);
  check_against_naive(sb, xb_f.view(), 1e-12);
}

TEST_CASE("moment statistics reject bad input and leave the statistics unchanged") {
  moment_statistics<double> s(6);
  auto x = pollard::test::random_normal<float>(4, 8, 1);
  CHECK_THROWS_WITH_AS(s.accumulate(x.view()),
                       "moment_statistics: batch is 4x8 but the statistics have 6 channels",
                       pollard::shape_error);
  auto y = pollard::test::random_normal<float>(4, 6, 2);
  y(2, 3) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(s.accumulate(y.view()), "moment_statistics: non-finite x at (2, 3) = nan",
                       pollard::non_finite_error);
  y(2, 3) = 0.0f;
  y(3, 5) = -std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS(s.accumulate(y.view()), "moment_statistics: non-finite x at (3, 5) = -inf",
                       pollard::non_finite_error);
  CHECK(s.tokens() == 0);
  CHECK(s.sequences() == 0);
  CHECK(s.sum(5) == 0.0);
  CHECK_THROWS_WITH_AS(s.mean(0), "moment_statistics: mean asked before any token was accumulated",
                       pollard::empty_statistics_error);
  CHECK_THROWS_WITH_AS(s.variance(1),
                       "moment_statistics: variance asked before any token was accumulated",
                       pollard::empty_statistics_error);
  CHECK_THROWS_WITH_AS(
      s.sq_norm_per_sample(2),
      "moment_statistics: sq_norm_per_sample asked before any token was accumulated",
      pollard::empty_statistics_error);
  CHECK_THROWS_WITH_AS(s.sum(6), "moment_statistics: sum(6) is outside the 6 channels",
                       pollard::shape_error);

  // Column-major floats and 16-bit storage go through the same check.
  std::vector<float> cm(24, 1.0f);
  cm[static_cast<std::size_t>(5 * 4 + 1)] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS(s.accumulate(matrix_view<const float>(cm.data(), 4, 6, 1, 4)),
                       "moment_statistics: non-finite x at (1, 5) = inf",
                       pollard::non_finite_error);
  dense_matrix<pollard::half> h(3, 6);
  h(2, 0) = pollard::half(std::numeric_limits<float>::quiet_NaN());
  CHECK_THROWS_WITH_AS(s.accumulate(h.view()), "moment_statistics: non-finite x at (2, 0) = nan",
                       pollard::non_finite_error);
  dense_matrix<pollard::bfloat16> bf(3, 6);
  bf(1, 2) = pollard::bfloat16(-std::numeric_limits<float>::infinity());
  CHECK_THROWS_WITH_AS(s.accumulate(bf.view()), "moment_statistics: non-finite x at (1, 2) = -inf",
                       pollard::non_finite_error);
  CHECK(s.tokens() == 0);

  moment_statistics<double> chunk(6);
  y(3, 5) = 1.0f;
  chunk.accumulate(y.view(), 0);
  CHECK_THROWS_AS(chunk.sq_norm_per_sample(0), pollard::empty_statistics_error);
  CHECK(chunk.sq_norm_per_sample(0, normalisation::by_tokens) > 0.0);
  CHECK_THROWS_WITH_AS(chunk.accumulate(y.view(), -1),
                       "moment_statistics: sequences must be >= 0, got -1", pollard::option_error);
  // Finite values too large for the sums: in float, 1e20² overflows; in double, 1e200² does,
  // and a double 1e39 becomes inf on conversion to float. Nothing changes.
  moment_statistics<float> narrow(6);
  narrow.accumulate(y.view());
  const float sum_before = narrow.sum_squares(4);
  auto large = y;
  large(1, 4) = 1e20f;
  CHECK_THROWS_WITH_AS(narrow.accumulate(large.view()),
                       "moment_statistics: the values of channel 4 are too large for float sums "
                       "(the sum of their squares would be infinite)",
                       pollard::non_finite_error);
  std::vector<double> beyond(24, 0.5);
  beyond[13] = 1e39;  // (2, 1)
  CHECK_THROWS_WITH_AS(narrow.accumulate(matrix_view<const double>(beyond.data(), 4, 6)),
                       doctest::Contains("channel 1 are too large for float sums"),
                       pollard::non_finite_error);
  CHECK(narrow.tokens() == 4);
  CHECK(narrow.sum_squares(4) == sum_before);
  beyond[13] = 1e200;
  CHECK_THROWS_WITH_AS(chunk.accumulate(matrix_view<const double>(beyond.data(), 4, 6)),
                       doctest::Contains("channel 1 are too large for double sums"),
                       pollard::non_finite_error);
  CHECK(chunk.tokens() == 4);
  moment_statistics<double> roomy(6);
  roomy.accumulate(large.view());
  CHECK(roomy.sum_squares(4) == doctest::Approx(1e40).epsilon(1e-6));

  moment_statistics<double> other(5);
  CHECK_THROWS_WITH_AS(chunk.merge(other),
                       "moment_statistics: cannot merge statistics of 5 channels into 6 channels",
                       pollard::shape_error);
}
