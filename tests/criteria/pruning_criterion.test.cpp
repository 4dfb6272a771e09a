#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "pollard/criteria/magnitude.hpp"
#include "pollard/criteria/obs.hpp"
#include "pollard/criteria/pruning_criterion.hpp"
#include "pollard/criteria/ria.hpp"
#include "pollard/criteria/wanda.hpp"
#include "support/naive_criteria.hpp"
#include "support/random.hpp"

using pollard::criterion_inputs;
using pollard::index_t;
using pollard::matrix_view;
using pollard::pruning_criterion;

namespace {

// A user-defined criterion: |W_ij| weighted by the input channel's activation (Wanda without
// the square root), written as one small non-template struct.
struct activation_weighted {
  void score(matrix_view<const float> w, const criterion_inputs<float>& in,
             matrix_view<float> scores) const {
    if (in.sq_norm_per_sample.empty())
      throw pollard::option_error("activation_weighted: needs sq_norm_per_sample");
    for (index_t i = 0; i < w.rows(); ++i)
      for (index_t j = 0; j < w.cols(); ++j)
        scores(i, j) = std::abs(w(i, j)) * in.sq_norm_per_sample[static_cast<std::size_t>(j)];
  }
};

struct no_score {};
struct wrong_signature {
  float score(matrix_view<const float>) const { return 0.0f; }
};

// Generic use of the concept: scores of any criterion into a new dense matrix.
template <class C>
requires pruning_criterion<C, float> pollard::test::dense_matrix<float> score_with(
    const C& criterion, matrix_view<const float> w, const criterion_inputs<float>& inputs) {
  pollard::test::dense_matrix<float> scores(w.rows(), w.cols());
  criterion.score(w, inputs, scores.view());
  return scores;
}

}  // namespace

static_assert(pruning_criterion<pollard::magnitude>);
static_assert(pruning_criterion<pollard::wanda>);
static_assert(pruning_criterion<pollard::ria>);
static_assert(pruning_criterion<pollard::obs>);
static_assert(pruning_criterion<pollard::wanda, double>);
static_assert(pruning_criterion<pollard::ria, float, pollard::half>);
static_assert(pruning_criterion<pollard::obs, double, pollard::bfloat16>);
static_assert(pruning_criterion<activation_weighted>);
static_assert(!pruning_criterion<activation_weighted, double>);  // it only scores float
static_assert(!pruning_criterion<int>);
static_assert(!pruning_criterion<no_score>);
static_assert(!pruning_criterion<wrong_signature>);
static_assert(!pruning_criterion<pollard::wanda, int>);  // int is not a compute type

TEST_CASE("a user-defined criterion plugs into generic code through the concept") {
  const auto w = pollard::test::random_normal<float>(3, 7, 17);
  std::vector<float> sq = {0.5f, 1.0f, 2.0f, 0.0f, 3.0f, 1.5f, 0.25f};
  const auto scores = score_with(activation_weighted{}, w.view(), {.sq_norm_per_sample = sq});
  for (index_t i = 0; i < 3; ++i)
    for (index_t j = 0; j < 7; ++j)
      CHECK(scores(i, j) == std::abs(w(i, j)) * sq[static_cast<std::size_t>(j)]);
  CHECK_THROWS_WITH_AS(score_with(activation_weighted{}, w.view(), {}),
                       "activation_weighted: needs sq_norm_per_sample", pollard::option_error);
  static_assert(!pollard::needs_of<activation_weighted>().sq_norm_per_sample);
}

TEST_CASE("the built-in criteria work through the same generic function") {
  const auto w = pollard::test::random_normal<float>(4, 5, 18);
  std::vector<float> sq = {0.5f, 1.0f, 2.0f, 0.1f, 3.0f};
  const criterion_inputs<float> in{.sq_norm_per_sample = sq, .inverse_hessian_diagonal = sq};
  const std::vector<double> sqd(sq.begin(), sq.end());
  const auto check = [](const pollard::test::dense_matrix<float>& s, const std::vector<double>& r) {
    for (std::size_t k = 0; k < r.size(); ++k)
      CHECK(static_cast<double>(s.values[k]) == doctest::Approx(r[k]).epsilon(1e-6));
  };
  check(score_with(pollard::magnitude{}, w.view(), in), pollard::test::naive_magnitude(w.view()));
  check(score_with(pollard::wanda{}, w.view(), in), pollard::test::naive_wanda(w.view(), sqd));
  check(score_with(pollard::ria{}, w.view(), in), pollard::test::naive_ria(w.view(), sqd, 0.5));
  check(score_with(pollard::obs{}, w.view(), in), pollard::test::naive_obs(w.view(), sqd));
}
