// The causal_lm and incremental_lm concepts on the toy model (tests/support/toy_model.hpp):
// chunked logits against the toy's independent double-precision reference, and incremental
// decoding against the chunked logits.
#include "pollard/model/causal_lm.hpp"

#if defined(EIGEN_CORE_H)
#error "pollard/model/causal_lm.hpp includes Eigen"
#endif

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "support/toy_model.hpp"

using namespace pollard;
using test::dense_matrix;
using test::toy_model;
using test::toy_reference;
using test::toy_weights;

namespace {

struct no_logits {
  index_t vocab_size() const { return 3; }
  index_t context_length() const { return 3; }
};

std::vector<token_id> stacked(const std::vector<std::vector<token_id>>& sequences) {
  std::vector<token_id> out;
  for (const auto& s : sequences) out.insert(out.end(), s.begin(), s.end());
  return out;
}

// The reference logits of stacked sequences, rows in layout order.
dense_matrix<double> reference_logits(const toy_weights& w,
                                      const std::vector<std::vector<token_id>>& sequences) {
  const auto L = static_cast<index_t>(sequences.front().size());
  dense_matrix<double> out(static_cast<index_t>(sequences.size()) * L, w.vocab);
  for (std::size_t s = 0; s < sequences.size(); ++s) {
    const toy_reference ref(w, sequences[s]);
    for (index_t t = 0; t < L; ++t)
      for (index_t v = 0; v < w.vocab; ++v)
        out(static_cast<index_t>(s) * L + t, v) = ref.logits(t, v);
  }
  return out;
}

}  // namespace

static_assert(model::causal_lm<toy_model>);
static_assert(model::incremental_lm<toy_model>);
static_assert(std::is_same_v<model::sequence_state_t<toy_model>, toy_model::sequence_state>);
static_assert(model::causal_lm<test::foreign_toy_engine>);
static_assert(!model::incremental_lm<test::foreign_toy_engine>);
// Its model_traits has no causal operations, and the traits tier is the only one used.
static_assert(!model::causal_lm<test::toy_model_with_traits>);
static_assert(!model::causal_lm<no_logits>);
static_assert(!model::causal_lm<int>);

TEST_CASE("for_each_logits hands over consecutive chunks equal to the unchunked reference") {
  toy_model m(toy_weights::random(11));
  const std::vector<std::vector<token_id>> sequences = {
      {1, 2, 3, 4, 5}, {6, 0, 6, 0, 1}, {2, 2, 2, 2, 2}};
  const auto tokens = stacked(sequences);
  const auto expected = reference_logits(m.weights(), sequences);
  for (const index_t chunk : {1, 2, 4, 15, 100})
    for (const model::row_range rows : {model::row_range{0, 15}, model::row_range{3, 11},
                                        model::row_range{14, 15}, model::row_range{6, 6}}) {
      CAPTURE(chunk);
      CAPTURE(rows.begin);
      CAPTURE(rows.end);
      std::vector<index_t> firsts, counts;
      double worst = 0.0;
      model::for_each_logits(m, tokens, model::sequence_layout{3, 5}, rows, chunk,
                             [&](index_t first, matrix_view<const float> logits) {
                               firsts.push_back(first);
                               counts.push_back(logits.rows());
                               REQUIRE(logits.cols() == model::vocab_size(m));
                               for (index_t r = 0; r < logits.rows(); ++r)
                                 for (index_t v = 0; v < logits.cols(); ++v)
                                   worst = std::max(
                                       worst, std::abs(logits(r, v) - expected(first + r, v)));
                             });
      std::vector<index_t> want_firsts, want_counts;
      for (index_t f = rows.begin; f < rows.end; f += chunk) {
        want_firsts.push_back(f);
        want_counts.push_back(std::min(chunk, rows.end - f));
      }
      CHECK(firsts == want_firsts);
      CHECK(counts == want_counts);
      CHECK(worst < 1e-5);
    }
}

TEST_CASE("for_each_logits without a row range covers every row") {
  test::foreign_toy_engine e{toy_weights::random(12)};
  const std::vector<std::vector<token_id>> sequences = {{3, 1, 4, 1}, {5, 2, 6, 5}};
  const auto expected = reference_logits(e.weights, sequences);
  index_t rows = 0;
  double worst = 0.0;
  model::for_each_logits(e, stacked(sequences), model::sequence_layout{2, 4}, 3,
                         [&](index_t first, matrix_view<const float> logits) {
                           CHECK(first == rows);
                           rows += logits.rows();
                           for (index_t r = 0; r < logits.rows(); ++r)
                             for (index_t v = 0; v < logits.cols(); ++v)
                               worst =
                                   std::max(worst, std::abs(logits(r, v) - expected(first + r, v)));
                         });
  CHECK(rows == 8);
  CHECK(worst < 1e-5);
}

TEST_CASE("extend's logits equal the reference's row of the same prefix") {
  toy_model m(toy_weights::random(13));
  const std::vector<token_id> tokens = {4, 4, 1, 0, 2, 6, 3};
  const toy_reference ref(m.weights(), tokens);
  auto state = model::start_sequence(m, 7);
  const std::span<const token_id> all(tokens);
  auto logits = model::extend(m, state, all.first(3));  // a prompt at once
  double worst = 0.0;
  for (index_t v = 0; v < model::vocab_size(m); ++v)
    worst = std::max(worst, std::abs(logits[static_cast<std::size_t>(v)] - ref.logits(2, v)));
  for (std::size_t t = 3; t < tokens.size(); ++t) {  // then one token at a time
    logits = model::extend(m, state, all.subspan(t, 1));
    for (index_t v = 0; v < model::vocab_size(m); ++v)
      worst = std::max(worst, std::abs(logits[static_cast<std::size_t>(v)] -
                                       ref.logits(static_cast<index_t>(t), v)));
  }
  CHECK(worst < 1e-5);
  CHECK_THROWS_AS(model::extend(m, state, all.first(1)), option_error);  // capacity 7 is full
}

TEST_CASE("for_each_logits and extend reject bad arguments before calling the consumer") {
  toy_model m(toy_weights::random(14));
  const std::vector<token_id> tokens(6, 1);
  int calls = 0;
  const auto count = [&](index_t, matrix_view<const float>) { ++calls; };
  CHECK_THROWS_AS(model::for_each_logits(m, tokens, model::sequence_layout{1, 5}, 2, count),
                  shape_error);
  CHECK_THROWS_AS(model::for_each_logits(m, tokens, model::sequence_layout{2, 3},
                                         model::row_range{4, 7}, 2, count),
                  option_error);
  CHECK_THROWS_AS(model::for_each_logits(m, tokens, model::sequence_layout{2, 3}, 0, count),
                  option_error);
  const std::vector<token_id> long_sequence(17, 1);  // the toy's context is 16
  CHECK_THROWS_AS(model::for_each_logits(m, long_sequence, model::sequence_layout{1, 17}, 4, count),
                  option_error);
  const std::vector<token_id> outside = {1, 2, 9};
  CHECK_THROWS_AS(model::for_each_logits(m, outside, model::sequence_layout{1, 3}, 4, count),
                  option_error);
  CHECK(calls == 0);
  CHECK_THROWS_AS(model::start_sequence(m, 0), option_error);
  auto state = model::start_sequence(m, 4);
  CHECK_THROWS_AS(model::extend(m, state, std::span<const token_id>()), option_error);
}

TEST_CASE("one prefill serves logits of any rows, in any order, checked against its layout") {
  test::foreign_toy_engine e{toy_weights::random(15)};
  const std::vector<std::vector<token_id>> sequences = {{1, 3, 5}, {0, 2, 4}};
  const auto expected = reference_logits(e.weights, sequences);
  const auto p = model::prefill(e, stacked(sequences), model::sequence_layout{2, 3});
  const index_t vocab = model::vocab_size(e);
  for (const model::row_range rows :
       {model::row_range{4, 6}, model::row_range{0, 1}, model::row_range{1, 5}}) {
    dense_matrix<float> out(rows.size(), vocab);
    model::logits(e, p, rows, out.view());
    double worst = 0.0;
    for (index_t r = 0; r < rows.size(); ++r)
      for (index_t v = 0; v < vocab; ++v)
        worst = std::max(worst, std::abs(out(r, v) - expected(rows.begin + r, v)));
    CHECK(worst < 1e-5);
  }
  dense_matrix<float> out(2, vocab);
  CHECK_THROWS_AS(model::logits(e, p, model::row_range{5, 7}, out.view()), option_error);
  CHECK_THROWS_AS(model::logits(e, p, model::row_range{0, 3}, out.view()), shape_error);
}
