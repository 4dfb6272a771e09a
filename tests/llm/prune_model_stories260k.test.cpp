// prune_model on the real stories260K (llama2.c) through the Llama engine's model adapter:
// exact sparsity of every linear, N:M validity, sequential vs parallel, reproducibility, and the
// published ordering of the methods (Wanda and SparseGPT far closer to dense than magnitude).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "pollard/calibration/document_windows.hpp"
#include "pollard/io/text_datasets.hpp"
#include "pollard/llm/llama_model.hpp"
#include "pollard/llm/model_file.hpp"
#include "pollard/metrics/perplexity.hpp"
#include "pollard/model/causal_lm.hpp"
#include "pollard/model/prune_model.hpp"
#include "support/data.hpp"

using pollard::index_t;
using pollard::token_id;
namespace model = pollard::model;
namespace llm = pollard::llm;

namespace {

struct stories {
  llm::model_file file;
  std::vector<std::string> paragraphs;
};

std::optional<stories> load_stories() {
  const auto path = pollard::test::data_file("models/stories260K/stories260K.bin");
  const auto text = pollard::test::data_file("text/tinystories/tinystories_train_head.txt");
  if (!path || !text) return std::nullopt;
  return stories{llm::open_model(*path), pollard::io::read_paragraphs(*text)};
}

// Calibration: per-document windows from the first 300 paragraphs (TinyStories, the model's
// training text); evaluation: the paragraphs after them.
pollard::calibration_batch calibration(const stories& s, index_t n, index_t length,
                                       std::uint64_t seed) {
  const auto& tok = *s.file.tokenizer;
  std::vector<std::string> docs(s.paragraphs.begin(), s.paragraphs.begin() + 300);
  const pollard::document_windows source(
      docs, [&](std::string_view t, bool bos) { return tok.encode(t, bos); }, true, "tinystories");
  return source.draw(n, length, seed);
}

double held_out_perplexity(const stories& s, llm::llama_weights& weights) {
  const auto& tok = *s.file.tokenizer;
  std::string text;
  for (std::size_t p = 300; p < s.paragraphs.size() && text.size() < 20000; ++p)
    text += s.paragraphs[p] + "\n\n";
  const auto tokens = tok.encode(text, true);
  const index_t window = 256,
                windows = std::min<index_t>(8, static_cast<index_t>(tokens.size()) / window);
  REQUIRE(windows >= 4);
  llm::llama_model m(weights);
  pollard::perplexity_accumulator acc;
  for (index_t w = 0; w < windows; ++w) {
    const std::span<const token_id> seq(tokens.data() + w * window,
                                        static_cast<std::size_t>(window));
    model::for_each_logits(m, seq, {1, window}, {0, window - 1}, 64,
                           [&](index_t first, pollard::matrix_view<const float> logits) {
                             acc.add_logits(logits,
                                            seq.subspan(static_cast<std::size_t>(first + 1),
                                                        static_cast<std::size_t>(logits.rows())));
                           });
  }
  return acc.result().perplexity;
}

}  // namespace

TEST_CASE("stories260K: every pruned linear has exactly its per-row or 2:4 sparsity") {
  auto s = load_stories();
  if (!s) return;
  const auto batch = calibration(*s, 8, 128, 0);
  for (const bool n_m : {false, true}) {
    auto weights = s->file.weights;
    llm::llama_model m(weights);
    model::prune_recipe recipe;
    recipe.method = model::pruning_method::wanda;
    if (n_m) {
      recipe.n_m_pruned = 2;
      recipe.n_m_group = 4;
    }
    const auto report = model::prune_model(m, batch, recipe);
    REQUIRE(report.linears.size() == static_cast<std::size_t>(7 * weights.config.n_layers));
    for (const auto& l : report.linears) {
      INFO(l.name);
      // Known for an N:M recipe only.
      CHECK(l.n_m_valid == (n_m ? std::optional<bool>(true) : std::nullopt));
      CHECK(l.sparsity == doctest::Approx(0.5));
    }
    // Untouched: embeddings and norms.
    CHECK(weights.token_embedding == s->file.weights.token_embedding);
    CHECK(weights.final_norm == s->file.weights.final_norm);
  }
}

TEST_CASE("stories260K: sequential and parallel agree on block 0 only; runs are reproducible") {
  auto s = load_stories();
  if (!s) return;
  const auto batch = calibration(*s, 8, 128, 1);
  model::prune_recipe recipe;
  recipe.method = model::pruning_method::sparsegpt;
  auto seq = s->file.weights, seq2 = s->file.weights, par = s->file.weights;
  llm::llama_model ms(seq), ms2(seq2), mp(par);
  model::prune_model(ms, batch, recipe);
  model::prune_model(ms2, batch, recipe);
  recipe.mode = model::calibration_mode::parallel;
  model::prune_model(mp, batch, recipe);
  for (std::size_t l = 0; l < seq.layers.size(); ++l) {
    CHECK(seq.layers[l].wq == seq2.layers[l].wq);
    CHECK(seq.layers[l].w2 == seq2.layers[l].w2);
  }
  CHECK(seq.layers[0].wq == par.layers[0].wq);
  CHECK(seq.layers[0].w2 == par.layers[0].w2);
  CHECK(seq.layers[2].wq != par.layers[2].wq);
  CHECK(seq.layers[4].w2 != par.layers[4].w2);
}

TEST_CASE("stories260K: one thread and two threads give the same masks and weights") {
  auto s = load_stories();
  if (!s) return;
  const auto batch = calibration(*s, 8, 128, 2);
  for (const auto method : {model::pruning_method::wanda, model::pruning_method::sparsegpt}) {
    for (const bool two_four : {false, true}) {
      model::prune_recipe recipe;
      recipe.method = method;
      if (two_four) {
        recipe.n_m_pruned = 2;
        recipe.n_m_group = 4;
      }
      auto one = s->file.weights, two = s->file.weights;
      llm::llama_model m1(one), m2(two);
      // The forward pass runs on Eigen's thread count, the driver's kernels on the policy's.
      const int threads = Eigen::nbThreads();
      Eigen::setNbThreads(1);
      model::prune_model(pollard::cpu::par.threads(1), m1, batch, recipe);
      Eigen::setNbThreads(2);
      model::prune_model(pollard::cpu::par.threads(2), m2, batch, recipe);
      Eigen::setNbThreads(threads);
      for (std::size_t l = 0; l < one.layers.size(); ++l) {
        CHECK(one.layers[l].wq == two.layers[l].wq);
        CHECK(one.layers[l].wo == two.layers[l].wo);
        CHECK(one.layers[l].w1 == two.layers[l].w1);
        CHECK(one.layers[l].w2 == two.layers[l].w2);
      }
    }
  }
}

// The bound: Wanda and SparseGPT lose less than half the perplexity magnitude loses, for each of
// three calibration seeds. Measured when written (16 x 256 tokens, 8 held-out windows of 256):
// dense 17.60, magnitude 128.6; Wanda 67.4 / 69.9 / 65.8, SparseGPT 59.7 / 63.9 / 61.8, so the
// worst case uses 47 % of magnitude's loss against the 50 % allowed.
TEST_CASE("stories260K at 50 %: Wanda and SparseGPT stay far closer to dense than magnitude") {
  auto s = load_stories();
  if (!s) return;
  auto dense = s->file.weights;
  const double ppl_dense = held_out_perplexity(*s, dense);
  const auto pruned_ppl = [&](model::pruning_method method, std::uint64_t seed) {
    auto w = s->file.weights;
    llm::llama_model m(w);
    model::prune_recipe recipe;
    recipe.method = method;
    model::prune_model(m, calibration(*s, 16, 256, seed), recipe);
    return held_out_perplexity(*s, w);
  };
  const double ppl_magnitude = pruned_ppl(model::pruning_method::magnitude, 0);
  std::printf("stories260K held-out perplexity: dense %.3f, magnitude 50%% %.3f\n", ppl_dense,
              ppl_magnitude);
  for (const std::uint64_t seed : {0u, 1u, 2u}) {
    const double wanda = pruned_ppl(model::pruning_method::wanda, seed);
    const double sparsegpt = pruned_ppl(model::pruning_method::sparsegpt, seed);
    std::printf("  calibration seed %d: Wanda %.3f, SparseGPT %.3f\n", static_cast<int>(seed),
                wanda, sparsegpt);
    CHECK(wanda - ppl_dense < 0.5 * (ppl_magnitude - ppl_dense));
    CHECK(sparsegpt - ppl_dense < 0.5 * (ppl_magnitude - ppl_dense));
  }
}

// DSnoT's swaps only ever shrink a row's expected error, so on a model whose rows are narrow
// (64 and 172 inputs, where the reference's pointers run past their groups within 50 cycles) it
// must not make Wanda worse. Measured when written (16 x 256 tokens, seed 0, 8 held-out windows):
// Wanda 50 % 67.4, with DSnoT 61.1; Wanda 2:4 196.7, with DSnoT 170.4. Before the swaps were
// limited to ones that shrink the error, `pollard prune --dsnot` (64 x 256 tokens) raised
// Wanda 50 % from 27.2 to 116.1 and Wanda 2:4 from 81.6 to 492.0 on TinyStories.
TEST_CASE("stories260K: DSnoT refinement does not make Wanda worse, per row or 2:4") {
  auto s = load_stories();
  if (!s) return;
  const auto pruned_ppl = [&](bool n_m, bool dsnot) {
    auto w = s->file.weights;
    llm::llama_model m(w);
    model::prune_recipe recipe;
    recipe.method = model::pruning_method::wanda;
    if (n_m) {
      recipe.n_m_pruned = 2;
      recipe.n_m_group = 4;
    }
    recipe.dsnot = dsnot;
    model::prune_model(m, calibration(*s, 16, 256, 0), recipe);
    return held_out_perplexity(*s, w);
  };
  for (const bool n_m : {false, true}) {
    CAPTURE(n_m);
    const double wanda = pruned_ppl(n_m, false), refined = pruned_ppl(n_m, true);
    std::printf("stories260K Wanda %s: %.3f, with DSnoT %.3f\n", n_m ? "2:4" : "50 %", wanda,
                refined);
    CHECK(refined < 1.02 * wanda);
  }
}
