#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "pollard/criteria/magnitude.hpp"
#include "pollard/criteria/ria.hpp"
#include "pollard/criteria/wanda.hpp"
#include "pollard/masks/n_m.hpp"
#include "pollard/masks/unstructured.hpp"
#include "pollard/metrics/sparsity.hpp"
#include "pollard/prune.hpp"
#include "support/naive_criteria.hpp"
#include "support/naive_masks.hpp"
#include "support/random.hpp"

using pollard::index_t;

TEST_CASE(
    "prune with wanda and a per-row policy zeroes the floor(d_in*s) lowest |w|*sqrt(norm) per "
    "row") {
  for (const auto& [rows, cols] : {std::pair<index_t, index_t>{1, 7}, {5, 16}, {9, 33}}) {
    auto w = pollard::test::random_normal<float>(rows, cols, 17 + static_cast<unsigned>(cols));
    const auto original = w;
    std::vector<float> norms(static_cast<std::size_t>(cols));
    for (index_t j = 0; j < cols; ++j)
      norms[static_cast<std::size_t>(j)] = 0.1f + static_cast<float>(j % 5);
    pollard::criterion_inputs<float> in;
    in.sq_norm_per_sample = norms;
    const auto m = pollard::prune(w.view(), pollard::wanda{}, in, pollard::unstructured{0.5});
    const auto k = static_cast<index_t>(std::floor(static_cast<double>(cols) * 0.5));
    for (index_t i = 0; i < rows; ++i) {
      std::vector<index_t> order(static_cast<std::size_t>(cols));
      std::iota(order.begin(), order.end(), 0);
      const auto score = [&](index_t j) {
        return std::abs(original(i, j)) * std::sqrt(norms[static_cast<std::size_t>(j)]);
      };
      std::stable_sort(order.begin(), order.end(),
                       [&](index_t a, index_t b) { return score(a) < score(b); });
      for (index_t r = 0; r < cols; ++r) {
        const index_t j = order[static_cast<std::size_t>(r)];
        CHECK(m.pruned(i, j) == (r < k));
        CHECK(w(i, j) == (r < k ? 0.0f : original(i, j)));
      }
    }
  }
}

TEST_CASE("prune with magnitude and 2:4 leaves a valid 2:4 matrix and the mask it applied") {
  auto w = pollard::test::random_normal<double>(6, 24, 3);
  const auto m = pollard::prune(w.view(), pollard::magnitude{}, {}, pollard::n_m::pruned_of(2, 4));
  CHECK(pollard::satisfies_n_m(m, 2, 4));
  for (index_t i = 0; i < 6; ++i)
    for (index_t j = 0; j < 24; ++j) CHECK((w(i, j) == 0.0) == m.pruned(i, j));
}

TEST_CASE("select_mask changes nothing, and a failing policy leaves the weights untouched") {
  auto w = pollard::test::random_normal<float>(4, 10, 5);
  const auto before = w.values;
  const auto m =
      pollard::select_mask(w.view(), pollard::magnitude{}, {}, pollard::unstructured{0.3});
  CHECK(m.pruned_count() == 4 * 3);
  CHECK(w.values == before);
  CHECK_THROWS_AS(pollard::prune(w.view(), pollard::magnitude{}, {}, pollard::n_m::pruned_of(2, 4)),
                  pollard::option_error);  // 4 does not divide 10
  CHECK(w.values == before);
}

TEST_CASE("RIA prunes the zeros of an all-zero column and row first under every grouping") {
  // The reference scores entries of an all-zero row or column 0/0 = NaN and keeps them; a zero
  // weight costs nothing to prune, so RIA scores it 0 (the criterion contract) and every policy
  // prunes it before a live weight: the masks are those of a stable ascending sort of the naive
  // scores with NaN read as 0.
  auto w = pollard::test::random_normal<float>(8, 16, 91);
  for (index_t i = 0; i < 8; ++i) w(i, 5) = 0.0f;   // a dead input channel
  for (index_t j = 0; j < 16; ++j) w(6, j) = 0.0f;  // an already-pruned (padded) row
  std::vector<float> norms(16);
  for (std::size_t j = 0; j < norms.size(); ++j) norms[j] = 0.5f + static_cast<float>(j % 3);
  pollard::criterion_inputs<float> in;
  in.sq_norm_per_sample = norms;
  const std::vector<double> sq(norms.begin(), norms.end());
  auto expected_scores = pollard::test::naive_ria(w.view(), sq, 0.5);
  for (double& v : expected_scores)
    if (std::isnan(v)) v = 0.0;
  const pollard::matrix_view<const double> scores(expected_scores.data(), 8, 16);
  const auto check = [&](const auto& policy, const pollard::mask& expected) {
    auto pruned = w;
    const auto m = pollard::prune(pruned.view(), pollard::ria{}, in, policy);
    CHECK(m == expected);
    for (index_t i = 0; i < 8; ++i)
      for (index_t j = 0; j < 16; ++j) CHECK(pruned(i, j) == (m.pruned(i, j) ? 0.0f : w(i, j)));
  };
  check(pollard::unstructured{0.5}, pollard::test::naive_per_row(scores, 0.5));
  check(pollard::unstructured(0.5, pollard::per_matrix),
        pollard::test::naive_per_matrix(scores, 0.5));
  check(pollard::unstructured(0.5, pollard::per_column_block{8}),
        pollard::test::naive_per_column_block(scores, 0.5, 8));
  check(pollard::n_m::pruned_of(2, 4), pollard::test::naive_n_m(scores, 2, 4));
  check(pollard::pruned_of<3, 4>{}, pollard::test::naive_n_m(scores, 3, 4));
}
