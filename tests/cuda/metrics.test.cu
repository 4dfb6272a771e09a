#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "cuda/cpu_reference.hpp"
#include "cuda/device_data.cuh"
#include "pollard/cuda.cuh"
#include "pollard/metrics/perplexity.hpp"
#include "support/random.hpp"

using namespace pollard;
namespace gpu = pollard::cuda;

namespace {

/// Logits of a dense model P (N(0, 3²): a peaked softmax) and of a pruned Q = P + N(0, σ²).
struct logit_pair {
  test::dense_matrix<float> p, q;
  std::vector<std::int32_t> correct;
};

logit_pair make_pair(index_t positions, index_t vocabulary, double sigma, std::uint64_t seed) {
  logit_pair out{test::random_normal<float>(positions, vocabulary, seed, 3.0f), {}, {}};
  const auto noise = test::random_normal<float>(positions, vocabulary, seed + 1);
  out.q = out.p;
  for (std::size_t k = 0; k < out.q.values.size(); ++k)
    out.q.values[k] += static_cast<float>(sigma) * noise.values[k];
  std::mt19937_64 rng(seed + 2);
  std::uniform_int_distribution<std::int32_t> token(0, static_cast<std::int32_t>(vocabulary - 1));
  for (index_t r = 0; r < positions; ++r) out.correct.push_back(token(rng));
  return out;
}

std::vector<float> row_of(const test::dense_matrix<float>& m, index_t r) {
  return {m.values.begin() + r * m.cols, m.values.begin() + (r + 1) * m.cols};
}

/// Largest |device − CPU| / (relative·|CPU| + absolute) over the positions, per metric; every
/// entry must stay <= 1.
struct sample_gap {
  double js = 0, kl = 0, delta_p = 0, nll = 0;
  index_t top_mismatches = 0;
};

sample_gap compare(const std::vector<divergence_sample>& device,
                   const std::vector<divergence_sample>& cpu) {
  REQUIRE(device.size() == cpu.size());
  sample_gap g;
  const auto gap = [](double a, double b, double relative, double absolute) {
    return std::abs(a - b) / (relative * std::abs(b) + absolute);
  };
  for (std::size_t k = 0; k < cpu.size(); ++k) {
    // Float exp per entry: JS and KL relative to their size (sums of terms >= 0, each to a few
    // float ulp); the NLLs absolute (the float exp's rounding, weighted by p: ≈3e-7); Δp
    // relative to the probabilities it is the difference of.
    const double pc = std::exp(-cpu[k].nll_p), qc = std::exp(-cpu[k].nll_q);
    g.js = std::max(g.js, gap(device[k].js_nats, cpu[k].js_nats, 1e-5, 1e-13));
    g.kl = std::max(g.kl, gap(device[k].kl, cpu[k].kl, 1e-5, 1e-13));
    g.delta_p =
        std::max(g.delta_p, gap(device[k].delta_p, cpu[k].delta_p, 0.0, 2e-6 * (pc + qc) + 1e-15));
    g.nll = std::max(g.nll, gap(device[k].nll_p, cpu[k].nll_p, 0.0, 2e-6));
    g.nll = std::max(g.nll, gap(device[k].nll_q, cpu[k].nll_q, 0.0, 2e-6));
    const bool tops = device[k].top_p == cpu[k].top_p && device[k].top_q == cpu[k].top_q &&
                      device[k].same_top == cpu[k].same_top;
    g.top_mismatches += tops ? 0 : 1;
  }
  MESSAGE("worst gap to the CPU (1 = the tolerance): JS " << g.js << ", KL " << g.kl << ", Δp "
                                                          << g.delta_p << ", NLL " << g.nll);
  return g;
}

void require_within(const sample_gap& g) {
  CHECK(g.js <= 1.0);
  CHECK(g.kl <= 1.0);
  CHECK(g.delta_p <= 1.0);
  CHECK(g.nll <= 1.0);
  CHECK(g.top_mismatches == 0);
}

std::vector<divergence_sample> device_samples(const logit_pair& l) {
  const test::device_matrix<float> p(l.p), q(l.q);
  return gpu::divergence_samples(gpu::par, p.view(), q.view(),
                                 std::span<const std::int32_t>(l.correct));
}

/// 16-bit logits (bf16, fp16): the device metrics of the rounded values equal the CPU's of the
/// same values.
template <class Half>
void check_16_bit_divergence(const logit_pair& l) {
  test::dense_matrix<Half> bp(l.p.rows, l.p.cols), bq(l.p.rows, l.p.cols);
  test::dense_matrix<float> rp(l.p.rows, l.p.cols), rq(l.p.rows, l.p.cols);
  for (std::size_t k = 0; k < bp.values.size(); ++k) {
    bp.values[k] = Half(l.p.values[k]);
    bq.values[k] = Half(l.q.values[k]);
    rp.values[k] = static_cast<float>(bp.values[k]);
    rq.values[k] = static_cast<float>(bq.values[k]);
  }
  const test::device_matrix<Half> dbp(bp), dbq(bq);
  require_within(
      compare(gpu::divergence_samples(gpu::par, dbp.view(), dbq.view(), std::span(l.correct)),
              test::cpu::divergence_samples(rp.view(), rq.view(), l.correct)));
}

void check_bfloat16_divergence(const logit_pair& l) { check_16_bit_divergence<bfloat16>(l); }

}  // namespace

TEST_CASE("device divergence per position equals the CPU's divergence_row and the naive oracle") {
  // 1001: rows read entry by entry; 4096: in 16-byte loads. σ from nearly equal to far apart.
  for (const index_t vocabulary : {index_t{1001}, index_t{4096}}) {
    for (const double sigma : {1e-3, 0.1, 2.0}) {
      CAPTURE(vocabulary);
      CAPTURE(sigma);
      const logit_pair l = make_pair(23, vocabulary, sigma, 40);
      const auto device = device_samples(l);
      const auto cpu = test::cpu::divergence_samples(l.p.view(), l.q.view(), l.correct);
      require_within(compare(device, cpu));
      // The naive long-double oracle, on three positions.
      for (const index_t r : {index_t{0}, index_t{11}, index_t{22}}) {
        const auto k = static_cast<std::size_t>(r);
        const auto naive =
            test::cpu::naive_divergence(row_of(l.p, r), row_of(l.q, r), l.correct[k]);
        CHECK(std::abs(device[k].js_nats - naive.js_nats) <= 1e-5 * naive.js_nats + 1e-13);
        CHECK(std::abs(device[k].kl - naive.kl) <= 1e-5 * naive.kl + 1e-13);
        CHECK(std::abs(device[k].delta_p - naive.delta_p) <=
              2e-6 * (std::exp(-naive.nll_p) + std::exp(-naive.nll_q)) + 1e-15);
        CHECK(std::abs(device[k].nll_p - naive.nll_p) <= 2e-6);
        CHECK(std::abs(device[k].nll_q - naive.nll_q) <= 2e-6);
        CHECK(device[k].top_p == naive.top_p);
        CHECK(device[k].top_q == naive.top_q);
      }
    }
  }
}

TEST_CASE(
    "device divergence with logits offset by a constant (normalisers far apart) equals the "
    "CPU's") {
  // Q = P + N(0, σ²) + c: log q − log p is small while l_q − l_p is near c, so it must be taken
  // without the rounding of l_q − l_p (float and bf16 logits).
  for (const float offset : {7.3f, -20.1f, 1000.5f}) {
    for (const double sigma : {1e-3, 0.3, 2.0}) {
      CAPTURE(offset);
      CAPTURE(sigma);
      logit_pair l = make_pair(7, 4096, sigma, 49);
      for (auto& v : l.q.values) v += offset;
      require_within(compare(device_samples(l),
                             test::cpu::divergence_samples(l.p.view(), l.q.view(), l.correct)));
      check_bfloat16_divergence(l);
      check_16_bit_divergence<pollard::half>(l);
    }
  }
}

TEST_CASE("device divergence on the vocabularies of real models equals the CPU's") {
  // 32004 float logits, 151936 (Qwen's vocabulary) and 32000 bf16: rows far longer than a
  // block's threads, each thread's partial sums merged in a fixed order.
  for (const index_t vocabulary : {index_t{32004}, index_t{151936}}) {
    CAPTURE(vocabulary);
    const logit_pair l = make_pair(5, vocabulary, 0.3, 46);
    require_within(compare(device_samples(l),
                           test::cpu::divergence_samples(l.p.view(), l.q.view(), l.correct)));
  }
  check_bfloat16_divergence(make_pair(4, 32000, 0.3, 47));
  // The first non-finite logit is named, not a later one.
  logit_pair bad = make_pair(3, 151936, 0.3, 48);
  bad.q(1, 150000) = std::numeric_limits<float>::quiet_NaN();
  bad.q(1, 151935) = std::numeric_limits<float>::infinity();
  const test::device_matrix<float> p(bad.p), q(bad.q);
  CHECK_THROWS_WITH_AS(
      gpu::divergence_samples(gpu::par, p.view(), q.view(), std::span(bad.correct)),
      "divergence: logit 150000 of Q at position 1 is not finite", non_finite_error);
}

TEST_CASE(
    "device divergence: equal rows give zeros, ties give the lowest index, strides and bf16") {
  logit_pair l = make_pair(9, 4096, 0.5, 41);
  for (index_t j = 0; j < l.p.cols; ++j) l.q(2, j) = l.p(2, j);        // P = Q at position 2
  for (const index_t j : {index_t{100}, index_t{7}, index_t{4000}}) {  // a three-way tie
    l.p(4, j) = 50.0f;
    l.q(4, j) = 50.0f;
  }
  // Ties inside one 16-byte load (3001 and 3002; 1002 and 1003) and across loads (2001).
  for (const index_t j : {index_t{3002}, index_t{3001}}) l.p(6, j) = 40.0f;
  for (const index_t j : {index_t{2001}, index_t{1003}, index_t{1002}}) l.q(6, j) = 41.0f;
  // A row whose max is ±0, first at index 10 (−0 == +0).
  for (index_t j = 0; j < l.p.cols; ++j) l.p(5, j) = -std::abs(l.p(5, j)) - 1.0f;
  l.p(5, 10) = -0.0f;
  l.p(5, 20) = 0.0f;
  const auto device = device_samples(l);
  const auto cpu = test::cpu::divergence_samples(l.p.view(), l.q.view(), l.correct);
  require_within(compare(device, cpu));
  CHECK(device[2].js_nats == 0.0);
  CHECK(device[2].kl == 0.0);
  CHECK(device[2].delta_p == 0.0);
  CHECK(device[2].same_top);
  CHECK(device[4].top_p == 7);
  CHECK(device[4].top_q == 7);
  CHECK(device[5].top_p == 10);
  CHECK(device[6].top_p == 3001);
  CHECK(device[6].top_q == 1002);

  // A strided view: columns 3..1002 of every other row of a wider matrix.
  const test::device_matrix<float> wide_p(l.p), wide_q(l.q);
  const device_view<const float> sp(wide_p.buffer.data() + 3, 4, 1000, 2 * 4096, 1);
  const device_view<const float> sq(wide_q.buffer.data() + 3, 4, 1000, 2 * 4096, 1);
  test::dense_matrix<float> hp(4, 1000), hq(4, 1000);
  for (index_t r = 0; r < 4; ++r)
    for (index_t j = 0; j < 1000; ++j) {
      hp(r, j) = l.p(2 * r, 3 + j);
      hq(r, j) = l.q(2 * r, 3 + j);
    }
  const std::vector<std::int32_t> few{0, 999, 500, 17};
  require_within(compare(gpu::divergence_samples(gpu::par, sp, sq, std::span(few)),
                         test::cpu::divergence_samples(hp.view(), hq.view(), few)));

  check_bfloat16_divergence(l);
}

TEST_CASE("device divergence: maxima, ties and non-finite logits at the ends of rows") {
  // The max and a tie inside one 16-byte load at the end of rows read in loads (4096, 4120) and
  // entry by entry (1001); −inf, NaN and +inf as the last logit (of P and of Q) are named.
  for (const index_t vocabulary : {index_t{4096}, index_t{4120}, index_t{1001}}) {
    CAPTURE(vocabulary);
    logit_pair l = make_pair(9, vocabulary, 0.5, 50);
    l.p(3, vocabulary - 2) = 60.0f;
    l.q(3, vocabulary - 3) = l.q(3, vocabulary - 2) = 61.0f;
    const auto device = device_samples(l);
    require_within(
        compare(device, test::cpu::divergence_samples(l.p.view(), l.q.view(), l.correct)));
    CHECK(device[3].top_p == vocabulary - 2);
    CHECK(device[3].top_q == vocabulary - 3);
    // 16-bit logits, read entry by entry at 1001 (8 to a load otherwise).
    check_bfloat16_divergence(l);
    check_16_bit_divergence<pollard::half>(l);
    const auto refuses = [&](bool in_p, index_t row, float value) {
      logit_pair bad = l;
      (in_p ? bad.p : bad.q)(row, vocabulary - 1) = value;
      const test::device_matrix<float> bp(bad.p), bq(bad.q);
      CHECK_THROWS_WITH_AS(
          gpu::divergence_samples(gpu::par, bp.view(), bq.view(),
                                  std::span<const std::int32_t>(l.correct)),
          ("divergence: logit " + std::to_string(vocabulary - 1) + " of " + (in_p ? "P" : "Q") +
           " at position " + std::to_string(row) + " is not finite")
              .c_str(),
          non_finite_error);
    };
    refuses(false, 5, -std::numeric_limits<float>::infinity());
    refuses(true, 6, std::numeric_limits<float>::quiet_NaN());
    refuses(true, 0, std::numeric_limits<float>::infinity());
  }
}

TEST_CASE("device divergence: one-entry vocabularies; logits too large for float exponents") {
  // One logit per position: P = Q = 1, every metric 0 (JS and KL to their documented absolute
  // floor: the normalisers' float error squared).
  const logit_pair one = make_pair(5, 1, 0.5, 52);
  const auto device = device_samples(one);
  require_within(
      compare(device, test::cpu::divergence_samples(one.p.view(), one.q.view(), one.correct)));
  for (const auto& s : device) {
    CHECK(s.js_nats <= 1e-13);
    CHECK(s.kl <= 1e-13);
    CHECK(s.delta_p == 0.0);
    CHECK(s.top_p == 0);
    CHECK(s.same_top);
  }
  // Finite logits near 1e12 (float spacing 65536 there): refused by name, not answered wrongly.
  logit_pair huge = make_pair(3, 4096, 0.3, 53);
  for (auto& v : huge.p.values) v = v * 1e11f + 1e12f;
  CHECK_THROWS_WITH_AS(device_samples(huge),
                       doctest::Contains("are too large for the device computation"),
                       non_finite_error);
}

TEST_CASE("device divergence report equals the CPU accumulator's") {
  const logit_pair l = make_pair(301, 4096, 0.3, 42);
  const test::device_matrix<float> p(l.p), q(l.q);
  const auto device = test::cpu::divergence_report_of(gpu::divergence_samples(
      gpu::par, p.view(), q.view(), std::span<const std::int32_t>(l.correct)));
  const auto cpu = test::cpu::divergence_report_of(l.p.view(), l.q.view(), l.correct);
  CHECK(device.positions == cpu.positions);
  CHECK(device.same_top == cpu.same_top);
  const auto close = [](double a, double b, double relative) {
    return std::abs(a - b) <= relative * std::abs(b) + 1e-12;
  };
  for (std::size_t k = 0; k < cpu.js_nats.percentiles.size(); ++k) {
    CHECK(close(device.js_nats.percentiles[k], cpu.js_nats.percentiles[k], 1e-5));
    CHECK(close(device.kl.percentiles[k], cpu.kl.percentiles[k], 1e-5));
    CHECK(std::abs(device.delta_p.percentiles[k] - cpu.delta_p.percentiles[k]) <= 1e-6);
  }
  CHECK(close(device.js_bits.mean, cpu.js_bits.mean, 1e-5));
  CHECK(close(device.kl.mean, cpu.kl.mean, 1e-5));
  CHECK(close(device.kl.standard_error, cpu.kl.standard_error, 1e-5));
  CHECK(std::abs(device.delta_p_rms - cpu.delta_p_rms) <= 1e-6);
  CHECK(close(device.perplexity_p.perplexity, cpu.perplexity_p.perplexity, 2e-6));
  CHECK(close(device.perplexity_q.perplexity, cpu.perplexity_q.perplexity, 2e-6));
  CHECK(close(device.ppl_ratio.mean, cpu.ppl_ratio.mean, 4e-6));
}

TEST_CASE("device divergence rejects bad input with the CPU's messages, before any device work") {
  logit_pair l = make_pair(4, 4096, 0.1, 43);
  l.q(2, 17) = std::numeric_limits<float>::quiet_NaN();
  l.q(3, 5) = std::numeric_limits<float>::infinity();
  const test::device_matrix<float> p(l.p), q(l.q);
  const std::span<const std::int32_t> correct(l.correct);
  CHECK_THROWS_WITH_AS(gpu::divergence_samples(gpu::par, p.view(), q.view(), correct),
                       "divergence: logit 17 of Q at position 2 is not finite", non_finite_error);
  std::vector<std::int32_t> bad = l.correct;
  bad[1] = 4096;
  CHECK_THROWS_WITH_AS(gpu::divergence_samples(gpu::par, p.view(), q.view(), std::span(bad)),
                       "divergence: correct token id 4096 is outside the vocabulary [0, 4096)",
                       shape_error);
  CHECK_THROWS_AS(gpu::divergence_samples(gpu::par, p.view(), q.buffer.view(4, 4095), correct),
                  shape_error);
  CHECK_THROWS_AS(gpu::divergence_samples(gpu::par, p.view(), q.view(), correct.first(3)),
                  shape_error);
}

TEST_CASE("device NLLs equal the CPU perplexity's; the accumulator's result too") {
  for (const index_t vocabulary : {index_t{999}, index_t{32000}}) {
    CAPTURE(vocabulary);
    const logit_pair l = make_pair(37, vocabulary, 0.0, 44);
    const test::device_matrix<float> x(l.p);
    const auto device = gpu::target_nlls(gpu::par, x.view(), std::span(l.correct));
    perplexity_accumulator cpu;
    for (index_t r = 0; r < l.p.rows; ++r) {
      const auto row = row_of(l.p, r);
      const double nll = cpu.add_logits(std::span<const float>(row), l.correct[r]);
      CHECK(std::abs(device[static_cast<std::size_t>(r)] - nll) <= 2e-6);
      const auto naive = test::cpu::naive_divergence(row, row, l.correct[r]);
      CHECK(std::abs(device[static_cast<std::size_t>(r)] - naive.nll_p) <= 2e-6);
    }
    perplexity_accumulator on_device;
    gpu::add_logits(gpu::par, on_device, x.view(), std::span(l.correct));
    CHECK(std::abs(on_device.result().perplexity - cpu.result().perplexity) <=
          2e-6 * cpu.result().perplexity);
  }
  logit_pair l = make_pair(3, 64, 0.0, 45);
  l.p(1, 9) = -std::numeric_limits<float>::infinity();
  const test::device_matrix<float> x(l.p);
  CHECK_THROWS_WITH_AS(gpu::target_nlls(gpu::par, x.view(), std::span(l.correct)),
                       "perplexity: logit 9 of row 1 is not finite", non_finite_error);
  std::vector<std::int32_t> bad{0, -1, 2};
  CHECK_THROWS_WITH_AS(gpu::target_nlls(gpu::par, x.view(), std::span(bad)),
                       "perplexity: token id -1 is outside the vocabulary [0, 64)", shape_error);
}
