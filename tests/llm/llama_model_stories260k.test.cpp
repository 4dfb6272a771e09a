// The Llama adapter on the real stories260K model: the model concepts give exactly what
// llama_forward computes itself.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "pollard/llm/llama2c_model.hpp"
#include "pollard/llm/llama2c_tokenizer.hpp"
#include "pollard/llm/llama_model.hpp"
#include "support/data.hpp"

using namespace pollard;
using namespace pollard::llm;

TEST_CASE("stories260K: run_block and chunked logits through the concepts equal llama_forward's") {
  const auto model_path = test::data_file("models/stories260K/stories260K.bin");
  const auto tok_path = test::data_file("models/stories260K/tok512.bin");
  if (!model_path || !tok_path) return;
  auto weights = llm::read_llama2c(*model_path);
  const auto tok = llama2c_tokenizer::read(*tok_path, weights.config.vocab_size);
  const auto a = tok.encode("Once upon a time, a small dog found a red ball in the garden.");
  const auto b = tok.encode("The sun was hot. Tom and Sue went to the lake to swim and play!");
  const auto L = static_cast<index_t>(std::min(a.size(), b.size()));
  std::vector<token_id> batch(a.begin(), a.begin() + L);
  batch.insert(batch.end(), b.begin(), b.begin() + L);
  const model::sequence_layout layout{2, L};

  llama_model m(weights);
  llama_forward reference(weights);
  row_matrix expected = reference.embed(batch);
  row_matrix hidden(2 * L, weights.config.dim);
  model::embed(m, batch, view_of(hidden));
  CHECK(hidden == expected);
  for (index_t k = 0; k < model::block_count(m); ++k) {
    index_t inputs_seen = 0;
    model::run_block(m, k, view_of(hidden), layout,
                     [&](index_t, matrix_view<const float>) { ++inputs_seen; });
    reference.run_block(k, expected, layout);
    CHECK(inputs_seen == 4);
    CHECK(hidden == expected);  // the same code on the same inputs: bit for bit
  }

  const row_matrix prefill = reference.prefill(batch, layout);
  float worst = 0.0f;
  index_t rows = 0;
  model::for_each_logits(m, batch, layout, 7, [&](index_t first, matrix_view<const float> l) {
    rows += l.rows();
    for (index_t i = 0; i < l.rows(); ++i)
      for (index_t j = 0; j < l.cols(); ++j)
        worst = std::max(worst, std::abs(l(i, j) - prefill(first + i, j)));
  });
  CHECK(rows == 2 * L);
  CHECK(worst <= 1e-5f * std::max(1.0f, prefill.cwiseAbs().maxCoeff()));
}
