#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
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
