#include "pollard/solvers/dsnot.hpp"
#include "pollard/metrics/sparsity.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>
#include <vector>

#include "support/naive_dsnot.hpp"
#include "support/random.hpp"

using pollard::index_t;
using namespace pollard::test;

namespace {

// Per-row mask pruning the k lowest scores (ties: lower column first).
pollard::mask lowest_per_row(const dense_matrix<double>& scores, index_t k) {
  pollard::mask m(scores.rows, scores.cols);
  for (index_t i = 0; i < scores.rows; ++i) {
    std::vector<index_t> order(static_cast<std::size_t>(scores.cols));
    std::iota(order.begin(), order.end(), index_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](index_t a, index_t b) { return scores(i, a) < scores(i, b); });
    for (index_t t = 0; t < k; ++t) m.prune(i, order[static_cast<std::size_t>(t)]);
  }
  return m;
}

// Per row and window of m columns, the n lowest scores.
pollard::mask lowest_n_of_m(const dense_matrix<double>& scores, index_t n, index_t m) {
  pollard::mask out(scores.rows, scores.cols);
  for (index_t i = 0; i < scores.rows; ++i)
    for (index_t j0 = 0; j0 < scores.cols; j0 += m) {
      std::vector<index_t> order(static_cast<std::size_t>(m));
      std::iota(order.begin(), order.end(), j0);
      std::stable_sort(order.begin(), order.end(),
                       [&](index_t a, index_t b) { return scores(i, a) < scores(i, b); });
      for (index_t t = 0; t < n; ++t) out.prune(i, order[static_cast<std::size_t>(t)]);
    }
  return out;
}

double expected_error(const dense_matrix<double>& w, const pollard::mask& m,
                      const std::vector<double>& mean, index_t i) {
  double e = 0.0;
  for (index_t j = 0; j < w.cols; ++j)
    if (m.pruned(i, j)) e += w(i, j) * mean[static_cast<std::size_t>(j)];
  return e;
}

struct random_layer {
  dense_matrix<double> w, scores;
  std::vector<double> mean, variance;
};

random_layer make_random_layer(index_t rows, index_t cols, std::uint64_t seed) {
  random_layer l;
  l.w = random_normal<double>(rows, cols, seed);
  const auto stats = random_normal<double>(2, cols, seed + 1);
  for (index_t j = 0; j < cols; ++j) {
    l.mean.push_back(0.5 + stats(0, j));
    l.variance.push_back(0.2 + std::abs(stats(1, j)));
  }
  l.scores = dense_matrix<double>(rows, cols);
  for (index_t i = 0; i < rows; ++i)
    for (index_t j = 0; j < cols; ++j)
      l.scores(i, j) = std::abs(l.w(i, j)) * std::sqrt(l.variance[static_cast<std::size_t>(j)] +
                                                       l.mean[static_cast<std::size_t>(j)] *
                                                           l.mean[static_cast<std::size_t>(j)]);
  return l;
}

}  // namespace

TEST_CASE("dsnot hand-worked row: variance-ranked regrowth, sign-opposite pruning, stop on sign") {
  // m = W·E[x] = [2, −0.5, 0.5, 1, −0.6, 0.4]; pruned {2, 3, 5}: e = 1.9.
  // Regrowth keys m/Var = [., ., 0.125, 0.1, ., 0.4]: regrow 5 first, then 2.
  // Prune order (kept by score, negative contributions first): 1 (score 2), 4 (score 3), 0.
  // Swap 1: e = 1.9 − 0.5 − 0.4 = 1.0, accepted. Swap 2: 1.0 − 0.6 − 0.5 = −0.1 flips: stop.
  dense_matrix<double> w(1, 6), scores(1, 6);
  const double wv[] = {2, -1, 0.5, 1, -3, 0.2};
  const double sv[] = {5, 2, 0.1, 0.2, 3, 0.3};
  for (index_t j = 0; j < 6; ++j) {
    w(0, j) = wv[j];
    scores(0, j) = sv[j];
  }
  const std::vector<double> mean = {1, 0.5, 1, 1, 0.2, 2};
  const std::vector<double> variance = {1, 1, 4, 10, 1, 1};
  const auto initial = lowest_per_row(scores, 3);
  REQUIRE(initial.pruned(0, 2));
  REQUIRE(initial.pruned(0, 3));
  REQUIRE(initial.pruned(0, 5));
  const pollard::unstructured half(0.5);
  const auto refined =
      pollard::dsnot<double, double>(w.view(), initial, mean, variance, scores.view(), half);
  pollard::mask expected(1, 6);
  expected.prune(0, 1);
  expected.prune(0, 2);
  expected.prune(0, 3);
  CHECK(refined == expected);

  // Without the variance in the ranking, 3 (m = 1) is regrown first: 1.9 − 0.5 − 1 = 0.4, then
  // 0.4 − 0.6 − 0.5 < 0 stops.
  pollard::dsnot_options o;
  o.variance_power = 0.0;
  const auto plain =
      pollard::dsnot<double, double>(w.view(), initial, mean, variance, scores.view(), half, o);
  pollard::mask expected_plain(1, 6);
  expected_plain.prune(0, 1);
  expected_plain.prune(0, 2);
  expected_plain.prune(0, 5);
  CHECK(plain == expected_plain);

  // max_cycles 0 keeps the mask; a threshold above |e| = 1.9 too.
  o.max_cycles = 0;
  CHECK(pollard::dsnot<double, double>(w.view(), initial, mean, variance, scores.view(), half, o) ==
        initial);
  o.max_cycles = 50;
  o.update_threshold = 2.0;
  CHECK(pollard::dsnot<double, double>(w.view(), initial, mean, variance, scores.view(), half, o) ==
        initial);
}

TEST_CASE("dsnot hand-worked 2:4 row: the swap stays in the regrown weight's window") {
  // m = W = [1, 0.2, −0.3, 2, 0.1, 3, 0.05, 0.4]; 2:4 by score prunes {1, 2} and {4, 7}:
  // e = 0.2 − 0.3 + 0.1 + 0.4 = 0.4. Regrow 7 (largest), prune the lowest-scored weight kept in
  // columns 4..7: 6 (score 0.6): e = 0.4 + 0.05 − 0.4 = 0.05 <= 0.1, stop.
  dense_matrix<double> w(1, 8), scores(1, 8);
  const double wv[] = {1, 0.2, -0.3, 2, 0.1, 3, 0.05, 0.4};
  const double sv[] = {1, 0.2, 0.3, 2, 0.1, 3, 0.6, 0.5};
  for (index_t j = 0; j < 8; ++j) {
    w(0, j) = wv[j];
    scores(0, j) = sv[j];
  }
  const std::vector<double> mean(8, 1.0), variance(8, 1.0);
  const auto initial = lowest_n_of_m(scores, 2, 4);
  const auto refined = pollard::dsnot<double, double>(w.view(), initial, mean, variance,
                                                      scores.view(), pollard::n_m::pruned_of(2, 4));
  pollard::mask expected(1, 8);
  for (index_t j : {1, 2, 4, 6}) expected.prune(0, j);
  CHECK(refined == expected);
}

TEST_CASE("dsnot keeps each row's pruned count, N:M validity and the sign of e_i") {
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    const auto l = make_random_layer(24, 64, seed);
    for (bool n_m : {false, true}) {
      CAPTURE(n_m);
      const auto initial = n_m ? lowest_n_of_m(l.scores, 2, 4) : lowest_per_row(l.scores, 32);
      const auto refined =
          n_m ? pollard::dsnot<double, double>(l.w.view(), initial, l.mean, l.variance,
                                               l.scores.view(), pollard::pruned_of<2, 4>{})
              : pollard::dsnot<double, double>(l.w.view(), initial, l.mean, l.variance,
                                               l.scores.view(), pollard::unstructured(0.5));
      CHECK(refined != initial);
      for (index_t i = 0; i < 24; ++i) {
        CHECK(refined.pruned_in_row(i) == initial.pruned_in_row(i));
        const double before = expected_error(l.w, initial, l.mean, i);
        const double after = expected_error(l.w, refined, l.mean, i);
        if (std::abs(before) > 0.1) CHECK(after * before > 0.0);
        if (std::abs(before) <= 0.1)
          for (index_t j = 0; j < 64; ++j) CHECK(refined.pruned(i, j) == initial.pruned(i, j));
      }
      if (n_m) CHECK(pollard::satisfies_n_m(refined, 2, 4));
    }
  }
}

TEST_CASE("dsnot hand-worked row: the row ends when no kept weight of the opposite sign is left") {
  // m = W·E[x] = W = [0.5, 0.3, 0.2 | −0.1, 0.4, 0.6]; the three lowest scores prune {0, 1, 2}:
  // e = 1.0. Swap 1: regrow 0, prune 3 (the only kept weight with m < 0): e = 0.4. Swap 2 would
  // prune a kept weight with m > 0 (4, the highest score, next in the reference's order), which
  // makes e larger (0.4 + 0.4 − 0.3 = 0.5): the row ends there.
  dense_matrix<double> w(1, 6), scores(1, 6);
  const double wv[] = {0.5, 0.3, 0.2, -0.1, 0.4, 0.6};
  const double sv[] = {0.1, 0.2, 0.3, 1, 9, 8};
  for (index_t j = 0; j < 6; ++j) {
    w(0, j) = wv[j];
    scores(0, j) = sv[j];
  }
  const std::vector<double> mean(6, 1.0), variance(6, 1.0);
  const auto initial = lowest_per_row(scores, 3);
  const auto refined = pollard::dsnot<double, double>(w.view(), initial, mean, variance,
                                                      scores.view(), pollard::unstructured(0.5));
  pollard::mask expected(1, 6);
  for (index_t j : {1, 2, 3}) expected.prune(0, j);
  CHECK(refined == expected);
}

TEST_CASE("dsnot never widens a row's expected error, in narrow layers and one-signed rows too") {
  // Narrow rows and channel means of one sign exhaust the helpful candidates of a row within
  // max_cycles: then no swap may make |e_i| larger, flip its sign or change a group's count.
  for (const index_t cols : {8, 16, 64}) {
    for (const double mean_offset : {0.5, 3.0}) {
      auto l = make_random_layer(48, cols, 100 + static_cast<std::uint64_t>(cols));
      for (auto& m : l.mean) m += mean_offset - 0.5;
      const pollard::unstructured per_row(0.5);
      const pollard::unstructured per_block(0.5, pollard::per_column_block{8});
      const auto by_row = lowest_per_row(l.scores, cols / 2);
      const auto by_block = per_block.select(l.scores.view());
      const auto by_n_m = lowest_n_of_m(l.scores, 2, 4);
      const std::pair<pollard::mask, pollard::mask> cases[] = {
          {by_row, pollard::dsnot<double, double>(l.w.view(), by_row, l.mean, l.variance,
                                                  l.scores.view(), per_row)},
          {by_block, pollard::dsnot<double, double>(l.w.view(), by_block, l.mean, l.variance,
                                                    l.scores.view(), per_block)},
          {by_n_m, pollard::dsnot<double, double>(l.w.view(), by_n_m, l.mean, l.variance,
                                                  l.scores.view(), pollard::pruned_of<2, 4>{})}};
      for (const auto& [initial, refined] : cases) {
        CAPTURE(cols);
        CAPTURE(mean_offset);
        CHECK(refined.pruned_count() == initial.pruned_count());
        for (index_t i = 0; i < l.w.rows; ++i) {
          CAPTURE(i);
          const double before = expected_error(l.w, initial, l.mean, i);
          const double after = expected_error(l.w, refined, l.mean, i);
          CHECK(std::abs(after) <= std::abs(before));
          if (refined.pruned_in_row(i) != initial.pruned_in_row(i) || after != before)
            CHECK(after * before > 0.0);
        }
      }
      CHECK(pollard::satisfies_n_m(cases[2].second, 2, 4));
    }
  }
}

TEST_CASE("dsnot reduces the expected output error of rows where it acts") {
  double total_before = 0.0, total_after = 0.0;
  for (std::uint64_t seed = 10; seed <= 12; ++seed) {
    const auto l = make_random_layer(32, 128, seed);
    const auto initial = lowest_per_row(l.scores, 64);
    const auto refined = pollard::dsnot<double, double>(
        l.w.view(), initial, l.mean, l.variance, l.scores.view(), pollard::unstructured(0.5));
    for (index_t i = 0; i < 32; ++i) {
      const double before = std::abs(expected_error(l.w, initial, l.mean, i));
      const double after = std::abs(expected_error(l.w, refined, l.mean, i));
      CHECK(after <= before);
      total_before += before;
      total_after += after;
    }
  }
  CHECK(total_after < 0.5 * total_before);
}

TEST_CASE("dsnot rejects mismatched shapes, bad statistics and a non-N:M initial mask") {
  const auto l = make_random_layer(4, 8, 3);
  const auto initial = lowest_per_row(l.scores, 4);
  const pollard::unstructured half(0.5);
  const auto refine = [](auto&&... arguments) {
    return pollard::dsnot<double, double>(arguments...);
  };
  CHECK_THROWS_WITH_AS(
      refine(l.w.view(), pollard::mask(3, 8), l.mean, l.variance, l.scores.view(), half),
      "dsnot: weights are 4x8 but the mask is 3x8", pollard::shape_error);
  std::vector<double> short_mean(l.mean.begin(), l.mean.end() - 1);
  CHECK_THROWS_WITH_AS(refine(l.w.view(), initial, short_mean, l.variance, l.scores.view(), half),
                       "dsnot: weights are 4x8 but the statistics have 7 means and 8 variances",
                       pollard::shape_error);
  dense_matrix<double> scores(4, 6);
  CHECK_THROWS_WITH_AS(refine(l.w.view(), initial, l.mean, l.variance, scores.view(), half),
                       "dsnot: weights are 4x8 but the scores are 4x6", pollard::shape_error);
  auto variance = l.variance;
  variance[5] = -1.0;
  CHECK_THROWS_WITH_AS(refine(l.w.view(), initial, l.mean, variance, l.scores.view(), half),
                       "dsnot: negative variance -1 of channel 5", pollard::option_error);
  auto mean = l.mean;
  mean[2] = std::nan("");
  variance[2] = 2.0;
  CHECK_THROWS_WITH_AS(refine(l.w.view(), initial, mean, variance, l.scores.view(), half),
                       "dsnot: non-finite statistics of channel 2: mean nan, variance 2",
                       pollard::non_finite_error);
  pollard::mask not_n_m(4, 8);
  not_n_m.prune(0, 0);
  CHECK_THROWS_WITH_AS(refine(l.w.view(), not_n_m, l.mean, l.variance, l.scores.view(),
                              pollard::n_m::pruned_of(2, 4)),
                       "dsnot: the initial mask is not 2:4", pollard::option_error);
  CHECK_THROWS_WITH_AS(refine(l.w.view(), initial, l.mean, l.variance, l.scores.view(),
                              pollard::n_m::pruned_of(1, 3)),
                       "dsnot: N:M: M=3 does not divide d_in=8", pollard::option_error);
}

TEST_CASE("dsnot takes the unstructured policy that chose the initial mask, per row or matrix") {
  const auto l = make_random_layer(4, 8, 5);
  const auto initial = lowest_per_row(l.scores, 4);
  const auto refine = [&](const auto& policy) {
    return pollard::dsnot<double, double>(l.w.view(), initial, l.mean, l.variance, l.scores.view(),
                                          policy);
  };
  // Per-row counts of 4 of 8 are also 16 of 32 over the matrix: both policies refine alike.
  CHECK(refine(pollard::unstructured(0.5)) ==
        refine(pollard::unstructured(0.5, pollard::per_matrix)));
  CHECK_THROWS_WITH_AS(refine(pollard::unstructured(0.25)),
                       "dsnot: the initial mask is not unstructured(0.25) per row: row 0 prunes 4 "
                       "of 8 weights, not 2",
                       pollard::option_error);
  CHECK_THROWS_WITH_AS(refine(pollard::unstructured(0.75, pollard::per_matrix)),
                       "dsnot: the initial mask is not unstructured(0.75) per matrix: it prunes 16 "
                       "of 32 weights, not 24",
                       pollard::option_error);
  pollard::mask left_half(4, 8);  // 4 of 8 in every row, all of them in columns 0..3
  for (index_t i = 0; i < 4; ++i)
    for (index_t j = 0; j < 4; ++j) left_half.prune(i, j);
  const auto refine_left_half = [&](const auto& policy) {
    return pollard::dsnot<double, double>(l.w.view(), left_half, l.mean, l.variance,
                                          l.scores.view(), policy);
  };
  CHECK_THROWS_WITH_AS(refine_left_half(pollard::unstructured(0.5, pollard::per_column_block{4})),
                       "dsnot: the initial mask is not unstructured(0.5) per column block: the "
                       "block at column 0 prunes 16 of 16 weights, not 8",
                       pollard::option_error);
}

TEST_CASE("dsnot on a per-column-block mask keeps every block's count and swaps inside blocks") {
  const index_t rows = 16, cols = 40, width = 16;  // blocks of 16, 16 and 8 columns
  const auto l = make_random_layer(rows, cols, 21);
  pollard::matrix_view<const double> scores = l.scores.view();
  const pollard::unstructured policy(0.5, pollard::per_column_block{width});
  const auto initial = policy.select(scores);
  const auto refined =
      pollard::dsnot<double, double>(l.w.view(), initial, l.mean, l.variance, scores, policy);
  CHECK(refined != initial);
  for (index_t c0 = 0; c0 < cols; c0 += width)
    for (index_t i = 0; i < rows; ++i) {
      index_t before = 0, after = 0;
      for (index_t j = c0; j < std::min(c0 + width, cols); ++j) {
        before += initial.pruned(i, j) ? 1 : 0;
        after += refined.pruned(i, j) ? 1 : 0;
      }
      CHECK(before == after);  // per row and block, so per block too
    }
  for (index_t i = 0; i < rows; ++i) {
    const double before = expected_error(l.w, initial, l.mean, i);
    const double after = expected_error(l.w, refined, l.mean, i);
    CHECK(std::abs(after) <= std::abs(before));
    if (std::abs(before) > 0.1) CHECK(after * before > 0.0);
  }
}

TEST_CASE("dsnot on moment statistics matches the reference procedure, sequence-normalised means") {
  // Three sequences of 64 tokens whose channels have non-zero means; the reference's statistics
  // and its update loop are re-implemented literally in support/naive_dsnot.hpp. Five cycles keep
  // both pointers inside their groups, where pollard and the reference agree by construction.
  const index_t rows = 40, cols = 64, tokens = 64;
  const auto w = random_normal<double>(rows, cols, 71);
  std::vector<dense_matrix<double>> sequences;
  pollard::moment_statistics<double> statistics(cols);
  for (std::uint64_t s = 0; s < 3; ++s) {
    // Every sequence gets exactly the channel means 0.02·(1 + j mod 5), so the reference's pooled
    // within-sequence variance equals the variance over all tokens that pollard uses.
    auto x = random_normal<double>(tokens, cols, 80 + s);
    for (index_t j = 0; j < cols; ++j) {
      double mean = 0.0;
      for (index_t t = 0; t < tokens; ++t) mean += x(t, j);
      mean /= static_cast<double>(tokens);
      for (index_t t = 0; t < tokens; ++t)
        x(t, j) = 0.05 * (x(t, j) - mean) + 0.02 * static_cast<double>(1 + j % 5);
    }
    statistics.accumulate(x.view(), 1);
    sequences.push_back(x);
  }
  const auto reference_stats = naive::dsnot_statistics(sequences);
  pollard::dsnot_options o;
  o.max_cycles = 5;
  const auto expected = naive::dsnot_reference(w, reference_stats, 0.5, o.update_threshold,
                                               o.max_cycles, o.variance_power);
  // The initial mask: Wanda per row at 50 %, from the same statistics.
  dense_matrix<double> scores(rows, cols);
  for (index_t i = 0; i < rows; ++i)
    for (index_t j = 0; j < cols; ++j)
      scores(i, j) = std::abs(w(i, j)) * std::sqrt(statistics.sq_norm_per_sample(
                                             j, pollard::normalisation::by_sequences));
  const auto initial = lowest_per_row(scores, cols / 2);
  const auto refined = pollard::dsnot<double, double>(w.view(), initial, statistics, scores.view(),
                                                      pollard::unstructured(0.5), o);
  CHECK(refined != initial);
  CHECK(refined == expected);
  // Per-token means would make the threshold 64 times stricter and stop rows early.
  const auto per_token =
      pollard::dsnot<double, double>(w.view(), initial, statistics.means(), statistics.variances(),
                                     scores.view(), pollard::unstructured(0.5), o);
  CHECK(per_token != expected);
  // sums_per_sample is Σ_t x_tj / sequences.
  double sum0 = 0.0;
  for (const auto& x : sequences)
    for (index_t t = 0; t < tokens; ++t) sum0 += x(t, 0);
  CHECK(statistics.sums_per_sample()[0] == doctest::Approx(sum0 / 3.0));
}
