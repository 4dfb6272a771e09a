// Tests for pollard/metrics/divergence.hpp against naive long-double references and hand-worked
// cases.
#include "pollard/metrics/divergence.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <random>
#include <vector>

#include "support/naive_metrics.hpp"
#include "support/random.hpp"

using namespace pollard;

namespace {

std::vector<float> row_of(const test::dense_matrix<float>& m, index_t r) {
  return {m.values.begin() + r * m.cols, m.values.begin() + (r + 1) * m.cols};
}

// Q = P plus noise of the given size, so the divergences range from tiny to large.
test::dense_matrix<float> perturbed(const test::dense_matrix<float>& p, float noise,
                                    std::uint64_t seed) {
  auto q = test::random_normal<float>(p.rows, p.cols, seed, noise);
  for (std::size_t k = 0; k < q.values.size(); ++k) q.values[k] += p.values[k];
  return q;
}

struct naive_sample {
  double js, kl, delta_p, nll_p, nll_q;
  bool same_top;
};

naive_sample naive_divergence(const std::vector<float>& lp, const std::vector<float>& lq,
                              std::size_t correct) {
  const auto p = test::naive_softmax(lp);
  const auto q = test::naive_softmax(lq);
  return {static_cast<double>(test::naive_js(p, q)),
          static_cast<double>(test::naive_kl(p, q)),
          static_cast<double>(q[correct] - p[correct]),
          static_cast<double>(-std::log(p[correct])),
          static_cast<double>(-std::log(q[correct])),
          test::naive_argmax(lp) == test::naive_argmax(lq)};
}

}  // namespace

TEST_CASE("a hand-worked 2-token vocabulary: P = (1/2, 1/2), Q = (3/4, 1/4)") {
  const std::vector<float> lp{0.0f, 0.0f};
  const std::vector<float> lq{static_cast<float>(std::log(3.0)), 0.0f};
  const auto s = divergence_at(lp, lq, 1);
  // M = (5/8, 3/8): KL(P‖M) = ½ln(16/15), KL(Q‖M) = ¾ln(6/5) + ¼ln(2/3)
  const double js =
      0.5 * (0.5 * std::log(16.0 / 15.0) + 0.75 * std::log(6.0 / 5.0) + 0.25 * std::log(2.0 / 3.0));
  CHECK(s.js_nats == doctest::Approx(js).epsilon(1e-7));
  CHECK(s.kl == doctest::Approx(0.5 * std::log(4.0 / 3.0)).epsilon(1e-7));  // ½ln(2/3) + ½ln 2
  CHECK(s.delta_p == doctest::Approx(-0.25).epsilon(1e-7));
  CHECK(s.nll_p == doctest::Approx(std::log(2.0)).epsilon(1e-12));
  CHECK(s.nll_q == doctest::Approx(std::log(4.0)).epsilon(1e-7));
  CHECK(s.top_p == 0);  // a tie goes to the lowest index
  CHECK(s.top_q == 0);
  CHECK(s.same_top);
}

TEST_CASE("per-position metrics equal the naive long-double definitions") {
  for (index_t vocab : {1, 2, 3, 17, 1000, 4099}) {
    for (float noise : {1e-3f, 0.3f, 4.0f}) {
      CAPTURE(vocab);
      CAPTURE(noise);
      const auto seed = static_cast<std::uint64_t>(vocab) * 31;
      const auto lp = test::random_normal<float>(5, vocab, seed, 3.0f);
      const auto lq = perturbed(lp, noise, seed + 1);
      for (index_t r = 0; r < 5; ++r) {
        const auto a = row_of(lp, r), b = row_of(lq, r);
        const auto correct = static_cast<std::int32_t>((r * 7) % vocab);
        const auto s = divergence_at(a, b, correct);
        const auto n = naive_divergence(a, b, static_cast<std::size_t>(correct));
        // double rounding of log-softmax values (~1e-16·|log p| per entry) sets an absolute floor
        CHECK(std::abs(s.js_nats - n.js) <= 1e-9 * n.js + 1e-13);
        CHECK(std::abs(s.kl - n.kl) <= 1e-9 * n.kl + 1e-13);
        CHECK(s.delta_p == doctest::Approx(n.delta_p).epsilon(1e-9).scale(1e-13));
        CHECK(s.nll_p == doctest::Approx(n.nll_p).epsilon(1e-12));
        CHECK(s.nll_q == doctest::Approx(n.nll_q).epsilon(1e-12));
        CHECK(s.same_top == n.same_top);
        CHECK(s.top_p == static_cast<index_t>(test::naive_argmax(a)));
        CHECK(s.top_q == static_cast<index_t>(test::naive_argmax(b)));
      }
    }
  }
}

TEST_CASE("JS is symmetric, 0 for identical logits and at most ln 2; KL is not symmetric") {
  const auto lp = test::random_normal<float>(1, 300, 5, 2.0f);
  const auto lq = perturbed(lp, 1.5f, 6);
  const auto a = row_of(lp, 0), b = row_of(lq, 0);
  const auto pq = divergence_at(a, b, 3), qp = divergence_at(b, a, 3);
  CHECK(pq.js_nats == doctest::Approx(qp.js_nats).epsilon(1e-13));
  CHECK(pq.kl != doctest::Approx(qp.kl).epsilon(1e-3));
  CHECK(pq.delta_p == doctest::Approx(-qp.delta_p).epsilon(1e-12));

  const auto same = divergence_at(a, a, 3);
  CHECK(std::abs(same.js_nats) < 1e-15);
  CHECK(std::abs(same.kl) < 1e-15);
  CHECK(same.delta_p == 0.0);

  // Disjoint distributions reach the bound: JS → ln 2.
  std::vector<float> x(50, 0.0f), y(50, 0.0f);
  x[0] = 200.0f;
  y[49] = 200.0f;
  const auto far = divergence_at(x, y, 0);
  CHECK(far.js_nats <= std::numbers::ln2);
  CHECK(far.js_nats == doctest::Approx(std::numbers::ln2).epsilon(1e-12));
  CHECK(far.delta_p == doctest::Approx(-1.0).epsilon(1e-12));
}

TEST_CASE("KL stays finite where q underflows to zero (log-softmax values, not log q)") {
  // P = (1/2, 1/2); Q's second probability is e^-2000, zero in double.
  // KL = ½(log ½ − 0) + ½(log ½ + 2000) = 1000 − ln 2, JS = ½KL(P‖M) + ½KL(Q‖M) with
  // M = (3/4, 1/4): ½(½ln(2/3) + ½ln 2) + ½ln(4/3) = ½ln(4/3)·... computed below.
  const std::vector<float> lp{0.0f, 0.0f}, lq{0.0f, -2000.0f};
  const auto s = divergence_at(lp, lq, 1);
  CHECK(std::isfinite(s.kl));
  CHECK(s.kl == doctest::Approx(1000.0 - std::numbers::ln2).epsilon(1e-12));
  const double js =
      0.5 * (0.5 * std::log(0.5 / 0.75) + 0.5 * std::log(0.5 / 0.25)) + 0.5 * std::log(1.0 / 0.75);
  CHECK(s.js_nats == doctest::Approx(js).epsilon(1e-12));
  CHECK(s.nll_q == doctest::Approx(2000.0).epsilon(1e-12));
  CHECK(s.delta_p == doctest::Approx(-0.5).epsilon(1e-12));
}

TEST_CASE("top-1 agreement breaks ties towards the lowest index") {
  const std::vector<float> p{1.0f, 3.0f, 3.0f}, q{3.0f, 1.0f, 3.0f}, r{0.0f, 3.0f, 3.0f};
  const auto pq = divergence_at(p, q, 0);
  CHECK(pq.top_p == 1);
  CHECK(pq.top_q == 0);
  CHECK_FALSE(pq.same_top);
  CHECK(divergence_at(p, r, 0).same_top);
}

TEST_CASE("the percentile rule interpolates linearly between closest ranks") {
  // Hand-worked on (1, 2, 3, 4, 10): h = f·4.
  const std::vector<float> v{1, 2, 3, 4, 10};
  CHECK(percentile_of_sorted(v, 0.0) == 1.0);
  CHECK(percentile_of_sorted(v, 1.0) == 10.0);
  CHECK(percentile_of_sorted(v, 0.5) == 3.0);
  CHECK(percentile_of_sorted(v, 0.9) == doctest::Approx(7.6));      // 4 + 0.6·6
  CHECK(percentile_of_sorted(v, 0.1) == doctest::Approx(1.4));      // 1 + 0.4·1
  CHECK(percentile_of_sorted(v, 0.999) == doctest::Approx(9.976));  // 4 + 0.996·6
  const std::vector<float> one{5.0f};
  CHECK(percentile_of_sorted(one, 0.3) == 5.0);

  auto data = test::random_normal<float>(1, 1001, 77).values;
  auto sorted = data;
  std::sort(sorted.begin(), sorted.end());
  for (double level : percentile_ladder_levels)
    CHECK(percentile_of_sorted(sorted, level / 100.0) ==
          doctest::Approx(static_cast<double>(test::naive_percentile(data, level / 100.0L)))
              .epsilon(1e-12));

  CHECK_THROWS_WITH_AS(percentile_of_sorted(std::span<const float>(), 0.5), "percentile: no values",
                       empty_statistics_error);
  CHECK_THROWS_WITH_AS(percentile_of_sorted(v, 1.5),
                       "percentile: fraction must be in [0, 1], got 1.500000", option_error);
}

TEST_CASE(
    "the report gives mean ± SE, the percentile ladder and same-top rate of the naive samples") {
  const index_t positions = 203, vocab = 97;
  const auto lp = test::random_normal<float>(positions, vocab, 8, 2.0f);
  auto lq = perturbed(lp, 0.7f, 9);
  std::vector<std::int32_t> correct;
  std::vector<double> js, kl, dp, nll_p, nll_q;
  std::vector<float> js_f, kl_f, dp_f;
  double same = 0, dp2 = 0;
  divergence_accumulator acc;
  for (index_t r = 0; r < positions; ++r) {
    correct.push_back(static_cast<std::int32_t>((r * 13) % vocab));
    const auto a = row_of(lp, r), b = row_of(lq, r);
    const auto n = naive_divergence(a, b, static_cast<std::size_t>(correct.back()));
    js.push_back(n.js);
    kl.push_back(n.kl);
    dp.push_back(n.delta_p);
    nll_p.push_back(n.nll_p);
    nll_q.push_back(n.nll_q);
    js_f.push_back(static_cast<float>(n.js));
    kl_f.push_back(static_cast<float>(n.kl));
    dp_f.push_back(static_cast<float>(n.delta_p));
    same += n.same_top ? 1 : 0;
    dp2 += n.delta_p * n.delta_p;
    acc.add(a, b, correct.back());
  }
  const auto rep = acc.report();
  CHECK(rep.positions == positions);
  CHECK(rep.js_nats.mean ==
        doctest::Approx(static_cast<double>(test::naive_mean(js))).epsilon(1e-9));
  CHECK(rep.js_nats.standard_error ==
        doctest::Approx(static_cast<double>(test::naive_standard_error(js))).epsilon(1e-7));
  CHECK(rep.js_bits.mean == doctest::Approx(rep.js_nats.mean / std::numbers::ln2));
  CHECK(rep.kl.mean == doctest::Approx(static_cast<double>(test::naive_mean(kl))).epsilon(1e-9));
  CHECK(rep.kl.standard_error ==
        doctest::Approx(static_cast<double>(test::naive_standard_error(kl))).epsilon(1e-7));
  CHECK(rep.delta_p.mean ==
        doctest::Approx(static_cast<double>(test::naive_mean(dp))).epsilon(1e-9));
  CHECK(rep.delta_p_rms == doctest::Approx(std::sqrt(dp2 / positions)).epsilon(1e-9));
  for (std::size_t k = 0; k < percentile_ladder_levels.size(); ++k) {
    const long double f = static_cast<long double>(percentile_ladder_levels[k]) / 100;
    CAPTURE(percentile_ladder_levels[k]);
    CHECK(rep.js_nats.percentiles[k] ==
          doctest::Approx(static_cast<double>(test::naive_percentile(js_f, f))).epsilon(1e-6));
    CHECK(rep.js_bits.percentiles[k] ==
          doctest::Approx(static_cast<double>(test::naive_percentile(js_f, f)) / std::numbers::ln2)
              .epsilon(1e-6));
    CHECK(rep.kl.percentiles[k] ==
          doctest::Approx(static_cast<double>(test::naive_percentile(kl_f, f))).epsilon(1e-6));
    CHECK(rep.delta_p.percentiles[k] ==
          doctest::Approx(static_cast<double>(test::naive_percentile(dp_f, f)))
              .epsilon(1e-6)
              .scale(1e-9));
  }
  const double f = same / positions;
  CHECK(rep.same_top == doctest::Approx(f));
  CHECK(rep.same_top_standard_error == doctest::Approx(std::sqrt(f * (1 - f) / (positions - 1))));
  CHECK(rep.perplexity_p.perplexity ==
        doctest::Approx(std::exp(static_cast<double>(test::naive_mean(nll_p)))).epsilon(1e-10));
  CHECK(rep.perplexity_q.perplexity ==
        doctest::Approx(std::exp(static_cast<double>(test::naive_mean(nll_q)))).epsilon(1e-10));
  CHECK(rep.perplexity_q.tokens == positions);

  // llama.cpp's ratio statistics (tools/perplexity/perplexity.cpp, kl_divergence()) from running
  // sums of the per-position NLLs: mean_and_uncertainty(sum, sum2, n) = (f, sqrt((sum2/n − f²) /
  // (n − 1))), covariance = (Σab/n − (Σa/n)(Σb/n)) / (n − 1).
  double s_q = 0, s_q2 = 0, s_p = 0, s_p2 = 0, s_qp = 0;
  for (std::size_t k = 0; k < nll_p.size(); ++k) {
    s_q += nll_q[k];
    s_q2 += nll_q[k] * nll_q[k];
    s_p += nll_p[k];
    s_p2 += nll_p[k] * nll_p[k];
    s_qp += nll_q[k] * nll_p[k];
  }
  const double n = positions;
  const double fq = s_q / n, fp = s_p / n;
  const double uq = std::sqrt((s_q2 / n - fq * fq) / (n - 1)),
               up = std::sqrt((s_p2 / n - fp * fp) / (n - 1));
  const double cov = (s_qp / n - fq * fp) / (n - 1);
  const double log_ratio = fq - fp, log_ratio_u = std::sqrt(uq * uq + up * up - 2 * cov);
  CHECK(rep.log_ppl_ratio.mean == doctest::Approx(log_ratio).epsilon(1e-9));
  CHECK(rep.log_ppl_ratio.standard_error == doctest::Approx(log_ratio_u).epsilon(1e-6));
  CHECK(rep.ppl_ratio.mean == doctest::Approx(std::exp(log_ratio)).epsilon(1e-9));
  CHECK(rep.ppl_ratio.standard_error ==
        doctest::Approx(std::exp(log_ratio) * log_ratio_u).epsilon(1e-6));
  const double ppl_q = std::exp(fq), ppl_p = std::exp(fp);
  CHECK(rep.ppl_difference.mean == doctest::Approx(ppl_q - ppl_p).epsilon(1e-9));
  CHECK(rep.ppl_difference.standard_error ==
        doctest::Approx(
            std::sqrt(ppl_q * uq * ppl_q * uq + ppl_p * up * ppl_p * up - 2 * ppl_q * ppl_p * cov))
            .epsilon(1e-6));
  CHECK(rep.log_ppl_correlation == doctest::Approx(cov / (uq * up)).epsilon(1e-6));
  CHECK(rep.log_ppl_correlation > 0.0);
  CHECK(rep.log_ppl_correlation < 1.0);
  CHECK(to_text(rep).find("Mean PPL(Q)/PPL(P)         : ") != std::string::npos);
}

TEST_CASE("batch add equals per-position adds, also for strided views, and merge equals union") {
  const index_t positions = 41, vocab = 130;
  const auto lp = test::random_normal<float>(positions, vocab, 18, 2.0f);
  const auto lq = perturbed(lp, 0.9f, 19);
  test::dense_matrix<float> lq_t(vocab, positions);  // Q stored transposed
  for (index_t r = 0; r < positions; ++r)
    for (index_t c = 0; c < vocab; ++c) lq_t(c, r) = lq(r, c);
  std::vector<std::int32_t> correct;
  for (index_t r = 0; r < positions; ++r) correct.push_back(static_cast<std::int32_t>(r % vocab));

  divergence_accumulator single, batch, first, second;
  for (index_t r = 0; r < positions; ++r)
    single.add(row_of(lp, r), row_of(lq, r), correct[static_cast<std::size_t>(r)]);
  batch.add(lp.view(), lq_t.view().transposed(), correct);
  const auto split = 17;
  first.add(lp.view().block(0, 0, split, vocab), lq.view().block(0, 0, split, vocab),
            std::span<const std::int32_t>(correct).first(split));
  second.add(lp.view().block(split, 0, positions - split, vocab),
             lq.view().block(split, 0, positions - split, vocab),
             std::span<const std::int32_t>(correct).subspan(split));
  first.merge(second);
  first.merge(divergence_accumulator{});

  const auto a = single.report(), b = batch.report(), c = first.report();
  CHECK(b.positions == a.positions);
  CHECK(c.positions == a.positions);
  for (const auto* r : {&b, &c}) {
    CHECK(r->js_nats.mean == doctest::Approx(a.js_nats.mean).epsilon(1e-14));
    CHECK(r->js_nats.standard_error == doctest::Approx(a.js_nats.standard_error).epsilon(1e-12));
    CHECK(r->kl.mean == doctest::Approx(a.kl.mean).epsilon(1e-14));
    CHECK(r->kl.standard_error == doctest::Approx(a.kl.standard_error).epsilon(1e-12));
    CHECK(r->delta_p.mean == doctest::Approx(a.delta_p.mean).epsilon(1e-12).scale(1e-15));
    CHECK(r->same_top == a.same_top);
    CHECK(r->js_nats.percentiles == a.js_nats.percentiles);  // same multiset of floats
    CHECK(r->kl.percentiles == a.kl.percentiles);
    CHECK(r->delta_p.percentiles == a.delta_p.percentiles);
    CHECK(r->perplexity_q.perplexity == doctest::Approx(a.perplexity_q.perplexity).epsilon(1e-14));
  }
}

TEST_CASE("divergence rejects bad input with a message and leaves the state unchanged") {
  divergence_accumulator acc;
  CHECK_THROWS_WITH_AS(acc.report(), "divergence: no token positions were accumulated",
                       empty_statistics_error);
  const std::vector<float> p{0.0f, 1.0f, 2.0f}, q4{0.0f, 1.0f, 2.0f, 3.0f};
  CHECK_THROWS_WITH_AS(acc.add(p, q4, 0),
                       "divergence: P has 3 logits but Q has 4 (the vocabularies must match)",
                       shape_error);
  CHECK_THROWS_WITH_AS(acc.add(p, p, 3),
                       "divergence: correct token id 3 is outside the vocabulary [0, 3)",
                       shape_error);
  CHECK_THROWS_WITH_AS(acc.add(p, p, -2),
                       "divergence: correct token id -2 is outside the vocabulary [0, 3)",
                       shape_error);
  CHECK_THROWS_WITH_AS(acc.add(std::span<const float>(), std::span<const float>(), 0),
                       "divergence: empty logits rows", shape_error);
  auto bad = p;
  bad[2] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(acc.add(bad, p, 0), "divergence: logit 2 of P is not finite",
                       non_finite_error);
  bad[2] = -std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS(acc.add(p, bad, 0), "divergence: logit 2 of Q is not finite",
                       non_finite_error);

  auto lp = test::random_normal<float>(4, 6, 1);
  auto lq = test::random_normal<float>(4, 6, 2);
  const std::vector<std::int32_t> correct{0, 1, 2, 3};
  lq(2, 4) = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS(acc.add(lp.view(), lq.view(), correct),
                       "divergence: logit 4 of Q at position 2 is not finite", non_finite_error);
  lq(2, 4) = 0.0f;
  const std::vector<std::int32_t> three{0, 1, 2}, out_of_range{0, 1, 6, 3};
  CHECK_THROWS_WITH_AS(acc.add(lp.view(), lq.view(), three),
                       "divergence: P has 4 positions, Q has 4 and there are 3 correct tokens",
                       shape_error);
  CHECK_THROWS_WITH_AS(acc.add(lp.view(), lq.view(), out_of_range),
                       "divergence: correct token id 6 is outside the vocabulary [0, 6)",
                       shape_error);
  CHECK_THROWS_WITH_AS(acc.add(lp.view(), lq.view().block(0, 0, 4, 5), correct),
                       "divergence: P has 6 logits but Q has 5 (the vocabularies must match)",
                       shape_error);
  CHECK(acc.count() == 0);
  acc.add(lp.view(), lq.view(), correct);
  CHECK(acc.count() == 4);
}
