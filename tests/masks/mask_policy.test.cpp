#include <doctest/doctest.h>

#include <cmath>

#include "pollard/core/mask.hpp"
#include "pollard/masks/mask_policy.hpp"
#include "pollard/masks/n_m.hpp"
#include "pollard/masks/unstructured.hpp"
#include "support/naive_masks.hpp"
#include "support/random.hpp"

namespace {

using pollard::index_t;

/// A user-defined policy: prune every score below a fixed threshold.
struct prune_below {
  double threshold;
  template <class T>
  pollard::mask select(pollard::matrix_view<const T> scores) const {
    pollard::mask out(scores.rows(), scores.cols());
    for (index_t i = 0; i < scores.rows(); ++i)
      for (index_t j = 0; j < scores.cols(); ++j)
        out.set_pruned(i, j, static_cast<double>(scores(i, j)) < threshold);
    return out;
  }
};

/// Only float scores: a policy may restrict its element types.
struct float_only {
  pollard::mask select(pollard::matrix_view<const float> scores) const {
    return pollard::mask(scores.rows(), scores.cols());
  }
};

struct no_select {};
struct wrong_result {
  int select(pollard::matrix_view<const float>) const { return 0; }
};
struct non_const_select {
  pollard::mask select(pollard::matrix_view<const float> s) { return {s.rows(), s.cols()}; }
};

/// Generic code written against the concept: scores -> mask -> pruned weights.
template <class Policy, class T>
requires pollard::mask_policy<Policy, T> pollard::mask prune_with(
    const Policy& policy, pollard::matrix_view<const T> scores, pollard::matrix_view<T> weights) {
  auto m = policy.select(scores);
  pollard::apply_mask(m, weights);
  return m;
}

}  // namespace

static_assert(pollard::mask_policy<pollard::unstructured, float>);
static_assert(pollard::mask_policy<pollard::n_m, double>);
static_assert(pollard::mask_policy<pollard::pruned_of<2, 4>, float>);
static_assert(pollard::mask_policy<prune_below, float>);
static_assert(pollard::mask_policy<prune_below, double>);
static_assert(pollard::mask_policy<float_only, float>);
static_assert(!pollard::mask_policy<float_only, double>);
static_assert(!pollard::mask_policy<no_select, float>);
static_assert(!pollard::mask_policy<wrong_result, float>);
static_assert(!pollard::mask_policy<non_const_select, float>);

TEST_CASE("a user-defined policy plugs into code written against mask_policy") {
  const auto scores = pollard::test::random_normal<float>(6, 20, 61);
  auto weights = pollard::test::random_normal<float>(6, 20, 62);
  const auto m = prune_with(prune_below{0.25}, scores.view(), weights.view());
  for (index_t i = 0; i < 6; ++i)
    for (index_t j = 0; j < 20; ++j) {
      CHECK(m.pruned(i, j) == (scores(i, j) < 0.25f));
      if (scores(i, j) < 0.25f) CHECK(weights(i, j) == 0.0f);
    }
}

TEST_CASE("the shipped policies work through the same generic code") {
  const auto scores = pollard::test::random_normal<double>(4, 16, 63);
  auto weights = pollard::test::random_normal<double>(4, 16, 64);
  const auto m = prune_with(pollard::n_m::pruned_of(2, 4), scores.view(), weights.view());
  CHECK(m == pollard::test::naive_n_m(scores.view(), 2, 4));
  index_t zeros = 0;
  for (const double w : weights.values) zeros += w == 0.0 ? 1 : 0;
  CHECK(zeros == 32);
  const auto u =
      prune_with(pollard::unstructured{0.25, pollard::per_matrix}, scores.view(), weights.view());
  CHECK(u == pollard::test::naive_per_matrix(scores.view(), 0.25));
}
