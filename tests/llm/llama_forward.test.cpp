// The Eigen forward pass against the plain-loop double-precision reference
// (tests/support/naive_llm.hpp).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "pollard/llm/kv_cache.hpp"
#include "pollard/llm/llama_forward.hpp"
#include "support/naive_llm.hpp"
#include "support/random.hpp"

using namespace pollard;
using namespace pollard::llm;

namespace {

llama_config tiny(rope_style rope, bool tied, index_t n_heads = 4, index_t n_kv_heads = 2) {
  llama_config c;
  c.dim = 24;
  c.hidden_dim = 37;
  c.n_layers = 3;
  c.n_heads = n_heads;
  c.n_kv_heads = n_kv_heads;
  c.vocab_size = 29;
  c.seq_len = 64;
  c.rope = rope;
  c.tied_classifier = tied;
  c.rope_theta = 500.0f;  // short wavelengths, so positions matter inside a short test
  return c;
}

std::vector<int> random_tokens(index_t n, index_t vocab, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int> t(static_cast<std::size_t>(n));
  for (auto& v : t) v = static_cast<int>(rng() % static_cast<std::uint64_t>(vocab));
  return t;
}

// max |a - b| / max(1, max |b|) over one row.
template <class Row>
double rel_diff(const Row& a, const std::vector<double>& b) {
  double worst = 0.0, scale = 1.0;
  for (double v : b) scale = std::max(scale, std::abs(v));
  for (std::size_t j = 0; j < b.size(); ++j)
    worst = std::max(worst, std::abs(double(a(index_t(j))) - b[j]));
  return worst / scale;
}

}  // namespace

TEST_CASE("prefill logits of a batch equal the naive per-sequence forward pass") {
  for (rope_style rope : {rope_style::interleaved, rope_style::half_split})
    for (bool tied : {true, false})
      for (const auto& heads : {std::pair<index_t, index_t>{4, 2}, {6, 1}, {2, 2}}) {
        const index_t h = heads.first, kvh = heads.second;
        CAPTURE(static_cast<int>(rope));
        CAPTURE(tied);
        CAPTURE(h);
        CAPTURE(kvh);
        const auto w = test::random_llama(tiny(rope, tied, h, kvh), 11u + std::uint64_t(h));
        const index_t S = 3, L = 13;
        const auto tokens = random_tokens(S * L, w.config.vocab_size, 5);
        llama_forward model(w);
        const row_matrix logits = model.prefill(tokens, sequence_layout{S, L});
        REQUIRE(logits.rows() == S * L);
        REQUIRE(logits.cols() == w.config.vocab_size);
        double worst = 0.0;
        for (index_t s = 0; s < S; ++s) {
          std::vector<int> seq(tokens.begin() + s * L, tokens.begin() + (s + 1) * L);
          const auto ref = test::naive_logits(w, seq);
          for (index_t t = 0; t < L; ++t)
            worst = std::max(worst, rel_diff(logits.row(s * L + t), ref[std::size_t(t)]));
        }
        CHECK(worst < 1e-4);
      }
}

TEST_CASE("the two rope styles give different logits on the same weights") {
  const auto a = test::random_llama(tiny(rope_style::interleaved, true), 3);
  auto b = a;
  b.config.rope = rope_style::half_split;
  const auto tokens = random_tokens(9, a.config.vocab_size, 2);
  llama_forward ma(a), mb(b);
  const row_matrix la = ma.prefill(tokens, {1, 9}), lb = mb.prefill(tokens, {1, 9});
  CHECK((la.row(0) - lb.row(0)).cwiseAbs().maxCoeff() < 1e-6f);  // position 0 is not rotated
  CHECK((la.row(8) - lb.row(8)).cwiseAbs().maxCoeff() > 1e-3f);
}

TEST_CASE("run_block on given hidden states equals the naive block and reports its four inputs") {
  const auto w = test::random_llama(tiny(rope_style::half_split, false, 6, 2), 21);
  const index_t S = 2, L = 7, d = w.config.dim;
  const auto x0 = test::random_normal<float>(S * L, d, 4);
  row_matrix x(S * L, d);
  for (index_t i = 0; i < S * L; ++i)
    for (index_t j = 0; j < d; ++j) x(i, j) = x0(i, j);
  llama_forward model(w);
  std::vector<llama_linear_input> order;
  std::vector<row_matrix> seen;
  model.run_block(1, x, sequence_layout{S, L},
                  [&](index_t layer, llama_linear_input in, matrix_view<const float> a) {
                    CHECK(layer == 1);
                    order.push_back(in);
                    row_matrix copy(a.rows(), a.cols());
                    for (index_t i = 0; i < a.rows(); ++i)
                      for (index_t j = 0; j < a.cols(); ++j) copy(i, j) = a(i, j);
                    seen.push_back(copy);
                  });
  REQUIRE(order == std::vector<llama_linear_input>(all_llama_linear_inputs.begin(),
                                                   all_llama_linear_inputs.end()));
  CHECK(seen[3].cols() == w.config.hidden_dim);
  double worst_out = 0.0, worst_in = 0.0;
  for (index_t s = 0; s < S; ++s) {
    test::naive_rows xs;
    for (index_t t = 0; t < L; ++t) {
      std::vector<double> row(std::size_t(d), 0.0);
      for (index_t j = 0; j < d; ++j) row[std::size_t(j)] = x0(s * L + t, j);
      xs.push_back(row);
    }
    test::naive_block_inputs in;
    const auto y = test::naive_block(w, 1, xs, &in);
    const test::naive_rows* refs[] = {&in.attn_in, &in.attn_out, &in.mlp_in, &in.mlp_out};
    for (index_t t = 0; t < L; ++t) {
      worst_out = std::max(worst_out, rel_diff(x.row(s * L + t), y[std::size_t(t)]));
      for (int k = 0; k < 4; ++k)
        worst_in = std::max(
            worst_in, rel_diff(seen[std::size_t(k)].row(s * L + t), (*refs[k])[std::size_t(t)]));
    }
  }
  CHECK(worst_out < 1e-5);
  CHECK(worst_in < 1e-5);
}

TEST_CASE("embed, every block, final_norm and classify in sequence equal prefill") {
  const auto w = test::random_llama(tiny(rope_style::interleaved, true), 8);
  const auto tokens = random_tokens(2 * 5, w.config.vocab_size, 9);
  llama_forward model(w);
  row_matrix x = model.embed(tokens);
  for (index_t l = 0; l < w.config.n_layers; ++l) model.run_block(l, x, {2, 5});
  model.final_norm(x);
  CHECK(model.classify(x) == model.prefill(tokens, {2, 5}));
}

TEST_CASE(
    "prefill logits and every linear's input are bit-identical on one thread and on two, at "
    "shapes that multi-threaded products split") {
  llama_config c = tiny(rope_style::half_split, false, 5, 1);
  c.dim = 200;  // neither a multiple of the product tiles nor of a register block
  c.hidden_dim = 530;
  c.n_layers = 2;
  c.vocab_size = 700;
  c.seq_len = 160;
  const auto w = test::random_llama(c, 61, 0.1f);
  const auto tokens = random_tokens(2 * 157, c.vocab_size, 62);
  llama_forward model(w);
  const int threads = Eigen::nbThreads();
  const auto run = [&](int n) {
    Eigen::setNbThreads(n);
    std::vector<row_matrix> inputs;
    const row_matrix logits = model.prefill(
        tokens, {2, 157}, [&](index_t, llama_linear_input, matrix_view<const float> x) {
          inputs.emplace_back(Eigen::Map<const row_matrix>(x.data(), x.rows(), x.cols()));
        });
    return std::pair{logits, inputs};
  };
  const auto one = run(1), two = run(2);
  Eigen::setNbThreads(threads);
  REQUIRE(one.second.size() == 8);
  CHECK(one.first == two.first);
  for (std::size_t i = 0; i < one.second.size(); ++i) CHECK(one.second[i] == two.second[i]);
}

TEST_CASE(
    "incremental decoding with a KV cache gives the prefill logits (1e-5 relative), token by token "
    "or in chunks") {
  for (rope_style rope : {rope_style::interleaved, rope_style::half_split}) {
    const auto w = test::random_llama(tiny(rope, false, 4, 1), 31, 0.2f);
    const index_t L = 150;  // longer than one attention chunk
    const auto tokens = random_tokens(L, w.config.vocab_size, 17);
    llama_forward model(w);
    const row_matrix full = model.prefill(tokens, {1, L});
    kv_cache cache(w.config, L);
    float worst = 0.0f;
    for (index_t p = 0; p < 20; ++p) {
      const Eigen::VectorXf step = model.decode_step(cache, tokens[std::size_t(p)]);
      worst = std::max(worst, (step.transpose() - full.row(p)).cwiseAbs().maxCoeff());
    }
    const row_matrix rest =
        model.extend(cache, std::span<const token_id>(tokens.data() + 20, std::size_t(L - 20)));
    worst = std::max(worst, (rest - full.bottomRows(L - 20)).cwiseAbs().maxCoeff());
    CHECK(cache.length() == L);
    CHECK(worst < 1e-5f);
  }
}

TEST_CASE(
    "extend_each decodes sequences of different lengths in one batch: each row equals prefill "
    "(1e-5) and does not depend on the batch or the thread count") {
  const auto w = test::random_llama(tiny(rope_style::half_split, false, 4, 1), 51, 0.2f);
  const index_t L = 12;
  const std::vector<std::vector<int>> seqs = {random_tokens(L, w.config.vocab_size, 5),
                                              random_tokens(L, w.config.vocab_size, 6),
                                              random_tokens(L, w.config.vocab_size, 7)};
  const std::vector<index_t> prefix = {3, 5, 8};
  llama_forward model(w);
  // Prefixes through extend, then `steps` batched steps over the sequences listed in `which`;
  // returns the logits rows of every step, per sequence.
  const auto decode = [&](const std::vector<std::size_t>& which, index_t steps) {
    std::vector<kv_cache> caches;
    for (const std::size_t s : which) {
      caches.emplace_back(w.config, L);
      model.extend(caches.back(), std::span<const int>(seqs[s].data(), std::size_t(prefix[s])));
    }
    std::vector<std::vector<Eigen::VectorXf>> rows(which.size());
    for (index_t step = 0; step < steps; ++step) {
      std::vector<kv_cache*> batch;
      std::vector<int> next;
      for (std::size_t k = 0; k < which.size(); ++k) {
        batch.push_back(&caches[k]);
        next.push_back(seqs[which[k]][std::size_t(prefix[which[k]] + step)]);
      }
      const row_matrix logits = model.extend_each(batch, next);
      REQUIRE(logits.rows() == index_t(which.size()));
      for (std::size_t k = 0; k < which.size(); ++k)
        rows[k].push_back(logits.row(index_t(k)).transpose());
    }
    return rows;
  };
  const auto all = decode({0, 1, 2}, 4);
  float worst = 0.0f;
  for (std::size_t s = 0; s < 3; ++s) {
    const row_matrix full = model.prefill(seqs[s], {1, L});
    for (index_t step = 0; step < 4; ++step)
      worst = std::max(worst, (all[s][std::size_t(step)].transpose() - full.row(prefix[s] + step))
                                  .cwiseAbs()
                                  .maxCoeff());
  }
  CHECK(worst < 1e-5f);
  CHECK(decode({1}, 4)[0] == all[1]);
  CHECK(decode({2, 1}, 4)[1] == all[1]);
  const int threads = Eigen::nbThreads();
  Eigen::setNbThreads(1);
  const auto one_thread = decode({0, 1, 2}, 4);
  Eigen::setNbThreads(threads);
  CHECK(one_thread == all);

  kv_cache a(w.config, 2), full_cache(w.config, 1);
  model.extend(full_cache, std::span<const int>(seqs[0].data(), 1));
  const std::vector<int> one = {1}, two = {1, 2};
  std::vector<kv_cache*> twice = {&a, &a}, single = {&a}, full_one = {&full_cache};
  CHECK_THROWS_WITH_AS(
      model.extend_each(single, two),
      "llama_forward::extend_each: 2 tokens for 1 sequences (one each, at least one)", shape_error);
  CHECK_THROWS_WITH_AS(model.extend_each(twice, two),
                       "llama_forward::extend_each: cache 1 appears twice", option_error);
  CHECK_THROWS_WITH_AS(model.extend_each(full_one, one),
                       "llama_forward::extend_each: cache 0 is full (capacity 1)", option_error);
  CHECK(a.length() == 0);
}

TEST_CASE("sequences in one batch do not attend to each other") {
  const auto w = test::random_llama(tiny(rope_style::interleaved, true), 41);
  const auto a = random_tokens(6, w.config.vocab_size, 1),
             b = random_tokens(6, w.config.vocab_size, 2);
  std::vector<int> ab(a);
  ab.insert(ab.end(), b.begin(), b.end());
  llama_forward model(w);
  const row_matrix both = model.prefill(ab, {2, 6});
  const row_matrix only_b = model.prefill(b, {1, 6});
  CHECK((both.bottomRows(6) - only_b).cwiseAbs().maxCoeff() < 1e-5f);
}

TEST_CASE("bad tokens, layers, shapes and a full cache are rejected with messages") {
  const auto w = test::random_llama(tiny(rope_style::interleaved, true), 1);
  llama_forward model(w);
  const std::vector<int> bad = {1, 29};
  CHECK_THROWS_WITH_AS(model.embed(bad),
                       "llama_forward: token 29 at index 1 is outside the vocabulary of 29",
                       option_error);
  row_matrix x = row_matrix::Zero(4, 24);
  CHECK_THROWS_WITH_AS(model.run_block(3, x, {1, 4}),
                       "llama_forward::run_block: layer 3 is outside [0, 3)", option_error);
  CHECK_THROWS_WITH_AS(model.run_block(0, x, {1, 5}),
                       "llama_forward::run_block: hidden states are 4x24 (row stride 24) but a "
                       "row-major contiguous 5x24 matrix is needed",
                       shape_error);
  const std::vector<int> three = {1, 2, 3};
  CHECK_THROWS_WITH_AS(model.prefill(three, {2, 2}),
                       "llama_forward::prefill: 3 tokens but the layout holds 2 x 2", shape_error);
  kv_cache cache(w.config, 2);
  CHECK_THROWS_WITH_AS(model.extend(cache, three),
                       "llama_forward::extend: 0 + 3 positions exceed the cache capacity 2",
                       option_error);
}
