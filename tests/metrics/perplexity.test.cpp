// Tests for pollard/metrics/perplexity.hpp against the naive exp(mean NLL) and llama.cpp's SE
// formula.
#include "pollard/metrics/perplexity.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "pollard/core/element_types.hpp"
#include "support/naive_metrics.hpp"
#include "support/random.hpp"

using namespace pollard;

namespace {

std::vector<double> random_nlls(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::gamma_distribution<double> dist(2.0, 1.5);
  std::vector<double> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

}  // namespace

TEST_CASE("perplexity is exp of the mean NLL and its SE is llama.cpp's PPL·sqrt(Var/(n−1))") {
  for (std::size_t n : {2u, 3u, 17u, 1000u}) {
    CAPTURE(n);
    const auto nll = random_nlls(n, 7 + n);
    perplexity_accumulator acc;
    for (double v : nll) acc.add_nll(v);
    const auto r = acc.result();
    const double mean = static_cast<double>(test::naive_mean(nll));
    CHECK(r.tokens == static_cast<std::int64_t>(n));
    CHECK(r.mean_nll == doctest::Approx(mean).epsilon(1e-13));
    CHECK(r.perplexity == doctest::Approx(std::exp(mean)).epsilon(1e-13));
    CHECK(r.standard_error ==
          doctest::Approx(std::exp(mean) * static_cast<double>(test::naive_standard_error(nll)))
              .epsilon(1e-10));
  }
}

TEST_CASE("perplexity of a hand-worked list: NLLs 1, 2, 3") {
  perplexity_accumulator acc;
  const std::vector<float> nll{1.0f, 2.0f, 3.0f};
  acc.add_nlls(std::span<const float>(nll));
  const auto r = acc.result();
  // mean 2, population variance 2/3, SE = e² · sqrt((2/3)/2) = e²/sqrt(3)
  CHECK(r.perplexity == doctest::Approx(std::exp(2.0)));
  CHECK(r.standard_error == doctest::Approx(std::exp(2.0) / std::sqrt(3.0)));
}

TEST_CASE("perplexity standard error is NaN for a single token") {
  perplexity_accumulator acc;
  acc.add_nll(0.5);
  CHECK(std::isnan(acc.result().standard_error));
  CHECK(acc.result().perplexity == doctest::Approx(std::exp(0.5)));
}

TEST_CASE("merging accumulators equals accumulating the union") {
  const auto nll = random_nlls(301, 99);
  perplexity_accumulator all, a, b, empty;
  for (std::size_t t = 0; t < nll.size(); ++t) {
    all.add_nll(nll[t]);
    (t < 120 ? a : b).add_nll(nll[t]);
  }
  a.merge(b);
  a.merge(empty);
  CHECK(a.count() == all.count());
  CHECK(a.result().mean_nll == doctest::Approx(all.result().mean_nll).epsilon(1e-14));
  CHECK(a.result().standard_error == doctest::Approx(all.result().standard_error).epsilon(1e-12));
  empty.merge(all);
  CHECK(empty.result().perplexity == doctest::Approx(all.result().perplexity).epsilon(1e-14));
}

TEST_CASE("NLL from logits equals −log of the naive softmax, also for huge logits") {
  for (index_t vocab : {1, 2, 7, 513}) {
    CAPTURE(vocab);
    auto logits = test::random_normal<float>(4, vocab, 3 + static_cast<std::uint64_t>(vocab), 8.0f);
    logits(1, 0) = 3.0e3f;  // exp(double) would overflow without the max subtraction
    std::vector<std::int32_t> targets;
    perplexity_accumulator batch, single;
    std::vector<double> expected;
    for (index_t r = 0; r < 4; ++r) {
      const auto target = static_cast<std::int32_t>((r * 5) % vocab);
      targets.push_back(target);
      std::vector<float> row(logits.values.begin() + r * vocab,
                             logits.values.begin() + (r + 1) * vocab);
      const auto p = test::naive_softmax(row);
      expected.push_back(static_cast<double>(-std::log(p[static_cast<std::size_t>(target)])));
      const double nll = single.add_logits(std::span<const float>(row), target);
      CHECK(nll == doctest::Approx(expected.back()).epsilon(1e-12));
    }
    batch.add_logits(logits.view(), targets);
    const double mean = static_cast<double>(test::naive_mean(expected));
    CHECK(batch.result().mean_nll == doctest::Approx(mean).epsilon(1e-12));
    CHECK(single.result().mean_nll == doctest::Approx(mean).epsilon(1e-12));
  }
}

TEST_CASE("NLL from bfloat16 logits in a strided view equals the float computation") {
  auto f = test::random_normal<float>(3, 11, 5);
  test::dense_matrix<bfloat16> b(11, 3);  // stored transposed
  for (index_t r = 0; r < 3; ++r)
    for (index_t c = 0; c < 11; ++c) {
      b(c, r) = bfloat16(f(r, c));
      f(r, c) = static_cast<float>(b(c, r));
    }
  const std::vector<std::int32_t> targets{0, 10, 4};
  perplexity_accumulator from_b, from_f;
  from_b.add_logits(b.view().transposed(), targets);
  from_f.add_logits(f.view(), targets);
  CHECK(from_b.result().mean_nll == doctest::Approx(from_f.result().mean_nll).epsilon(1e-14));
}

TEST_CASE("perplexity rejects bad input with a message and leaves the state unchanged") {
  perplexity_accumulator acc;
  CHECK_THROWS_WITH_AS(acc.result(), "perplexity: no tokens were accumulated",
                       empty_statistics_error);
  CHECK_THROWS_WITH_AS(acc.add_nll(std::numeric_limits<double>::quiet_NaN()),
                       "perplexity: negative log-likelihood is not finite", non_finite_error);
  const std::vector<double> nlls{1.0, std::numeric_limits<double>::infinity()};
  CHECK_THROWS_WITH_AS(acc.add_nlls(std::span<const double>(nlls)),
                       "perplexity: negative log-likelihood 1 is not finite", non_finite_error);
  std::vector<float> row{0.0f, 1.0f, 2.0f};
  CHECK_THROWS_WITH_AS(acc.add_logits(std::span<const float>(row), 3),
                       "perplexity: token id 3 is outside the vocabulary [0, 3)", shape_error);
  CHECK_THROWS_WITH_AS(acc.add_logits(std::span<const float>(row), -1),
                       "perplexity: token id -1 is outside the vocabulary [0, 3)", shape_error);
  row[1] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(acc.add_logits(std::span<const float>(row), 0),
                       "perplexity: logit 1 is not finite", non_finite_error);
  test::dense_matrix<float> block(2, 3);
  block(1, 2) = std::numeric_limits<float>::infinity();
  const std::vector<std::int32_t> targets{0, 1};
  CHECK_THROWS_WITH_AS(acc.add_logits(block.view(), targets),
                       "perplexity: logit 2 of row 1 is not finite", non_finite_error);
  const std::vector<std::int32_t> one_target{0};
  CHECK_THROWS_WITH_AS(acc.add_logits(block.view(), one_target),
                       "perplexity: 2 rows of logits but 1 target tokens", shape_error);
  CHECK(acc.count() == 0);
}
