// prune_model on the toy model of tests/support against a hand-written loop over its blocks that
// uses only the naive oracles (column sums of squares, Wanda scores, per-row / N:M masks, the
// unbatched SparseGPT sweep in double), plus the driver's own properties.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "pollard/calibration/calibration_batch.hpp"
#include "pollard/model/prune_model.hpp"
#include "pollard/model/prune_report_json.hpp"
#include "support/naive_criteria.hpp"
#include "support/naive_masks.hpp"
#include "support/naive_solvers.hpp"
#include "support/naive_stats.hpp"
#include "support/toy_model.hpp"

using pollard::index_t;
using pollard::token_id;
namespace model = pollard::model;
namespace test = pollard::test;

namespace {

test::toy_weights wide_toy(std::uint64_t seed, index_t blocks = 3) {
  test::toy_weights w;
  w.vocab = 13;
  w.d = 16;
  w.h = 24;
  w.embedding = test::random_normal<float>(w.vocab, w.d, seed, 0.7f);
  for (index_t b = 0; b < blocks; ++b) {
    const auto s = seed + 10 * static_cast<std::uint64_t>(b + 1);
    w.blocks.push_back({test::random_normal<float>(w.h, w.d, s + 1, 0.4f),
                        test::random_normal<float>(w.h, w.d, s + 2, 0.4f),
                        test::random_normal<float>(w.d, w.h, s + 3, 0.3f)});
  }
  return w;
}

pollard::calibration_batch toy_batch(index_t n, index_t length, std::uint64_t seed) {
  pollard::calibration_batch b;
  b.n_sequences = n;
  b.length = length;
  std::mt19937_64 rng(seed);
  for (index_t k = 0; k < n * length; ++k) b.tokens.push_back(static_cast<token_id>(rng() % 13));
  return b;
}

using dmask = pollard::mask;

// The naive oracle: the reference procedure written out for the toy, block by block.
// method "wanda" (per row, sparsity s) or "wanda-nm" (n:m) or "sparsegpt" (column blocks of 8).
test::toy_weights oracle_prune(test::toy_weights w, const pollard::calibration_batch& batch,
                               const std::string& method, double s, index_t n = 0, index_t m = 0,
                               bool sequential = true) {
  const index_t T = batch.token_count();
  test::dense_matrix<float> hidden(T, w.d);
  test::toy::embed(w, batch.tokens, hidden.view());
  for (index_t b = 0; b < static_cast<index_t>(w.blocks.size()); ++b) {
    // The inputs of the block's linears on the whole batch.
    test::dense_matrix<float> mix(T, w.d), mid(T, w.h);
    test::dense_matrix<float> out = hidden;
    test::toy::run_block(w, b, out.view(), {batch.n_sequences, batch.length},
                         [&](index_t input, pollard::matrix_view<const float> x) {
                           auto& dst = input == 0 ? mix : mid;
                           for (index_t r = 0; r < x.rows(); ++r)
                             for (index_t c = 0; c < x.cols(); ++c) dst(r, c) = x(r, c);
                         });
    auto& k = w.blocks[static_cast<std::size_t>(b)];
    const auto prune = [&](test::dense_matrix<float>& weight, const test::dense_matrix<float>& x) {
      if (method == "sparsegpt") {
        auto h = test::naive::hessian(x);  // (2/T) XᵀX; rescale to the reference's N = sequences
        for (auto& v : h.values)
          v *= static_cast<double>(T) / static_cast<double>(batch.n_sequences);
        const auto r = test::naive::sparsegpt_unbatched(
            test::naive::to_double(weight), h,
            m > 0 ? test::naive::selection::n_m : test::naive::selection::block_quantile, s, n, m,
            8, 0.01);
        for (std::size_t v = 0; v < weight.values.size(); ++v)
          weight.values[v] = static_cast<float>(r.w.values[v]);
        return;
      }
      auto sq = test::naive_column_sum_squares(x.view());
      for (auto& v : sq) v /= static_cast<double>(batch.n_sequences);
      const auto scores = test::naive_wanda(weight.view(), sq);
      const pollard::matrix_view<const double> sv(scores.data(), weight.rows, weight.cols);
      const dmask pruned = m > 0 ? test::naive_n_m(sv, n, m) : test::naive_per_row(sv, s);
      for (index_t i = 0; i < weight.rows; ++i)
        for (index_t j = 0; j < weight.cols; ++j)
          if (pruned.pruned(i, j)) weight(i, j) = 0.0f;
    };
    prune(k.up, mix);
    prune(k.gate, mix);
    prune(k.down, mid);
    if (sequential)
      test::toy::run_block(w, b, hidden.view(), {batch.n_sequences, batch.length}, {});
    else
      hidden = out;
  }
  return w;
}

void check_same_weights(const test::toy_weights& a, const test::toy_weights& b, double tolerance) {
  REQUIRE(a.blocks.size() == b.blocks.size());
  for (std::size_t k = 0; k < a.blocks.size(); ++k) {
    const test::dense_matrix<float>* ma[] = {&a.blocks[k].up, &a.blocks[k].gate, &a.blocks[k].down};
    const test::dense_matrix<float>* mb[] = {&b.blocks[k].up, &b.blocks[k].gate, &b.blocks[k].down};
    for (int l = 0; l < 3; ++l)
      for (std::size_t v = 0; v < ma[l]->values.size(); ++v) {
        INFO("block " << k << " linear " << l << " value " << v);
        CHECK(std::abs(ma[l]->values[v] - mb[l]->values[v]) <= tolerance);
        CHECK((ma[l]->values[v] == 0.0f) == (mb[l]->values[v] == 0.0f));
      }
  }
}

}  // namespace

TEST_CASE("prune_model with Wanda equals the hand-written block loop, sequential and parallel") {
  const auto batch = toy_batch(6, 10, 5);
  for (const bool sequential : {true, false}) {
    test::toy_model toy(wide_toy(1));
    model::prune_recipe recipe;
    recipe.method = model::pruning_method::wanda;
    recipe.sparsity = 0.5;
    recipe.mode =
        sequential ? model::calibration_mode::sequential : model::calibration_mode::parallel;
    recipe.sequences_per_call = 4;  // two calls per block: statistics must merge across calls
    const auto report = model::prune_model(toy, batch, recipe);
    check_same_weights(toy.weights(),
                       oracle_prune(wide_toy(1), batch, "wanda", 0.5, 0, 0, sequential), 0.0);
    REQUIRE(report.linears.size() == 9);
    CHECK(report.linears[0].name == "blk.0.up");
    CHECK(report.linears[0].input == "mix");
    CHECK(report.linears[2].name == "blk.0.down");
    CHECK(report.linears[2].input == "mid");
    for (const auto& l : report.linears) {
      CHECK(l.sparsity == doctest::Approx(0.5));
      CHECK(std::isnan(l.loss));
    }
  }
}

TEST_CASE("prune_model: Wanda per row zeroes exactly floor(d_in * s) weights in every row") {
  test::toy_model toy(wide_toy(2));
  model::prune_recipe recipe;
  recipe.sparsity = 0.3;
  model::prune_model(toy, toy_batch(3, 8, 1), recipe);
  for (const auto& k : toy.weights().blocks)
    for (const auto* w : {&k.up, &k.gate, &k.down})
      for (index_t i = 0; i < w->rows; ++i) {
        index_t zeros = 0;
        for (index_t j = 0; j < w->cols; ++j) zeros += (*w)(i, j) == 0.0f;
        CHECK(zeros == static_cast<index_t>(std::floor(static_cast<double>(w->cols) * 0.3)));
      }
}

TEST_CASE("prune_model with Wanda 2:4 equals the oracle and every linear is 2:4") {
  test::toy_model toy(wide_toy(3));
  const auto batch = toy_batch(4, 9, 2);
  model::prune_recipe recipe;
  recipe.n_m_pruned = 2;
  recipe.n_m_group = 4;
  const auto report = model::prune_model(toy, batch, recipe);
  check_same_weights(toy.weights(), oracle_prune(wide_toy(3), batch, "wanda", 0.0, 2, 4), 0.0);
  for (const auto& l : report.linears) {
    CHECK(l.n_m_valid == true);
    CHECK(l.target_sparsity == 0.5);
  }
}

TEST_CASE("prune_model with SparseGPT equals the unbatched double-precision sweep") {
  const auto batch = toy_batch(8, 12, 3);
  for (const bool n_m : {false, true}) {
    test::toy_model toy(wide_toy(4));
    model::prune_recipe recipe;
    recipe.method = model::pruning_method::sparsegpt;
    recipe.sparsity = 0.5;
    recipe.block_size = 8;
    recipe.column_block = 8;
    if (n_m) {
      recipe.n_m_pruned = 2;
      recipe.n_m_group = 4;
    }
    const auto report = model::prune_model(toy, batch, recipe);
    check_same_weights(toy.weights(),
                       oracle_prune(wide_toy(4), batch, "sparsegpt", 0.5, n_m ? 2 : 0, n_m ? 4 : 0),
                       2e-4);
    for (const auto& l : report.linears) {
      CHECK(std::isfinite(l.loss));
      CHECK(l.percdamp_used == doctest::Approx(0.01));
    }
  }
}

TEST_CASE("sequential and parallel calibration agree on block 0 and differ afterwards") {
  const auto batch = toy_batch(5, 10, 9);
  test::toy_model seq(wide_toy(5)), par(wide_toy(5));
  model::prune_recipe recipe;
  recipe.method = model::pruning_method::sparsegpt;
  recipe.block_size = 8;
  recipe.column_block = 8;
  model::prune_model(seq, batch, recipe);
  recipe.mode = model::calibration_mode::parallel;
  model::prune_model(par, batch, recipe);
  CHECK(seq.weights().blocks[0].up.values == par.weights().blocks[0].up.values);
  CHECK(seq.weights().blocks[0].down.values == par.weights().blocks[0].down.values);
  CHECK(seq.weights().blocks[1].up.values != par.weights().blocks[1].up.values);
  CHECK(seq.weights().blocks[2].down.values != par.weights().blocks[2].down.values);
}

TEST_CASE("prune_model is reproducible bit for bit") {
  const auto batch = toy_batch(5, 10, 11);
  test::toy_model a(wide_toy(6)), b(wide_toy(6));
  model::prune_recipe recipe;
  recipe.method = model::pruning_method::ria;
  model::prune_model(a, batch, recipe);
  model::prune_model(b, batch, recipe);
  for (std::size_t k = 0; k < 3; ++k) {
    CHECK(a.weights().blocks[k].up.values == b.weights().blocks[k].up.values);
    CHECK(a.weights().blocks[k].down.values == b.weights().blocks[k].down.values);
  }
}

TEST_CASE("prune_model brackets every use of a block with begin_block and end_block") {
  test::toy_model toy(wide_toy(7, 2));
  model::prune_recipe recipe;
  model::prune_model(toy, toy_batch(2, 6, 1), recipe);
  // One validation pass over the blocks, then the pruning pass.
  CHECK(toy.events == std::vector<std::string>{"begin 0", "end 0", "begin 1", "end 1", "begin 0",
                                               "end 0", "begin 1", "end 1"});
}

namespace {
// A toy engine whose block loading and writing back take a known minimum time.
struct slow_io_toy : test::toy_model {
  using test::toy_model::toy_model;
  void begin_block(index_t b) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    test::toy_model::begin_block(b);
  }
  void end_block(index_t b) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    test::toy_model::end_block(b);
  }
};
}  // namespace

TEST_CASE("prune_model times the engine's block loading and writing back apart") {
  slow_io_toy toy(wide_toy(7, 2));
  model::prune_recipe recipe;
  const auto report = model::prune_model(toy, toy_batch(2, 6, 1), recipe);
  REQUIRE(toy.events.size() == 8);
  // Eight calls of at least 5 ms each, counted in block_io_seconds and in no other part.
  CHECK(report.timing.block_io_seconds >= 0.040);
  const auto& t = report.timing;
  CHECK(t.forward_seconds + t.statistics_seconds + t.solver_seconds + t.block_io_seconds <=
        t.total_seconds);
}

TEST_CASE("OWL gives each block the oracle's allocation and keeps the mean sparsity") {
  const auto batch = toy_batch(6, 10, 4);
  test::toy_model toy(wide_toy(8, 4));
  model::prune_recipe recipe;
  recipe.sparsity = 0.6;
  recipe.allocation = model::owl_sparsity{3.0, 0.08};
  const auto report = model::prune_model(toy, batch, recipe);

  // Oracle: the dense model's Wanda scores of every block (parallel activations), OWL's formula.
  auto dense = wide_toy(8, 4);
  const index_t T = batch.token_count();
  test::dense_matrix<float> hidden(T, dense.d);
  test::toy::embed(dense, batch.tokens, hidden.view());
  std::vector<double> ratios;
  for (index_t b = 0; b < 4; ++b) {
    std::vector<std::vector<double>> sq(2);
    test::toy::run_block(dense, b, hidden.view(), {batch.n_sequences, batch.length},
                         [&](index_t input, pollard::matrix_view<const float> x) {
                           sq[static_cast<std::size_t>(input)] = test::naive_column_sum_squares(x);
                           for (auto& v : sq[static_cast<std::size_t>(input)]) v /= 6.0;
                         });
    const auto& k = dense.blocks[static_cast<std::size_t>(b)];
    const auto up = test::naive_wanda(k.up.view(), sq[0]);
    const auto gate = test::naive_wanda(k.gate.view(), sq[0]);
    const auto down = test::naive_wanda(k.down.view(), sq[1]);
    ratios.push_back(test::naive_outlier_ratio<const double>(
        {pollard::matrix_view<const double>(up.data(), k.up.rows, k.up.cols),
         pollard::matrix_view<const double>(gate.data(), k.gate.rows, k.gate.cols),
         pollard::matrix_view<const double>(down.data(), k.down.rows, k.down.cols)},
        3.0));
  }
  const auto expected = test::naive_owl(ratios, 0.6, 0.08);
  double mean = 0.0;
  for (index_t b = 0; b < 4; ++b) {
    CHECK(report.block_allocation[static_cast<std::size_t>(b)] ==
          doctest::Approx(expected[static_cast<std::size_t>(b)]).epsilon(1e-9));
    mean += report.block_allocation[static_cast<std::size_t>(b)] / 4.0;
  }
  CHECK(mean == doctest::Approx(0.6));
  for (const auto& l : report.linears)
    CHECK(l.target_sparsity == report.block_allocation[static_cast<std::size_t>(l.block)]);
}

TEST_CASE("prune_model: a sparsity table and target patterns choose what is pruned and how much") {
  test::toy_model toy(wide_toy(9, 2));
  const auto before = toy.weights();
  model::prune_recipe recipe;
  recipe.method = model::pruning_method::magnitude;
  recipe.allocation = model::sparsity_table({{"blk.*.up", 0.25}, {"*", 0.5}});
  recipe.targets.exclude = {"blk.1.*"};
  const auto report = model::prune_model(toy, {}, recipe);  // magnitude needs no calibration
  REQUIRE(report.linears.size() == 3);
  CHECK(report.linears[0].target_sparsity == 0.25);
  CHECK(report.linears[1].target_sparsity == 0.5);
  // Block 0 asked for 0.25, 0.5 and 0.5 of three linears of 384 weights each; block 1 for none.
  CHECK(report.block_allocation[0] == doctest::Approx(1.25 / 3.0));
  CHECK(std::isnan(report.block_allocation[1]));
  CHECK(toy.weights().blocks[1].up.values == before.blocks[1].up.values);
  CHECK(toy.weights().blocks[1].down.values == before.blocks[1].down.values);
}

TEST_CASE("prune_model counts only the flagged positions in the statistics") {
  // Flagging the last two of four sequences as uncounted gives the masks of calibrating on the
  // first two alone (checked on block 0, whose inputs do not depend on earlier pruning).
  const auto batch = toy_batch(4, 10, 21);
  pollard::calibration_batch half = batch;
  half.counted.assign(batch.tokens.size(), 0);
  for (std::size_t t = 0; t < 20; ++t) half.counted[t] = 1;
  pollard::calibration_batch first;
  first.n_sequences = 2;
  first.length = 10;
  first.tokens.assign(batch.tokens.begin(), batch.tokens.begin() + 20);
  test::toy_model a(wide_toy(10)), b(wide_toy(10)), c(wide_toy(10));
  model::prune_recipe recipe;
  const auto report = model::prune_model(a, half, recipe);
  model::prune_model(b, first, recipe);
  model::prune_model(c, batch, recipe);
  CHECK(report.calibration_tokens_counted == 20);
  CHECK(a.weights().blocks[0].up.values == b.weights().blocks[0].up.values);
  CHECK(a.weights().blocks[0].down.values == b.weights().blocks[0].down.values);
  CHECK(a.weights().blocks[0].down.values != c.weights().blocks[0].down.values);
}

TEST_CASE("prune_model refuses a bad recipe or calibration before changing any weight") {
  const auto batch = toy_batch(2, 6, 1);
  test::toy_model toy(wide_toy(11, 2));
  const auto before = toy.weights();
  const auto refuses = [&](const model::prune_recipe& r, const pollard::calibration_batch& c,
                           const std::string& message) {
    CHECK_THROWS_WITH_AS(model::prune_model(toy, c, r), message.c_str(), pollard::option_error);
    CHECK(toy.weights().blocks[0].up.values == before.blocks[0].up.values);
    CHECK(toy.weights().blocks[1].down.values == before.blocks[1].down.values);
  };
  model::prune_recipe r;
  r.sparsity = 1.0;
  refuses(r, batch, "prune recipe: sparsity must be in [0, 1), got 1.000000");
  r = {};
  r.n_m_pruned = 2;
  r.n_m_group = 5;
  refuses(r, batch, "prune_model: N:M group 5 does not divide the 16 input columns of blk.0.up");
  r = {};
  r.n_m_pruned = 4;
  r.n_m_group = 4;
  refuses(r, batch, "prune recipe: N:M needs 0 < N < M (N zeros out of M), got 4:4");
  r = {};
  refuses(r, {}, "prune_model: wanda needs calibration data, and the batch is empty");
  r.targets.include = {"blk.9.*"};
  refuses(r, batch, "prune_model: no linear matches the targets");
  r = {};
  r.allocation = model::sparsity_table({{"blk.0.*", 0.5}});
  refuses(r, batch, "sparsity table: no pattern matches the linear blk.1.up");
  r.allocation = model::sparsity_table({{"blk.0.*", 0.3}, {"blk.*.dwn", 0.7}, {"*", 0.5}});
  refuses(r, batch,
          "sparsity table: the row \"blk.*.dwn 0.7\" (row 2) decides no linear of the model: its "
          "pattern matches none, or only linears that an earlier row already decides");
  r.allocation = model::sparsity_table({{"*", 0.5}, {"blk.0.up", 0.3}});
  refuses(r, batch,
          "sparsity table: the row \"blk.0.up 0.3\" (row 2) decides no linear of the model: its "
          "pattern matches none, or only linears that an earlier row already decides");
  r.allocation = model::sparsity_table({{"blk.1.*", 0.3}, {"*", 0.5}});
  r.targets.include = {"blk.0.*"};  // a row for linears left out of the targets still decides them
  test::toy_model other(wide_toy(11, 2));
  CHECK_NOTHROW(model::prune_model(other, batch, r));
  r = {};
  CHECK_THROWS_WITH_AS(model::pruning_method_from_name("obc"),
                       "unknown pruning method \"obc\" (choose magnitude, wanda, ria or sparsegpt)",
                       pollard::option_error);
}

TEST_CASE(
    "prune_model with Wanda + reconstruction equals the fixed-mask OBS sweep on the oracle's "
    "mask") {
  // Oracle, block by block (sequential): the Wanda per-row mask from naive statistics, then the
  // unbatched double-precision OBS sweep with that mask fixed, H normalised by sequences.
  const auto batch = toy_batch(6, 12, 13);
  test::toy_model toy(wide_toy(12));
  model::prune_recipe recipe;
  recipe.reconstruct = true;
  recipe.block_size = 8;
  const auto report = model::prune_model(toy, batch, recipe);

  auto w = wide_toy(12);
  const index_t T = batch.token_count();
  test::dense_matrix<float> hidden(T, w.d);
  test::toy::embed(w, batch.tokens, hidden.view());
  for (index_t b = 0; b < 3; ++b) {
    test::dense_matrix<float> mix(T, w.d), mid(T, w.h), out = hidden;
    test::toy::run_block(w, b, out.view(), {batch.n_sequences, batch.length},
                         [&](index_t input, pollard::matrix_view<const float> x) {
                           auto& dst = input == 0 ? mix : mid;
                           for (index_t r = 0; r < x.rows(); ++r)
                             for (index_t c = 0; c < x.cols(); ++c) dst(r, c) = x(r, c);
                         });
    auto& k = w.blocks[static_cast<std::size_t>(b)];
    for (auto* pair : {&k.up, &k.gate, &k.down}) {
      const auto& x = pair == &k.down ? mid : mix;
      auto sq = test::naive_column_sum_squares(x.view());
      for (auto& v : sq) v /= static_cast<double>(batch.n_sequences);
      const auto scores = test::naive_wanda(pair->view(), sq);
      const dmask pruned = test::naive_per_row(
          pollard::matrix_view<const double>(scores.data(), pair->rows, pair->cols), 0.5);
      auto h = test::naive::hessian(x);
      for (auto& v : h.values) v *= static_cast<double>(T) / static_cast<double>(batch.n_sequences);
      const auto r = test::naive::sparsegpt_unbatched(test::naive::to_double(*pair), h,
                                                      test::naive::selection::fixed, 0.0, 0, 0, 8,
                                                      0.01, &pruned);
      for (std::size_t v = 0; v < pair->values.size(); ++v)
        pair->values[v] = static_cast<float>(r.w.values[v]);
    }
    test::toy::run_block(w, b, hidden.view(), {batch.n_sequences, batch.length}, {});
  }
  check_same_weights(toy.weights(), w, 2e-4);
  for (const auto& l : report.linears) CHECK(std::isfinite(l.loss));
}

TEST_CASE("prune_model with DSnoT keeps each row's count of zeros and refines Wanda's mask") {
  const auto batch = toy_batch(6, 12, 17);
  test::toy_model plain(wide_toy(14)), refined(wide_toy(14));
  model::prune_recipe recipe;
  recipe.mode = model::calibration_mode::parallel;  // both runs see the same activations
  model::prune_model(plain, batch, recipe);
  recipe.dsnot = true;
  model::prune_model(refined, batch, recipe);
  bool any_difference = false;
  for (std::size_t b = 0; b < 3; ++b)
    for (auto member : {&test::toy_weights::block::up, &test::toy_weights::block::down}) {
      const auto& p = plain.weights().blocks[b].*member;
      const auto& r = refined.weights().blocks[b].*member;
      for (index_t i = 0; i < p.rows; ++i) {
        index_t zp = 0, zr = 0;
        for (index_t j = 0; j < p.cols; ++j) {
          zp += p(i, j) == 0.0f;
          zr += r(i, j) == 0.0f;
          any_difference = any_difference || ((p(i, j) == 0.0f) != (r(i, j) == 0.0f));
        }
        CHECK(zp == zr);
      }
    }
  CHECK(any_difference);
}

namespace {

// Engines that break the concept's contract in one way each.
struct toy_showing_a_missing_input : test::toy_model {
  using test::toy_model::toy_model;
  void run_block(index_t b, pollard::matrix_view<float> hidden, model::sequence_layout layout,
                 model::input_observer observer) {
    test::toy_model::run_block(b, hidden, layout,
                               [&](index_t input, auto x) { observer(input == 1 ? 5 : input, x); });
  }
};
// Shows block 1's MLP input twice in one call, as an engine that calls the observer again for
// a second linear reading the same input would.
struct toy_showing_an_input_twice : test::toy_model {
  using test::toy_model::toy_model;
  void run_block(index_t b, pollard::matrix_view<float> hidden, model::sequence_layout layout,
                 model::input_observer observer) {
    test::toy_model::run_block(b, hidden, layout, [&](index_t input, auto x) {
      observer(input, x);
      if (b == 1 && input == 1) observer(input, x);
    });
  }
};
struct toy_with_one_name_for_every_block : test::toy_model {
  using test::toy_model::toy_model;
  std::vector<model::linear_ref> linears(index_t b) {
    auto ls = test::toy_model::linears(b);
    for (auto& l : ls) l.name = l.name.substr(l.name.find('.', 4) + 1);
    return ls;
  }
};

}  // namespace

TEST_CASE("prune_model refuses an engine that breaks the model contract, naming the break") {
  const auto batch = toy_batch(2, 6, 1);
  toy_showing_a_missing_input missing(wide_toy(11, 2));
  CHECK_THROWS_WITH_AS(model::prune_model(missing, batch, model::prune_recipe{}),
                       "prune_model: block 0 showed the observer its input 5, but the block has 2 "
                       "inputs",
                       pollard::shape_error);
  // Counted twice, block 1's statistics would be those of the batch doubled: refused, and
  // nothing is pruned past the blocks already done.
  for (const auto method : {model::pruning_method::wanda, model::pruning_method::sparsegpt}) {
    toy_showing_an_input_twice twice(wide_toy(11, 2));
    const auto dense = twice.weights();
    model::prune_recipe recipe;
    recipe.method = method;
    CHECK_THROWS_WITH_AS(model::prune_model(twice, batch, recipe),
                         "prune_model: block 1 showed the observer its input 1 (mid) twice in "
                         "one run_block call (its statistics would count those tokens twice); an "
                         "engine shows each input exactly once per call",
                         pollard::shape_error);
    CHECK(twice.weights().blocks[1].down.values == dense.blocks[1].down.values);
  }
  toy_with_one_name_for_every_block same(wide_toy(11, 2));
  const auto before = same.weights();
  CHECK_THROWS_WITH_AS(model::prune_model(same, batch, model::prune_recipe{}),
                       "prune_model: blocks 0 and 1 both name a linear up (names must be unique "
                       "in the model)",
                       pollard::shape_error);
  CHECK(same.weights().blocks[0].up.values == before.blocks[0].up.values);
}

namespace {

// Shows no input of the block's down projection to the observer (an engine bug met mid-run).
struct toy_hiding_the_mlp_input : test::toy_model {
  using test::toy_model::toy_model;
  void run_block(index_t b, pollard::matrix_view<float> hidden, model::sequence_layout layout,
                 model::input_observer observer) {
    test::toy_model::run_block(b, hidden, layout, [&](index_t input, auto x) {
      if (input != 1 || b != 1) observer(input, x);
    });
  }
};

// Rounds every weight to the grid k/8 + 1/64 (as Q4_1's d·q + min, which holds no exact zero
// unless min is a multiple of d): the weights it stores are never exactly zero.
std::string store_on_offset_grid(const std::string&, pollard::matrix_view<float> w) {
  for (index_t i = 0; i < w.rows(); ++i)
    for (index_t j = 0; j < w.cols(); ++j)
      w(i, j) = std::round((w(i, j) - 1.0f / 64) * 8.0f) / 8.0f + 1.0f / 64;
  return "grid";
}

}  // namespace

TEST_CASE("prune_model names the block and linear of a failure in the middle of a run") {
  const auto batch = toy_batch(2, 6, 1);
  for (const auto method : {model::pruning_method::wanda, model::pruning_method::sparsegpt}) {
    toy_hiding_the_mlp_input toy(wide_toy(11, 2));
    model::prune_recipe recipe;
    recipe.method = method;
    CHECK_THROWS_AS(model::prune_model(toy, batch, recipe), pollard::empty_statistics_error);
    try {
      model::prune_model(toy, batch, recipe);
    } catch (const pollard::empty_statistics_error& e) {
      const std::string message = e.what();
      INFO(message);
      CHECK(message.find(method == model::pruning_method::wanda
                             ? "prune_model: block 1, linear blk.1.down: "
                             : "prune_model: block 1, input mid of linear blk.1.down: ") == 0);
    }
  }
}

TEST_CASE("prune_model names the block and input whose calibration activations overflow") {
  // Block 0's down weights of 1e30 keep its scores finite but give block 1's "mix" input values
  // near 1e31, whose squares overflow SparseGPT's float Hessian (Wanda's moments are doubles),
  // and make its "mid" activations (products of two 1e30-sized projections) overflow float.
  const auto batch = toy_batch(2, 6, 1);
  for (const auto method : {model::pruning_method::wanda, model::pruning_method::sparsegpt}) {
    auto w = wide_toy(13, 2);
    for (auto& v : w.blocks[0].down.values) v = v < 0.0f ? -1e30f : 1e30f;
    test::toy_model toy(w);
    model::prune_recipe recipe;
    recipe.method = method;
    std::string message;
    try {
      model::prune_model(toy, batch, recipe);
    } catch (const pollard::non_finite_error& e) {
      message = e.what();
    }
    INFO(message);
    CHECK(message.find(std::string("prune_model: block 1: input ") +
                       (method == model::pruning_method::wanda ? "mid" : "mix") +
                       ": the calibration activations reaching it are not finite or too large "
                       "for its statistics") == 0);
  }
}

TEST_CASE("prune_model reports blocks the targets leave alone as unpruned") {
  test::toy_model toy(wide_toy(12, 3));
  model::prune_recipe recipe;
  recipe.method = model::pruning_method::magnitude;
  recipe.targets.include = {"blk.1.*"};
  const auto report = model::prune_model(toy, {}, recipe);
  const auto by_block = report.block_sparsity();
  REQUIRE(by_block.size() == 3);
  CHECK(by_block[0] == 0.0);
  CHECK(by_block[2] == 0.0);
  // Each of blk.1's linears (24x16, 24x16, 16x24) holds floor(s x size) zeros per matrix.
  const auto& k = toy.weights().blocks[1];
  double zeros = 0.0;
  for (const auto* w : {&k.up, &k.gate, &k.down})
    for (const float v : w->values) zeros += v == 0.0f;
  CHECK(by_block[1] == doctest::Approx(zeros / (3.0 * 24 * 16)));
  CHECK(by_block[1] == doctest::Approx(0.5));
  CHECK(std::isnan(report.block_allocation[0]));
  CHECK(report.block_allocation[1] == 0.5);
  const std::string json = model::to_json(report);
  CHECK(json.find("\"block_sparsity\":[0,0.5,0]") != std::string::npos);
  CHECK(json.find("\"block_allocation\":[null,0.5,null]") != std::string::npos);
  CHECK(json.find("\"tables\":[]}") != std::string::npos);
  // A table outside the blocks is listed apart, with a null block, and changes no block figure.
  auto with_table = report;
  with_table.tables.push_back(report.linears.front());
  with_table.tables.back().name = "token_embd";
  with_table.tables.back().block = -1;
  with_table.tables.back().sparsity = 0.25;
  const std::string table_json = model::to_json(with_table);
  CHECK(table_json.find("\"tables\":[{\"name\":\"token_embd\",\"block\":null,") !=
        std::string::npos);
  CHECK(table_json.find("\"block_sparsity\":[0,0.5,0]") != std::string::npos);
  CHECK(with_table.overall_sparsity() == report.overall_sparsity());
}

TEST_CASE("prune_model reports the weights as store_linear rounds them, not the float ones") {
  const auto batch = toy_batch(4, 8, 21);
  test::toy_model toy(wide_toy(13, 2));
  const auto dense = toy.weights();
  model::prune_recipe recipe;
  recipe.method = model::pruning_method::sparsegpt;
  recipe.block_size = 8;
  recipe.column_block = 8;
  recipe.targets.include = {"blk.0.*"};
  model::prune_callbacks callbacks;
  callbacks.store_linear = store_on_offset_grid;
  const auto report = model::prune_model(toy, batch, recipe, callbacks);
  REQUIRE(report.linears.size() == 3);
  const auto& k = toy.weights().blocks[0];
  const test::dense_matrix<float>* written[] = {&k.up, &k.gate, &k.down};
  const test::dense_matrix<float>* before[] = {&dense.blocks[0].up, &dense.blocks[0].gate,
                                               &dense.blocks[0].down};
  // The block's inputs on the batch (block 0 reads the embeddings, which pruning leaves alone).
  const index_t tokens = batch.token_count();
  test::dense_matrix<float> hidden(tokens, dense.d), mix(tokens, dense.d), mid(tokens, dense.h);
  test::toy::embed(dense, batch.tokens, hidden.view());
  test::toy::run_block(dense, 0, hidden.view(), {batch.n_sequences, batch.length},
                       [&](index_t input, pollard::matrix_view<const float> x) {
                         auto& dst = input == 0 ? mix : mid;
                         for (index_t r = 0; r < x.rows(); ++r)
                           for (index_t c = 0; c < x.cols(); ++c) dst(r, c) = x(r, c);
                       });
  for (std::size_t n = 0; n < 3; ++n) {
    const auto& l = report.linears[n];
    INFO(l.name);
    CHECK(l.stored_type == "grid");
    double zeros = 0.0;
    for (const float v : written[n]->values) zeros += v == 0.0f;
    CHECK(l.sparsity == zeros / static_cast<double>(written[n]->values.size()));
    CHECK(l.sparsity < 0.05);
    CHECK(l.sparsity_before_storing == doctest::Approx(0.5));
    CHECK(!l.warnings.empty());
    // ½ Σ δᵀ (H + λI) δ in double over the live inputs (H_jj > 0; the toy's ReLU leaves some of
    // blk.0.down's dead), H = (2 / sequences) Σ x xᵀ as the driver normalises it.
    auto h = test::naive::hessian(n < 2 ? mix : mid);
    for (auto& v : h.values)
      v *= static_cast<double>(tokens) / static_cast<double>(batch.n_sequences);
    double loss = 0.0;
    const index_t rows = written[n]->rows, cols = written[n]->cols;
    for (index_t i = 0; i < rows; ++i)
      for (index_t a = 0; a < cols; ++a)
        for (index_t b = 0; b < cols; ++b) {
          if (h(a, a) == 0.0 || h(b, b) == 0.0) continue;
          const double da = (*before[n])(i, a) - (*written[n])(i, a);
          const double db = (*before[n])(i, b) - (*written[n])(i, b);
          loss += da * (h(a, b) + (a == b ? l.damping_used : 0.0)) * db;
        }
    CHECK(l.loss == doctest::Approx(loss / 2.0).epsilon(1e-4));
  }
}

TEST_CASE("the loss of the weights as written equals SparseGPT's own loss when nothing rounds") {
  const auto batch = toy_batch(6, 8, 22);
  model::prune_recipe recipe;
  recipe.method = model::pruning_method::sparsegpt;
  recipe.block_size = 8;
  recipe.column_block = 8;
  test::toy_model swept(wide_toy(14)), stored(wide_toy(14));
  const auto own = model::prune_model(swept, batch, recipe);
  model::prune_callbacks callbacks;
  callbacks.store_linear = [](const std::string&, pollard::matrix_view<float>) {
    return std::string("f32");
  };
  const auto recomputed = model::prune_model(stored, batch, recipe, callbacks);
  REQUIRE(own.linears.size() == recomputed.linears.size());
  for (std::size_t n = 0; n < own.linears.size(); ++n) {
    INFO(own.linears[n].name);
    CHECK(recomputed.linears[n].loss == doctest::Approx(own.linears[n].loss).epsilon(1e-3));
    CHECK(recomputed.linears[n].sparsity == own.linears[n].sparsity);
  }
}
