#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "pollard/criteria/magnitude.hpp"
#include "pollard/criteria/wanda.hpp"
#include "pollard/masks/n_m.hpp"
#include "pollard/masks/unstructured.hpp"
#include "pollard/metrics/sparsity.hpp"
#include "pollard/prune.hpp"
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
  const auto m = pollard::prune(w.view(), pollard::magnitude{}, {}, pollard::n_m{2, 4});
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
  CHECK_THROWS_AS(pollard::prune(w.view(), pollard::magnitude{}, {}, pollard::n_m{2, 4}),
                  pollard::option_error);  // 4 does not divide 10
  CHECK(w.values == before);
}
