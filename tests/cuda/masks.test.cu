#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "cuda/cpu_reference.hpp"
#include "cuda/device_data.cuh"
#include "pollard/cuda.cuh"
#include "support/naive_criteria.hpp"
#include "support/naive_masks.hpp"
#include "support/random.hpp"

using namespace pollard;
namespace gpu = pollard::cuda;

namespace {

template <class Policy>
mask device_select(const Policy& policy, const test::dense_matrix<float>& scores) {
  const test::device_matrix<float> device(scores);
  return gpu::select_mask(gpu::par, policy, device.view()).to_host();
}

test::dense_matrix<float> absolute(test::dense_matrix<float> m) {
  for (auto& v : m.values) v = std::abs(v);
  return m;
}

}  // namespace

TEST_CASE("device magnitude, Wanda and RIA scores are the CPU criteria's, bit for bit") {
  auto w = test::random_normal<float>(130, 300, 31);
  for (index_t j = 0; j < 300; ++j) w(7, j) = 0.0f;  // an all-zero row: RIA scores its zeros 0
  for (index_t i = 0; i < 130; ++i) w(i, 11) = 0.0f;
  w(3, 3) = -0.0f;
  const auto activations = test::random_normal<float>(1, 300, 32);
  std::vector<float> sq(300);
  for (std::size_t j = 0; j < sq.size(); ++j) sq[j] = activations.values[j] * activations.values[j];
  sq[5] = 0.0f;
  const criterion_inputs<float> inputs{.sq_norm_per_sample = sq};

  const test::device_matrix<float> device_w(w);
  test::device_matrix<float> device_scores(130, 300);
  test::dense_matrix<float> expected(130, 300);

  gpu::score(gpu::par, magnitude{}, device_w.view(), inputs, device_scores.view());
  test::cpu::magnitude_scores(w.view(), expected.view());
  CHECK(device_scores.to_host().values == expected.values);

  gpu::score(gpu::par, wanda{}, device_w.view(), inputs, device_scores.view());
  test::cpu::wanda_scores(w.view(), sq, expected.view());
  CHECK(device_scores.to_host().values == expected.values);
  const auto naive = test::naive_wanda(w.view(), std::vector<double>(sq.begin(), sq.end()));
  CHECK(std::abs(device_scores.to_host()(4, 9) - naive[4 * 300 + 9]) <= 1e-6 * naive[4 * 300 + 9]);

  gpu::score(gpu::par, ria{.exponent = 0.5}, device_w.view(), inputs, device_scores.view());
  test::cpu::ria_scores(w.view(), sq, 0.5, expected.view());
  const auto ria_scores = device_scores.to_host();
  CHECK(ria_scores.values == expected.values);
  CHECK(ria_scores(7, 20) == 0.0f);

  // Checks as on the CPU: a missing input and a non-finite weight.
  CHECK_THROWS_AS(gpu::score(gpu::par, wanda{}, device_w.view(), criterion_inputs<float>{},
                             device_scores.view()),
                  option_error);
  w(100, 200) = std::numeric_limits<float>::infinity();
  const test::device_matrix<float> bad(w);
  CHECK_THROWS_WITH_AS(gpu::score(gpu::par, magnitude{}, bad.view(), inputs, device_scores.view()),
                       "magnitude: non-finite W at (100, 200) = inf", non_finite_error);
}

TEST_CASE("device unstructured masks equal the CPU policies and the naive stable sort") {
  const auto scores = absolute(test::random_normal<float>(301, 517, 33));
  for (const double s : {0.0, 0.3, 0.5, 0.9}) {
    CAPTURE(s);
    const auto per_row = device_select(unstructured{s}, scores);
    CHECK(per_row == test::naive_per_row(scores.view(), s));
    CHECK(per_row == test::cpu::select(unstructured{s}, scores.view()));
    const auto whole = device_select(unstructured{s, per_matrix}, scores);
    CHECK(whole == test::naive_per_matrix(scores.view(), s));
    const auto blocks = device_select(unstructured{s, per_column_block{128}}, scores);
    CHECK(blocks == test::naive_per_column_block(scores.view(), s, 128));
    CHECK(blocks == test::cpu::select(unstructured{s, per_column_block{128}}, scores.view()));
  }
}

TEST_CASE("device unstructured masks break ties by position as a stable sort does") {
  // Five score levels: nearly every selection boundary falls inside a run of equal scores.
  // 250 columns: rows read entry by entry; 256: in 16-byte loads, flags in 4-byte stores; 33
  // levels: some rows' cut falls between levels (no scan of the ties), some inside one; 12
  // levels: runs of about 20 equal scores, which the per-row selection ranks in one warp.
  for (const auto& [cols, levels] : {std::pair{250, 5}, std::pair{256, 5}, std::pair{256, 33},
                                     std::pair{250, 12}, std::pair{256, 12}}) {
    CAPTURE(cols);
    CAPTURE(levels);
    const auto tied = test::tied_scores<float>(123, cols, levels, 34);
    for (const double s : {0.25, 0.5, 0.77}) {
      CAPTURE(s);
      CHECK(device_select(unstructured{s}, tied) == test::naive_per_row(tied.view(), s));
    }
  }
  // 8200 scores of a row within [1, 1.0001): every one falls in the same bucket of the first
  // radix digit, more than the 1024 candidates the per-row selection keeps apart, so it goes on
  // over the whole row; levels of 1e-5 make ties.
  test::dense_matrix<float> narrow(3, 8200);
  const auto levels = test::tied_scores<float>(3, 8200, 11, 36);
  for (std::size_t k = 0; k < narrow.values.size(); ++k)
    narrow.values[k] = 1.0f + 1e-5f * levels.values[k];
  for (const double s : {0.3, 0.5}) {
    CAPTURE(s);
    CHECK(device_select(unstructured{s}, narrow) == test::naive_per_row(narrow.view(), s));
  }
  // The same with 800 and 3000 columns: every score in the bucket, kept apart (800, at most 1024
  // candidates) or not (3000: the later digits over the whole row).
  for (const index_t cols : {800, 3000}) {
    test::dense_matrix<float> bucket(4, cols);
    const auto bucket_levels = test::tied_scores<float>(4, cols, 7, 37);
    for (std::size_t k = 0; k < bucket.values.size(); ++k)
      bucket.values[k] = 1.0f + 1e-5f * bucket_levels.values[k];
    for (const double s : {0.3, 0.5}) {
      CAPTURE(cols);
      CAPTURE(s);
      CHECK(device_select(unstructured{s}, bucket) == test::naive_per_row(bucket.view(), s));
    }
  }
  const auto scores = test::tied_scores<float>(123, 250, 5, 34);
  for (const double s : {0.25, 0.5, 0.77}) {
    CAPTURE(s);
    CHECK(device_select(unstructured{s}, scores) == test::naive_per_row(scores.view(), s));
    CHECK(device_select(unstructured{s, per_matrix}, scores) ==
          test::naive_per_matrix(scores.view(), s));
    CHECK(device_select(unstructured{s, per_column_block{64}}, scores) ==
          test::naive_per_column_block(scores.view(), s, 64));
    CHECK(device_select(unstructured{s, per_column_block{100}}, scores) ==
          test::naive_per_column_block(scores.view(), s, 100));
  }
  // -0 and +0 tie; +inf ranks above every finite score and goes last, by position.
  test::dense_matrix<float> special(2, 6);
  const float inf = std::numeric_limits<float>::infinity();
  special.values = {inf, 0.0f, -0.0f, inf, 1.0f, -1.0f, inf, inf, inf, inf, inf, 2.0f};
  const auto m = device_select(unstructured{0.5}, special);
  CHECK(m == test::naive_per_row(special.view(), 0.5));
  CHECK(m == test::cpu::select(unstructured{0.5}, special.view()));
}

TEST_CASE("device masks of double and bfloat16 scores equal the naive ones") {
  const auto source = absolute(test::random_normal<float>(64, 200, 35));
  test::dense_matrix<double> scores64(64, 200);
  test::dense_matrix<bfloat16> scores16(64, 200);
  for (std::size_t k = 0; k < source.values.size(); ++k) {
    scores64.values[k] =
        static_cast<double>(source.values[k]) * (1.0 + 1e-12 * static_cast<double>(k));
    scores16.values[k] = bfloat16(source.values[k]);
  }
  const test::device_matrix<double> d64(scores64);
  const test::device_matrix<bfloat16> d16(scores16);
  CHECK(gpu::select_mask(gpu::par, unstructured{0.6, per_matrix}, d64.view()).to_host() ==
        test::naive_per_matrix(scores64.view(), 0.6));
  CHECK(gpu::select_mask(gpu::par, unstructured{0.4}, d16.view()).to_host() ==
        test::naive_per_row(scores16.view(), 0.4));
  CHECK(gpu::select_mask(gpu::par, unstructured{0.6}, d64.view()).to_host() ==
        test::naive_per_row(scores64.view(), 0.6));
  CHECK(gpu::select_mask(gpu::par, n_m::pruned_of(2, 4), d16.view()).to_host() ==
        test::naive_n_m(scores16.view(), 2, 4));
}

TEST_CASE("device N:M masks equal the naive windows, ties to the lower column") {
  const auto scores = absolute(test::random_normal<float>(97, 256, 36));
  const auto tied = test::tied_scores<float>(97, 256, 3, 37);
  for (const auto& s : {scores, tied}) {
    CHECK(device_select(n_m::pruned_of(2, 4), s) == test::naive_n_m(s.view(), 2, 4));
    CHECK(device_select(n_m::pruned_of(4, 8), s) == test::naive_n_m(s.view(), 4, 8));
    CHECK(device_select(n_m::pruned_of(5, 16), s) == test::naive_n_m(s.view(), 5, 16));
    CHECK(device_select(pruned_of<1, 4>{}, s) == test::naive_n_m(s.view(), 1, 4));
    CHECK(device_select(n_m::pruned_of(2, 4), s) ==
          test::cpu::select(n_m::pruned_of(2, 4), s.view()));
  }
  const test::device_matrix<float> device(scores);
  CHECK_THROWS_AS(gpu::select_mask(gpu::par, n_m::pruned_of(2, 6), device.view()), option_error);
}

TEST_CASE("device masks on LLaMA-7B shapes equal the CPU policies") {
  for (const auto& [rows, cols] :
       {std::pair<index_t, index_t>{4096, 4096}, {11008, 4096}, {4096, 11008}}) {
    CAPTURE(rows);
    CAPTURE(cols);
    const auto scores = absolute(test::random_normal<float>(rows, cols, 38));
    const test::device_matrix<float> device(scores);
    CHECK(gpu::select_mask(gpu::par, unstructured{0.5}, device.view()).to_host() ==
          test::cpu::select(unstructured{0.5}, scores.view()));
    CHECK(gpu::select_mask(gpu::par, n_m::pruned_of(2, 4), device.view()).to_host() ==
          test::cpu::select(n_m::pruned_of(2, 4), scores.view()));
    CHECK(gpu::select_mask(gpu::par, unstructured{0.5, per_column_block{128}}, device.view())
              .to_host() ==
          test::cpu::select(unstructured{0.5, per_column_block{128}}, scores.view()));
  }
}

TEST_CASE("a NaN or -inf score is refused with the CPU policy's message") {
  auto scores = absolute(test::random_normal<float>(20, 40, 39));
  scores(13, 27) = -std::numeric_limits<float>::infinity();
  scores(15, 2) = std::numeric_limits<float>::quiet_NaN();
  std::string host_message;
  try {
    test::cpu::select(unstructured{0.5}, scores.view());
  } catch (const non_finite_error& e) {
    host_message = e.what();
  }
  CHECK(!host_message.empty());
  CHECK_THROWS_WITH_AS(device_select(unstructured{0.5}, scores), host_message.c_str(),
                       non_finite_error);
  CHECK_THROWS_AS(device_select(n_m::pruned_of(2, 4), scores), non_finite_error);
}

namespace {

/// DSnoT inputs: weights, per-channel means and variances (some variances 0), Wanda-like
/// scores, and an initial mask chosen from the scores by the naive selection of `policy`.
struct dsnot_case {
  test::dense_matrix<float> w, scores;
  std::vector<double> mean, variance;
};

dsnot_case make_dsnot_case(index_t rows, index_t cols, std::uint64_t seed) {
  dsnot_case c{
      test::random_normal<float>(rows, cols, seed), test::dense_matrix<float>(rows, cols), {}, {}};
  const auto m = test::random_normal<double>(1, cols, seed + 1);
  const auto v = test::random_normal<double>(1, cols, seed + 2);
  for (index_t j = 0; j < cols; ++j) {
    c.mean.push_back(0.3 * m.values[static_cast<std::size_t>(j)]);
    c.variance.push_back(j % 17 == 3 ? 0.0 : std::abs(v.values[static_cast<std::size_t>(j)]));
  }
  for (index_t i = 0; i < rows; ++i)
    for (index_t j = 0; j < cols; ++j) {
      const auto k = static_cast<std::size_t>(j);
      c.scores(i, j) = std::abs(c.w(i, j)) *
                       static_cast<float>(std::sqrt(c.variance[k] + c.mean[k] * c.mean[k]));
    }
  return c;
}

template <class Policy>
void check_dsnot_equals_cpu(const dsnot_case& c, const mask& initial, const Policy& policy,
                            const dsnot_options& o) {
  const mask cpu = dsnot(c.w.view(), initial, std::span<const double>(c.mean),
                         std::span<const double>(c.variance), c.scores.view(), policy, o);
  const test::device_matrix<float> w(c.w), scores(c.scores);
  const mask device =
      gpu::dsnot(gpu::par, w.view(), gpu::device_mask(initial), std::span<const double>(c.mean),
                 std::span<const double>(c.variance), scores.view(), policy, o)
          .to_host();
  // The refinement did swap weights (a no-op would pass the comparison trivially).
  CHECK(test::mask_differences(cpu, initial) > 0);
  CHECK(test::mask_differences(device, cpu) == 0);
}

}  // namespace

TEST_CASE("device DSnoT refines every mask rule exactly as the CPU's dsnot") {
  const dsnot_case c = make_dsnot_case(67, 256, 50);
  const dsnot_options swaps_more{0.01, 200, 1.0};
  const dsnot_options square_root{0.1, 50, 0.5};
  for (const dsnot_options& o : {dsnot_options{}, swaps_more, square_root}) {
    CAPTURE(o.update_threshold);
    CAPTURE(o.variance_power);
    check_dsnot_equals_cpu(c, test::naive_per_row(c.scores.view(), 0.5), unstructured{0.5}, o);
    check_dsnot_equals_cpu(c, test::naive_per_matrix(c.scores.view(), 0.7),
                           unstructured{0.7, per_matrix}, o);
    check_dsnot_equals_cpu(c, test::naive_per_column_block(c.scores.view(), 0.5, 64),
                           unstructured{0.5, per_column_block{64}}, o);
    check_dsnot_equals_cpu(c, test::naive_n_m(c.scores.view(), 2, 4), n_m::pruned_of(2, 4), o);
    check_dsnot_equals_cpu(c, test::naive_n_m(c.scores.view(), 4, 8), pruned_of<4, 8>{}, o);
  }
  // Rows narrower than the cycles walk a pointer to the end of its list.
  const dsnot_case narrow = make_dsnot_case(40, 24, 51);
  check_dsnot_equals_cpu(narrow, test::naive_per_row(narrow.scores.view(), 0.5), unstructured{0.5},
                         swaps_more);
}

TEST_CASE("device DSnoT on a LLaMA-7B shape equals the CPU's") {
  const dsnot_case c = make_dsnot_case(4096, 4096, 52);
  check_dsnot_equals_cpu(c, test::cpu::select(unstructured{0.5}, c.scores.view()),
                         unstructured{0.5}, dsnot_options{});
  check_dsnot_equals_cpu(c, test::cpu::select(n_m::pruned_of(2, 4), c.scores.view()),
                         n_m::pruned_of(2, 4), dsnot_options{});
}

TEST_CASE("device DSnoT refuses what the CPU refuses, with its messages") {
  dsnot_case c = make_dsnot_case(8, 32, 53);
  const mask initial = test::naive_per_row(c.scores.view(), 0.5);
  const auto messages = [&](const mask& m, const dsnot_case& d) {
    std::string cpu, device;
    try {
      (void)dsnot(d.w.view(), m, std::span<const double>(d.mean),
                  std::span<const double>(d.variance), d.scores.view(), unstructured{0.5});
    } catch (const error& e) {
      cpu = e.what();
    }
    const test::device_matrix<float> w(d.w), scores(d.scores);
    try {
      (void)gpu::dsnot(gpu::par, w.view(), gpu::device_mask(m), std::span<const double>(d.mean),
                       std::span<const double>(d.variance), scores.view(), unstructured{0.5});
    } catch (const error& e) {
      device = e.what();
    }
    CHECK(!cpu.empty());
    CHECK(device == cpu);
  };
  // A weight and a score are non-finite; the first in row-major order is named.
  dsnot_case bad = c;
  bad.w(3, 5) = std::numeric_limits<float>::quiet_NaN();
  bad.scores(3, 4) = std::numeric_limits<float>::infinity();
  messages(initial, bad);
  bad = c;
  bad.w(2, 9) = std::numeric_limits<float>::infinity();
  bad.scores(6, 1) = std::numeric_limits<float>::quiet_NaN();
  messages(initial, bad);
  // An initial mask the policy did not choose; a negative variance.
  mask changed = initial;
  for (index_t j = 0; j < changed.cols(); ++j)
    if (changed.pruned(4, j)) {
      changed.keep(4, j);
      break;
    }
  messages(changed, c);
  bad = c;
  bad.variance[7] = -1.0;
  messages(initial, bad);
}
