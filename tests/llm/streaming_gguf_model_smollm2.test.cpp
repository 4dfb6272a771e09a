// The streaming GGUF model (one block in float at a time) against the whole model in float, on
// SmolLM2-135M: the same embeddings, block outputs and pruned weights, and only changed blocks
// handed back.
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <vector>

#include "pollard/calibration/corpus_windows.hpp"
#include "pollard/llm/llama_model.hpp"
#include "pollard/llm/model_file.hpp"
#include "pollard/llm/streaming_gguf_model.hpp"
#include "pollard/model/prune_model.hpp"
#include "support/smollm2.hpp"

using pollard::index_t;
using pollard::token_id;
namespace llm = pollard::llm;
namespace model = pollard::model;

TEST_CASE("SmolLM2: pruning through the streaming model equals pruning the model in float") {
  const auto path = pollard::test::smollm2_gguf();
  if (!path) return;
  const auto dense = llm::open_model(*path);
  std::vector<token_id> stream;
  for (int k = 0; k < 4000; ++k) stream.push_back(static_cast<token_id>((k * 7919) % 49152));
  const auto batch = pollard::corpus_windows(stream, "ids").draw(4, 48, 0);

  model::prune_recipe recipe;
  recipe.method = model::pruning_method::sparsegpt;
  recipe.targets.include = {"blk.0.*", "blk.1.*", "blk.2.attn_q"};

  auto weights = dense.weights;
  llm::llama_model in_memory(weights);
  const auto expected = model::prune_model(in_memory, batch, recipe);

  std::map<index_t, llm::llama_layer_weights> handed_back;
  llm::streaming_gguf_llama_model streaming(
      std::shared_ptr<const pollard::io::gguf_file>(dense.gguf),
      [&](index_t b, const llm::llama_layer_weights& layer) { handed_back[b] = layer; });
  const auto got = model::prune_model(streaming, batch, recipe);

  REQUIRE(got.linears.size() == expected.linears.size());
  REQUIRE(handed_back.size() == 3);  // blocks 0, 1, 2; the rest were never changed
  for (index_t b = 0; b < 3; ++b) {
    const auto& l = handed_back.at(b);
    const auto& w = weights.layers[static_cast<std::size_t>(b)];
    CHECK(l.wq == w.wq);
    CHECK(l.wk == w.wk);
    CHECK(l.w2 == w.w2);
    CHECK(l.attn_norm == w.attn_norm);
  }
  CHECK(handed_back.at(2).wk == dense.weights.layers[2].wk);
  CHECK_FALSE(streaming.loaded_block().has_value());
  for (std::size_t k = 0; k < got.linears.size(); ++k) {
    CHECK(got.linears[k].name == expected.linears[k].name);
    CHECK(got.linears[k].loss == expected.linears[k].loss);
  }
}

TEST_CASE("SmolLM2: the streaming model refuses to run a block it does not hold") {
  const auto path = pollard::test::smollm2_gguf();
  if (!path) return;
  auto file = std::make_shared<const pollard::io::gguf_file>(*path);
  llm::streaming_gguf_llama_model m(file);
  std::vector<float> hidden(static_cast<std::size_t>(4 * 576));
  const std::vector<token_id> tokens{1, 2, 3, 4};
  model::embed(m, tokens, pollard::matrix_view<float>(hidden.data(), 4, 576));
  CHECK_THROWS_WITH_AS(
      model::run_block(m, 3, pollard::matrix_view<float>(hidden.data(), 4, 576), {1, 4}),
      "streaming model: run_block of block 3 before begin_block(3)", pollard::option_error);
  model::begin_block(m, 3);
  CHECK(m.loaded_block() == 3);
  model::run_block(m, 3, pollard::matrix_view<float>(hidden.data(), 4, 576), {1, 4});
  model::end_block(m, 3);
  CHECK_FALSE(m.loaded_block().has_value());
}
