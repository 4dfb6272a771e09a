// The reference Llama engine through the model concepts, on a random tiny model, against the
// plain-loop double-precision reference (tests/support/naive_llm.hpp).
#include "pollard/llm/llama_model.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "support/naive_llm.hpp"
#include "support/random.hpp"

using namespace pollard;
using namespace pollard::llm;

static_assert(model::block_sequential_model<llama_model>);
static_assert(model::incremental_lm<llama_model>);
static_assert(model::incremental_lm<llama_forward>);
static_assert(!model::block_sequential_model<llama_forward>);  // it cannot hand out mutable weights

namespace {

llama_config tiny() {
  llama_config c;
  c.dim = 24;
  c.hidden_dim = 37;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.vocab_size = 29;
  c.seq_len = 16;
  c.rope_theta = 500.0f;
  return c;
}

std::vector<token_id> random_tokens(index_t n, index_t vocab, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<token_id> t(static_cast<std::size_t>(n));
  for (auto& v : t) v = static_cast<token_id>(rng() % static_cast<std::uint64_t>(vocab));
  return t;
}

// max |a - b| / max(1, max |b|).
double rel_diff(matrix_view<const float> a, const test::naive_rows& b, index_t first_row) {
  double worst = 0.0, scale = 1.0;
  for (index_t i = 0; i < a.rows(); ++i)
    for (index_t j = 0; j < a.cols(); ++j) {
      const double ref = b[static_cast<std::size_t>(first_row + i)][static_cast<std::size_t>(j)];
      scale = std::max(scale, std::abs(ref));
      worst = std::max(worst, std::abs(static_cast<double>(a(i, j)) - ref));
    }
  return worst / scale;
}

}  // namespace

TEST_CASE("llama_model names its linears with GGUF base names, grouped by the input they read") {
  auto w = test::random_llama(tiny(), 1);
  llama_model m(w);
  const auto inputs = model::block_inputs(m, 1);
  REQUIRE(inputs.size() == 4);
  CHECK(inputs[0].name == "attn_in");
  CHECK(inputs[1].name == "attn_out");
  CHECK(inputs[2].name == "mlp_in");
  CHECK(inputs[3].name == "mlp_out");
  CHECK(inputs[3].width == 37);
  const auto linears = model::linears(m, 1);
  const std::vector<std::string> names = {"blk.1.attn_q",      "blk.1.attn_k",   "blk.1.attn_v",
                                          "blk.1.attn_output", "blk.1.ffn_gate", "blk.1.ffn_up",
                                          "blk.1.ffn_down"};
  const std::vector<index_t> reads = {0, 0, 0, 1, 2, 2, 3};
  REQUIRE(linears.size() == 7);
  for (std::size_t i = 0; i < 7; ++i) {
    CHECK(linears[i].name == names[i]);
    CHECK(linears[i].input == reads[i]);
  }
  CHECK(linears[1].weight.data() == w.layers[1].wk.data());
  CHECK(linears[1].weight.rows() == w.config.kv_dim());
  CHECK(linears[6].weight.data() == w.layers[1].w2.data());
  CHECK(linears[6].weight.cols() == 37);
}

TEST_CASE("run_block through the concept equals the naive block and shows its four inputs") {
  const auto w0 = test::random_llama(tiny(), 2);
  auto w = w0;
  llama_model m(w);
  const index_t S = 2, L = 6, d = w.config.dim;
  const auto x0 = test::random_normal<float>(S * L, d, 4);
  auto x = x0;
  std::vector<index_t> order;
  std::vector<test::dense_matrix<float>> seen;
  model::run_block(m, 1, x.view(), model::sequence_layout{S, L},
                   [&](index_t input, matrix_view<const float> a) {
                     order.push_back(input);
                     test::dense_matrix<float> copy(a.rows(), a.cols());
                     for (index_t i = 0; i < a.rows(); ++i)
                       for (index_t j = 0; j < a.cols(); ++j) copy(i, j) = a(i, j);
                     seen.push_back(copy);
                   });
  REQUIRE(order == std::vector<index_t>{0, 1, 2, 3});
  double worst_out = 0.0, worst_in = 0.0;
  for (index_t s = 0; s < S; ++s) {
    test::naive_rows xs;
    for (index_t t = 0; t < L; ++t) {
      std::vector<double> row(static_cast<std::size_t>(d));
      for (index_t j = 0; j < d; ++j) row[static_cast<std::size_t>(j)] = x0(s * L + t, j);
      xs.push_back(row);
    }
    test::naive_block_inputs in;
    const auto y = test::naive_block(w0, 1, xs, &in);
    worst_out = std::max(worst_out, rel_diff(x.view().block(s * L, 0, L, d), y, 0));
    const test::naive_rows* refs[] = {&in.attn_in, &in.attn_out, &in.mlp_in, &in.mlp_out};
    for (std::size_t i = 0; i < 4; ++i)
      worst_in = std::max(
          worst_in,
          rel_diff(matrix_view<const float>(seen[i].view()).block(s * L, 0, L, seen[i].cols),
                   *refs[i], 0));
  }
  CHECK(worst_out < 1e-4);
  CHECK(worst_in < 1e-4);
}

TEST_CASE("llama logits in chunks equal the naive logits, and extend equals the last row") {
  const auto w = test::random_llama(tiny(), 3);
  llama_forward f(w);
  const index_t S = 2, L = 9;
  const auto tokens = random_tokens(S * L, w.config.vocab_size, 7);
  std::vector<test::naive_rows> ref;
  for (index_t s = 0; s < S; ++s)
    ref.push_back(test::naive_logits(
        w, std::vector<int>(tokens.begin() + s * L, tokens.begin() + (s + 1) * L)));
  test::naive_rows stacked;
  for (const auto& r : ref) stacked.insert(stacked.end(), r.begin(), r.end());
  double worst = 0.0;
  index_t next = 2;
  model::for_each_logits(f, tokens, model::sequence_layout{S, L}, model::row_range{2, 17}, 4,
                         [&](index_t first, matrix_view<const float> logits) {
                           CHECK(first == next);
                           next += logits.rows();
                           worst = std::max(worst, rel_diff(logits, stacked, first));
                         });
  CHECK(next == 17);
  CHECK(worst < 1e-4);

  auto state = model::start_sequence(f, L);
  const std::span<const token_id> second(tokens.data() + L, static_cast<std::size_t>(L));
  auto last = model::extend(f, state, second.first(5));
  for (std::size_t t = 5; t < static_cast<std::size_t>(L); ++t)
    last = model::extend(f, state, second.subspan(t, 1));
  const matrix_view<const float> row(last.data(), 1, static_cast<index_t>(last.size()));
  CHECK(rel_diff(row, ref[1], L - 1) < 1e-4);
}
