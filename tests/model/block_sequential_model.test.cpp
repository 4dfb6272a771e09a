// The block_sequential_model concept: a user-defined toy model (member tier), a foreign engine
// (model_traits tier) and a type with both tiers, run through pollard::model's entry points and
// checked against the toy's independent double-precision reference (tests/support/toy_model.hpp).
#include "pollard/model/block_sequential_model.hpp"

// The model concepts are engine-independent: they must not pull in Eigen or the Llama engine.
#if defined(EIGEN_CORE_H)
#error "pollard/model/block_sequential_model.hpp includes Eigen"
#endif

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "support/toy_model.hpp"

using namespace pollard;
using test::dense_matrix;
using test::toy_model;
using test::toy_reference;
using test::toy_weights;

namespace {

struct not_a_model {};

// Everything but run_block.
struct missing_run_block {
  index_t block_count() const { return 1; }
  index_t hidden_size() const { return 1; }
  std::vector<model::block_input> block_inputs(index_t) const { return {}; }
  std::vector<model::linear_ref> linears(index_t) { return {}; }
  void embed(std::span<const token_id>, matrix_view<float>) {}
};

std::vector<token_id> tokens_of(std::initializer_list<int> ids) {
  return std::vector<token_id>(ids.begin(), ids.end());
}

template <class A>
double max_diff(const A& actual, const dense_matrix<double>& expected) {
  double worst = 0.0;
  for (index_t i = 0; i < expected.rows; ++i)
    for (index_t j = 0; j < expected.cols; ++j)
      worst = std::max(worst, std::abs(static_cast<double>(actual(i, j)) - expected(i, j)));
  return worst;
}

// Each input the observer saw, copied out of the call.
struct captured_inputs {
  std::vector<index_t> order;
  std::vector<dense_matrix<float>> values;
  void operator()(index_t input, matrix_view<const float> x) {
    order.push_back(input);
    dense_matrix<float> copy(x.rows(), x.cols());
    for (index_t i = 0; i < x.rows(); ++i)
      for (index_t j = 0; j < x.cols(); ++j) copy(i, j) = x(i, j);
    values.push_back(copy);
  }
};

}  // namespace

static_assert(model::block_sequential_model<toy_model>);
static_assert(model::block_sequential_model<test::foreign_toy_engine>);
static_assert(model::block_sequential_model<test::toy_model_with_traits>);
static_assert(!model::block_sequential_model<not_a_model>);
static_assert(!model::block_sequential_model<int>);
static_assert(!model::block_sequential_model<missing_run_block>);

TEST_CASE("embed writes the embedding row of every token") {
  toy_model m(toy_weights::random(1));
  const auto tokens = tokens_of({3, 0, 6, 3});
  dense_matrix<float> hidden(4, model::hidden_size(m));
  model::embed(m, tokens, hidden.view());
  for (index_t r = 0; r < 4; ++r)
    for (index_t j = 0; j < hidden.cols; ++j)
      CHECK(hidden(r, j) == m.weights().embedding(tokens[static_cast<std::size_t>(r)], j));
}

TEST_CASE("run_block through the concept updates hidden in place and shows each linear's input") {
  toy_model m(toy_weights::random(2));
  const auto tokens = tokens_of({1, 4, 2, 5, 0});
  const toy_reference ref(m.weights(), tokens);
  REQUIRE(model::block_count(m) == 2);
  dense_matrix<float> hidden(5, model::hidden_size(m));
  model::embed(m, tokens, hidden.view());
  for (index_t b = 0; b < model::block_count(m); ++b) {
    CAPTURE(b);
    const auto i = static_cast<std::size_t>(b);
    CHECK(max_diff(hidden, ref.x[i]) < 1e-5);
    captured_inputs seen;
    model::run_block(m, b, hidden.view(), model::sequence_layout{1, 5}, seen);
    REQUIRE(seen.order == std::vector<index_t>{0, 1});
    const auto inputs = model::block_inputs(m, b);
    REQUIRE(inputs.size() == 2);
    CHECK(seen.values[0].cols == inputs[0].width);
    CHECK(seen.values[1].cols == inputs[1].width);
    CHECK(max_diff(seen.values[0], ref.mix[i]) < 1e-5);
    CHECK(max_diff(seen.values[1], ref.mid[i]) < 1e-5);
  }
  CHECK(max_diff(hidden, ref.final_hidden) < 1e-5);
}

TEST_CASE("sequences stacked in a layout do not see each other") {
  toy_model m(toy_weights::random(3));
  const auto a = tokens_of({1, 2, 3, 4}), b = tokens_of({6, 5, 4, 3});
  std::vector<token_id> both(a);
  both.insert(both.end(), b.begin(), b.end());
  const toy_reference ref_a(m.weights(), a), ref_b(m.weights(), b);
  dense_matrix<float> hidden(8, model::hidden_size(m));
  model::embed(m, both, hidden.view());
  for (index_t k = 0; k < model::block_count(m); ++k)
    model::run_block(m, k, hidden.view(), model::sequence_layout{2, 4});
  dense_matrix<double> expected(8, hidden.cols);
  for (index_t t = 0; t < 4; ++t)
    for (index_t j = 0; j < hidden.cols; ++j) {
      expected(t, j) = ref_a.final_hidden(t, j);
      expected(4 + t, j) = ref_b.final_hidden(t, j);
    }
  CHECK(max_diff(hidden, expected) < 1e-5);
}

TEST_CASE("linears name every linear of a block with its shape and shared input") {
  toy_model m(toy_weights::random(4));
  const auto inputs = model::block_inputs(m, 1);
  CHECK(inputs[0].name == "mix");
  CHECK(inputs[1].name == "mid");
  const auto linears = model::linears(m, 1);
  REQUIRE(linears.size() == 3);
  CHECK(linears[0].name == "blk.1.up");
  CHECK(linears[1].name == "blk.1.gate");
  CHECK(linears[2].name == "blk.1.down");
  CHECK(linears[0].input == 0);
  CHECK(linears[1].input == 0);  // up and gate share one input, so one statistic
  CHECK(linears[2].input == 1);
  CHECK(linears[0].weight.rows() == 3);
  CHECK(linears[0].weight.cols() == 4);
  CHECK(linears[2].weight.rows() == 4);
  CHECK(linears[2].weight.cols() == 3);
  CHECK(linears[2].weight.data() == m.weights().blocks[1].down.values.data());
}

TEST_CASE("writing through a linear's weight view changes what run_block computes") {
  toy_model m(toy_weights::random(5));
  const auto tokens = tokens_of({2, 3, 1});
  dense_matrix<float> hidden(3, model::hidden_size(m));
  model::embed(m, tokens, hidden.view());
  const dense_matrix<float> before = hidden;
  model::begin_block(m, 0);
  for (const auto& l : model::linears(m, 0))
    if (l.name == "blk.0.down")
      for (index_t i = 0; i < l.weight.rows(); ++i)
        for (index_t j = 0; j < l.weight.cols(); ++j) l.weight(i, j) = 0.0f;
  model::run_block(m, 0, hidden.view(), model::sequence_layout{1, 3});
  model::end_block(m, 0);
  CHECK(hidden.values == before.values);  // a zero down projection adds nothing
  CHECK(m.events == std::vector<std::string>{"begin 0", "end 0"});
}

TEST_CASE("a foreign engine adapted through model_traits runs like the member-tier toy") {
  const toy_weights w = toy_weights::random(6);
  toy_model mine(w);
  test::foreign_toy_engine theirs{w};
  const auto tokens = tokens_of({5, 1, 1, 2});
  CHECK(model::block_count(theirs) == 2);
  CHECK(model::linears(theirs, 0).size() == 3);
  dense_matrix<float> h1(4, 4), h2(4, 4);
  model::embed(mine, tokens, h1.view());
  model::embed(theirs, tokens, h2.view());
  for (index_t b = 0; b < 2; ++b) {
    model::begin_block(theirs, b);  // no hooks: a no-op
    model::run_block(mine, b, h1.view(), model::sequence_layout{2, 2});
    model::run_block(theirs, b, h2.view(), model::sequence_layout{2, 2});
    model::end_block(theirs, b);
  }
  CHECK(h1.values == h2.values);
}

TEST_CASE("model_traits wins over members when a type has both") {
  test::toy_model_with_traits m(toy_weights::random(7));
  CHECK(m.block_count() == 2);
  CHECK(model::block_count(m) == 1);
  CHECK_THROWS_AS(model::linears(m, 1), option_error);
}

TEST_CASE("entry points reject a bad block, hidden shape or layout before running") {
  toy_model m(toy_weights::random(8));
  dense_matrix<float> hidden(4, 4);
  const dense_matrix<float> before = hidden;
  CHECK_THROWS_AS(model::run_block(m, 2, hidden.view(), model::sequence_layout{1, 4}),
                  option_error);
  CHECK_THROWS_AS(model::run_block(m, -1, hidden.view(), model::sequence_layout{1, 4}),
                  option_error);
  CHECK_THROWS_AS(model::run_block(m, 0, hidden.view(), model::sequence_layout{1, 3}), shape_error);
  CHECK_THROWS_AS(model::run_block(m, 0, hidden.view(), model::sequence_layout{0, 4}), shape_error);
  CHECK_THROWS_AS(model::run_block(m, 0, hidden.view().transposed(), model::sequence_layout{1, 4}),
                  shape_error);
  const auto tokens = tokens_of({1, 2, 3});
  CHECK_THROWS_AS(model::embed(m, tokens, hidden.view()), shape_error);
  const auto bad = tokens_of({1, 2, 3, 7});
  CHECK_THROWS_AS(model::embed(m, bad, hidden.view()), option_error);
  CHECK(hidden.values == before.values);
  CHECK_THROWS_AS(model::block_inputs(m, 2), option_error);
}

namespace {

// A model whose linear claims to read an input of another width.
struct mislabelled_linear : toy_model {
  using toy_model::toy_model;
  std::vector<model::linear_ref> linears(index_t b) {
    auto l = toy_model::linears(b);
    l[2].input = 0;  // down is [d x h] but input 0 has width d
    return l;
  }
};

}  // namespace

TEST_CASE("linears rejects a linear whose width differs from its input's, naming it") {
  mislabelled_linear m(toy_weights::random(9));
  try {
    (void)model::linears(m, 0);
    FAIL("no error");
  } catch (const shape_error& e) {
    CHECK(std::string(e.what()).find("blk.0.down") != std::string::npos);
  }
}
