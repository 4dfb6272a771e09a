#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "pollard/stats/gram_accumulator.hpp"
#include "pollard/stats/moment_statistics.hpp"
#include "support/naive_stats.hpp"
#include "support/random.hpp"

using pollard::gram_accumulator;
using pollard::index_t;
using pollard::matrix_view;
using pollard::normalisation;
using pollard::test::dense_matrix;

namespace {

// Largest |a − b| relative to the largest |b| over two d x d matrices (b row-major).
template <class M>
double relative_difference(const M& a, const std::vector<double>& b, index_t d) {
  double diff = 0.0, scale = 0.0;
  for (index_t i = 0; i < d; ++i)
    for (index_t j = 0; j < d; ++j) {
      const double ref = b[static_cast<std::size_t>(i * d + j)];
      diff = std::max(diff, std::abs(static_cast<double>(a(i, j)) - ref));
      scale = std::max(scale, std::abs(ref));
    }
  return scale == 0.0 ? diff : diff / scale;
}

template <class T>
std::vector<T> column_major_copy(const dense_matrix<T>& m) {
  std::vector<T> out(m.values.size());
  for (index_t i = 0; i < m.rows; ++i)
    for (index_t j = 0; j < m.cols; ++j) out[static_cast<std::size_t>(j * m.rows + i)] = m(i, j);
  return out;
}

// Accumulates x in batches of `batch` token rows, each counted as one sequence.
template <class Acc, class T>
gram_accumulator<Acc> in_batches(matrix_view<const T> x, index_t batch,
                                 normalisation n = normalisation::by_sequences) {
  gram_accumulator<Acc> g(x.cols(), n);
  for (index_t t0 = 0; t0 < x.rows(); t0 += batch)
    g.accumulate(x.block(t0, 0, std::min(batch, x.rows() - t0), x.cols()), 1);
  return g;
}

}  // namespace

TEST_CASE("streaming batches give the one-shot (2/N)·XᵀX with N counted in sequences") {
  const index_t shapes[][3] = {{1, 1, 1}, {12, 5, 4}, {90, 37, 30}, {300, 130, 64}, {7, 3, 7}};
  std::uint64_t seed = 40;
  for (const auto& s : shapes) {
    const index_t t = s[0], d = s[1], batch = s[2];
    CAPTURE(t);
    CAPTURE(d);
    const auto x = pollard::test::random_normal<float>(t, d, seed++);
    const matrix_view<const float> xv = x.view();
    const index_t sequences = (t + batch - 1) / batch;
    const auto ref = pollard::test::naive_gram(xv, static_cast<double>(sequences));

    const auto gd = in_batches<double>(xv, batch);
    CHECK(gd.samples() == sequences);
    CHECK(gd.tokens() == t);
    CHECK(relative_difference(gd.hessian(), ref, d) < 1e-12);
    const auto gf = in_batches<float>(xv, batch);
    CHECK(relative_difference(gf.hessian(), ref, d) < 2e-5);

    // Column-major and column-strided views of the same X.
    const auto cm = column_major_copy(x);
    const auto gc = in_batches<float>(matrix_view<const float>(cm.data(), t, d, 1, t), batch);
    CHECK(relative_difference(gc.hessian(), ref, d) < 2e-5);
    auto wide = dense_matrix<float>(t, 2 * d);
    for (index_t i = 0; i < t; ++i)
      for (index_t j = 0; j < d; ++j) wide(i, 2 * j + 1) = x(i, j);
    const auto gs =
        in_batches<float>(matrix_view<const float>(wide.values.data() + 1, t, d, 2 * d, 2), batch);
    CHECK(relative_difference(gs.hessian(), ref, d) < 2e-5);
    // float input into a double accumulator goes through the conversion path.
    const auto gdc = in_batches<double>(matrix_view<const float>(cm.data(), t, d, 1, t), batch);
    CHECK(relative_difference(gdc.hessian(), ref, d) < 1e-12);

    const auto tok = in_batches<double>(xv, batch, normalisation::by_tokens);
    CHECK(tok.samples() == t);
    CHECK(relative_difference(tok.hessian(), pollard::test::naive_gram(xv, static_cast<double>(t)),
                              d) < 1e-12);
  }
}

TEST_CASE("wide tiles and token halves give (2/N)·XᵀX, bit-identical at any thread count") {
  // 576: two tiles of 288 (diagonal ones cut in two panels of 144); 500: tiles of 256 and 244;
  // both with the tokens of the second batch (>= 128) split in halves; 1000: four tiles of 256
  // and 232.
  for (const index_t d : {576, 500, 1000}) {
    CAPTURE(d);
    const index_t t = 300;
    const auto x = pollard::test::random_normal<float>(t, d, static_cast<std::uint64_t>(d));
    const auto ref = pollard::test::naive_gram(x.view(), 2.0);
    std::vector<float> one;
    for (const int threads : {1, 2, 3}) {
      CAPTURE(threads);
      gram_accumulator<float> g(d);
      const auto exec = pollard::cpu::par.threads(threads);
      g.accumulate(exec, x.view().block(0, 0, 20, d), 1);
      g.accumulate(exec, x.view().block(20, 0, t - 20, d), 1);
      const auto h = g.hessian();
      CHECK(relative_difference(h, ref, d) < 2e-5);
      const std::vector<float> values(h.data(), h.data() + d * d);
      if (one.empty())
        one = values;
      else
        CHECK(values == one);
    }
  }
}

TEST_CASE("a batch longer than one update block gives the one-shot Gram matrix in any layout") {
  const index_t t = 777, d = 20;
  const auto x = pollard::test::random_normal<float>(t, d, 31);
  const auto ref = pollard::test::naive_gram(x.view(), 2.0);
  gram_accumulator<float> row_major(d), col_major(d);
  row_major.accumulate(x.view(), 2);
  const auto cm = column_major_copy(x);
  col_major.accumulate(matrix_view<const float>(cm.data(), t, d, 1, t), 2);
  CHECK(relative_difference(row_major.hessian(), ref, d) < 2e-5);
  CHECK(relative_difference(col_major.hessian(), ref, d) < 2e-5);
}

TEST_CASE("a batch holding several sequences and a chunk counting none follow the reference") {
  const index_t t = 60, d = 8;
  const auto x = pollard::test::random_normal<float>(t, d, 77);
  const matrix_view<const float> xv = x.view();
  gram_accumulator<double> g(d);
  g.accumulate(xv.block(0, 0, 20, d), 3);
  g.accumulate(xv.block(20, 0, 30, d), 2);
  g.accumulate(xv.block(50, 0, 10, d), 0);  // the rest of the last sequence
  CHECK(g.sequences() == 5);
  CHECK(relative_difference(g.hessian(), pollard::test::naive_gram(xv, 5.0), d) < 1e-12);
}

TEST_CASE("merging two accumulators gives the H of the union of their batches") {
  const index_t d = 21;
  const auto a = pollard::test::random_normal<float>(50, d, 1);
  const auto b = pollard::test::random_normal<float>(170, d, 2);
  for (auto n : {normalisation::by_sequences, normalisation::by_tokens}) {
    gram_accumulator<double> ga(d, n), gb(d, n), both(d, n);
    ga.accumulate(a.view(), 2);
    gb.accumulate(b.view(), 5);
    both.accumulate(a.view(), 2);
    both.accumulate(b.view(), 5);
    ga.merge(gb);
    CHECK(ga.samples() == both.samples());
    CHECK(ga.tokens() == 220);
    CHECK(ga.sequences() == 7);
    const auto merged = ga.hessian(), joint = both.hessian();
    double diff = 0.0, scale = 0.0;
    for (std::size_t k = 0; k < joint.values().size(); ++k) {
      diff = std::max(diff, std::abs(merged.values()[k] - joint.values()[k]));
      scale = std::max(scale, std::abs(joint.values()[k]));
    }
    CHECK(diff < 1e-12 * scale);
  }
  gram_accumulator<float> empty(d), full(d);
  full.accumulate(a.view(), 2);
  empty.merge(full);
  CHECK(empty.hessian() == full.hessian());
}

TEST_CASE("half and bfloat16 activations give the Gram matrix of their float values") {
  const index_t t = 600, d = 19;  // more rows than one conversion block
  const auto x = pollard::test::random_normal<float>(t, d, 8);
  dense_matrix<pollard::half> xh(t, d);
  dense_matrix<pollard::bfloat16> xb(t, d);
  dense_matrix<float> xh_f(t, d), xb_f(t, d);
  for (std::size_t k = 0; k < x.values.size(); ++k) {
    xh.values[k] = pollard::half(x.values[k]);
    xb.values[k] = pollard::bfloat16(x.values[k]);
    xh_f.values[k] = static_cast<float>(xh.values[k]);
    xb_f.values[k] = static_cast<float>(xb.values[k]);
  }
  gram_accumulator<float> gh(d), gb(d);
  gh.accumulate(xh.view(), 4);
  gb.accumulate(xb.view(), 4);
  CHECK(relative_difference(gh.hessian(), pollard::test::naive_gram(xh_f.view(), 4.0), d) < 2e-5);
  CHECK(relative_difference(gb.hessian(), pollard::test::naive_gram(xb_f.view(), 4.0), d) < 2e-5);
}

TEST_CASE("the diagonal is twice Wanda's sq norm per sample and write_hessian fills both halves") {
  const index_t t = 45, d = 10;
  const auto x = pollard::test::random_normal<float>(t, d, 12);
  gram_accumulator<double> g(d);
  pollard::moment_statistics<double> m(d);
  g.accumulate(x.view(), 3);
  m.accumulate(x.view(), 3);
  const auto diag = g.diagonal();
  for (index_t j = 0; j < d; ++j)
    CHECK(diag[static_cast<std::size_t>(j)] ==
          doctest::Approx(2.0 * m.sq_norm_per_sample(j)).epsilon(1e-12));

  std::vector<float> out(static_cast<std::size_t>(d * d), -1.0f);
  g.write_hessian(matrix_view<float>(out.data(), d, d, 1, d));  // column-major target
  const auto ref = pollard::test::naive_gram(x.view(), 3.0);
  for (index_t i = 0; i < d; ++i)
    for (index_t j = 0; j < d; ++j)
      CHECK(static_cast<double>(out[static_cast<std::size_t>(j * d + i)]) ==
            doctest::Approx(ref[static_cast<std::size_t>(i * d + j)]).epsilon(1e-6));
}

TEST_CASE("the Gram accumulator rejects bad input and leaves H unchanged") {
  gram_accumulator<float> g(6);
  auto x = pollard::test::random_normal<float>(4, 8, 1);
  CHECK_THROWS_WITH_AS(g.accumulate(x.view()),
                       "gram_accumulator: batch is 4x8 but the accumulator has 6 channels",
                       pollard::shape_error);
  CHECK_THROWS_WITH_AS(g.hessian(),
                       "gram_accumulator: hessian asked before any token was accumulated",
                       pollard::empty_statistics_error);
  CHECK_THROWS_WITH_AS(g.diagonal(),
                       "gram_accumulator: diagonal asked before any token was accumulated",
                       pollard::empty_statistics_error);
  auto y = pollard::test::random_normal<float>(4, 6, 2);
  CHECK_THROWS_WITH_AS(g.accumulate(y.view(), 0),
                       "gram_accumulator: the first batch with tokens must count at least one "
                       "sequence (N would be 0)",
                       pollard::option_error);
  g.accumulate(y.view(), 1);
  const auto before = g.hessian();
  auto z = y;
  z(1, 4) = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS(g.accumulate(z.view()), "gram_accumulator: non-finite x at (1, 4) = inf",
                       pollard::non_finite_error);
  CHECK(g.hessian() == before);
  CHECK(g.samples() == 1);
  CHECK(g.tokens() == 4);

  // Finite values large enough to take H past float's range are refused the same way, with H
  // unchanged: their squares (1e20² = 1e40), and a double batch beyond float's range (1e39, which
  // would turn into inf on conversion).
  auto large = y;
  large(2, 3) = -1e20f;
  CHECK_THROWS_WITH_AS(
      g.accumulate(large.view()),
      doctest::Contains("gram_accumulator: x holds values up to |x| = 100000002004087734272,"),
      pollard::non_finite_error);
  CHECK_THROWS_AS(g.accumulate(pollard::cpu::par.threads(1), large.view()),
                  pollard::non_finite_error);
  std::vector<double> beyond(24, 0.5);
  beyond[7] = 1e39;
  CHECK_THROWS_WITH_AS(g.accumulate(matrix_view<const double>(beyond.data(), 4, 6)),
                       doctest::Contains("past the range of its float entries"),
                       pollard::non_finite_error);
  CHECK(g.hessian() == before);
  CHECK(g.samples() == 1);
  // The same values in a double accumulator are fine, and so are large values whose H fits.
  gram_accumulator<double> wide(6);
  wide.accumulate(large.view());
  CHECK(wide.hessian()(3, 3) == doctest::Approx(2.0 * 1e40 / 1.0).epsilon(1e-6));
  auto fits = y;
  fits(0, 0) = 1e18f;  // H(0, 0) about 2e36 / 2 < 3.4e38
  g.accumulate(fits.view());
  CHECK(std::isfinite(g.hessian()(0, 0)));
  CHECK(g.hessian()(0, 0) > 1e35f);

  std::vector<double> small(25);
  CHECK_THROWS_WITH_AS(g.write_hessian(matrix_view<double>(small.data(), 5, 5)),
                       "gram_accumulator: hessian is 6x6 but the output view is 5x5",
                       pollard::shape_error);
  gram_accumulator<float> other(5), tokens(6, normalisation::by_tokens);
  CHECK_THROWS_WITH_AS(g.merge(other), "gram_accumulator: cannot merge 5 channels into 6 channels",
                       pollard::shape_error);
  CHECK_THROWS_AS(g.merge(tokens), pollard::option_error);
}
