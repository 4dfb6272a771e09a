// The sampler against a naive reference of each rule, and its seeded reproducibility.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <vector>

#include "pollard/evaluation/sampler.hpp"

using namespace pollard;
using namespace pollard::evaluation;

namespace {

// Naive reference: each step written out with full sorts and explicit sets.
std::vector<double> naive_distribution(std::vector<float> logits, const std::vector<int>& history,
                                       const sampler_options& o) {
  const std::set<int> seen(history.begin(), history.end());
  for (int t : seen)
    if (t >= 0 && t < int(logits.size())) {
      float& v = logits[std::size_t(t)];
      if (v > 0)
        v = v / o.repetition_penalty;
      else
        v = v * o.repetition_penalty;
    }
  const std::size_t n = logits.size();
  std::vector<double> z(n);
  for (std::size_t i = 0; i < n; ++i) z[i] = double(logits[i]) / double(o.temperature);
  std::vector<bool> keep(n, true);
  if (o.top_k > 0 && std::size_t(o.top_k) < n) {
    std::vector<double> s = z;
    std::sort(s.begin(), s.end());
    std::reverse(s.begin(), s.end());
    for (std::size_t i = 0; i < n; ++i) keep[i] = z[i] >= s[std::size_t(o.top_k) - 1];
  }
  double mx = -1e300;
  for (std::size_t i = 0; i < n; ++i)
    if (keep[i]) mx = std::max(mx, z[i]);
  std::vector<double> p(n, 0.0);
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (keep[i]) sum += (p[i] = std::exp(z[i] - mx));
  for (auto& v : p) v /= sum;
  if (o.top_p < 1.0f) {
    std::vector<std::pair<double, std::size_t>> order;  // (-p, id): descending p, ascending id
    for (std::size_t i = 0; i < n; ++i) order.push_back({-p[i], i});
    std::sort(order.begin(), order.end());
    std::vector<double> q(n, 0.0);
    double mass = 0;
    for (auto [negp, i] : order) {
      if (-negp <= 0) break;
      q[i] = -negp;
      mass += -negp;
      if (mass >= double(o.top_p)) break;
    }
    double total = 0;
    for (double v : q) total += v;
    for (auto& v : q) v /= total;
    p = q;
  }
  return p;
}

std::vector<float> random_logits(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, 2.0f);
  std::vector<float> l(n);
  for (auto& v : l) v = d(rng);
  return l;
}

}  // namespace

TEST_CASE("the distribution after penalty, temperature, top-k and top-p equals the naive rule") {
  const std::vector<int> history = {3, 7, 7, 0, 30, -1, 1000};
  for (std::size_t n : {1u, 2u, 31u, 200u})
    for (float temperature : {0.3f, 1.0f, 2.5f})
      for (index_t k : {0, 1, 5, 50})
        for (float p : {1.0f, 0.9f, 0.3f, 0.01f})
          for (float penalty : {1.0f, 1.3f, 0.7f}) {
            const sampler_options o{temperature, k, p, penalty, 0};
            const auto logits = random_logits(n, n * 7 + std::size_t(k));
            const auto got = sampler(o).distribution(logits, history);
            const auto want = naive_distribution(logits, history, o);
            REQUIRE(got.size() == want.size());
            double worst = 0;
            for (std::size_t i = 0; i < n; ++i) worst = std::max(worst, std::abs(got[i] - want[i]));
            CAPTURE(n);
            CAPTURE(temperature);
            CAPTURE(k);
            CAPTURE(p);
            CAPTURE(penalty);
            CHECK(worst < 1e-12);
          }
}

TEST_CASE("top-k keeps every logit tied with the k-th largest; top-p keeps at least one token") {
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 2.0f, 0.5f};
  const auto d = sampler({1.0f, 2, 1.0f, 1.0f, 0}).distribution(logits, {});
  CHECK(d[0] == 0.0);
  CHECK(d[4] == 0.0);
  CHECK(d[2] == d[3]);
  CHECK(d[2] > 0.0);
  const auto one = sampler({1.0f, 0, 1e-6f, 1.0f, 0}).distribution(logits, {});
  CHECK(one[1] == 1.0);
}

TEST_CASE("the repetition penalty divides positive and multiplies negative logits of seen tokens") {
  const std::vector<float> logits = {2.0f, -2.0f, 2.0f, -2.0f};
  const auto l =
      sampler({1.0f, 0, 1.0f, 2.0f, 0}).penalised(logits, std::vector<token_id>{0, 1, 1});
  CHECK(l == std::vector<float>{1.0f, -4.0f, 2.0f, -2.0f});
}

TEST_CASE("greedy picks the lowest id among the largest logits, after the penalty") {
  sampler greedy({0.0f, 0, 1.0f, 1.0f, 0});
  const std::vector<float> logits = {0.5f, 4.0f, 1.0f, 4.0f};
  CHECK(greedy.sample(logits) == 1);
  sampler penalised({0.0f, 0, 1.0f, 8.0f, 0});
  CHECK(penalised.sample(logits, std::vector<token_id>{1, 3}) == 2);
}

TEST_CASE("sampling with a seed is reproducible and follows the inverse CDF of the distribution") {
  const auto logits = random_logits(40, 3);
  const sampler_options o{0.8f, 10, 0.9f, 1.2f, 1234};
  const std::vector<token_id> history = {1, 2, 3};
  sampler a(o), b(o);
  std::mt19937_64 g(1234);
  const auto p = naive_distribution(logits, {1, 2, 3}, o);
  std::vector<int> counts(40, 0);
  for (int i = 0; i < 2000; ++i) {
    const token_id x = a.sample(logits, history);
    CHECK(x == b.sample(logits, history));
    const double u = double(g() >> 11) * 0x1.0p-53;
    double c = 0;
    token_id want = -1;
    for (std::size_t j = 0; j < p.size() && want < 0; ++j)
      if (p[j] > 0 && u < (c += p[j])) want = token_id(j);
    CHECK(x == want);
    ++counts[std::size_t(x)];
  }
  for (std::size_t j = 0; j < 40; ++j)
    if (p[j] == 0) CHECK(counts[j] == 0);
  sampler c({0.8f, 10, 0.9f, 1.2f, 99});
  int differ = 0;
  sampler d(o);
  for (int i = 0; i < 50; ++i) differ += c.sample(logits, history) != d.sample(logits, history);
  CHECK(differ > 0);
}

TEST_CASE("bad options and NaN logits are rejected with messages") {
  CHECK_THROWS_WITH_AS(sampler({-1.0f, 0, 1.0f, 1.0f, 0}),
                       "sampler: temperature must be finite and >= 0, got -1.000000", option_error);
  CHECK_THROWS_WITH_AS(sampler({1.0f, -2, 1.0f, 1.0f, 0}), "sampler: top_k must be >= 0, got -2",
                       option_error);
  CHECK_THROWS_WITH_AS(sampler({1.0f, 0, 0.0f, 1.0f, 0}),
                       "sampler: top_p must be in (0, 1], got 0.000000", option_error);
  CHECK_THROWS_WITH_AS(sampler({1.0f, 0, 1.0f, 0.0f, 0}),
                       "sampler: repetition_penalty must be finite and > 0, got 0.000000",
                       option_error);
  sampler s;
  const std::vector<float> bad = {0.0f, std::nanf("")};
  CHECK_THROWS_WITH_AS(s.sample(bad), "sampler: logit 1 is NaN", non_finite_error);
}
