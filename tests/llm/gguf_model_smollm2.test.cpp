#include <doctest/doctest.h>

#include <filesystem>

#include "pollard/evaluation/perplexity.hpp"
#include "pollard/llm/llama_model.hpp"
#include "pollard/llm/model_file.hpp"
#include "support/smollm2.hpp"

using namespace pollard::llm;
using pollard::evaluation::evaluate_perplexity;
using pollard::evaluation::evaluation_options;

TEST_CASE("SmolLM2 loads from GGUF with the configuration its model card gives") {
  const auto path = pollard::test::smollm2_gguf();
  if (!path) return;
  const auto m = open_model(*path);
  const auto& c = m.weights.config;
  CHECK(m.format == model_format::gguf);
  CHECK(c.n_layers == 30);
  CHECK(c.dim == 576);
  CHECK(c.hidden_dim == 1536);
  CHECK(c.n_heads == 9);
  CHECK(c.n_kv_heads == 3);
  CHECK(c.vocab_size == 49152);
  CHECK(c.tied_classifier);
  CHECK(c.rope_theta == 100000.0f);
  REQUIRE(m.tokenizer);
  CHECK(m.tokenizer->kind() == "byte-level BPE");
  CHECK_FALSE(m.tokenizer->adds_bos());
}

TEST_CASE("SmolLM2 written back as F32 keeps every metadata key and reads back identically") {
  const auto path = pollard::test::smollm2_gguf();
  if (!path) return;
  const auto m = open_model(*path);
  const auto out = std::filesystem::temp_directory_path() / "pollard-smollm2-f32.gguf";
  save_model(m, m.weights, out);
  const auto copy = open_model(out);
  std::filesystem::remove(out);
  CHECK(copy.gguf->tensors().size() == m.gguf->tensors().size());
  for (const auto& [key, value] : m.gguf->metadata()) {
    REQUIRE(copy.gguf->metadata().contains(key));
    if (key != "general.file_type") CHECK(copy.gguf->metadata().at(key) == value);
  }
  CHECK(copy.gguf->metadata().get<std::uint32_t>("general.file_type") == 0u);
  CHECK(copy.weights.token_embedding == m.weights.token_embedding);
  for (std::size_t l = 0; l < m.weights.layers.size(); ++l)
    for (const auto linear : all_llama_linears)
      CHECK(copy.weights.layers[l].linear(linear) == m.weights.layers[l].linear(linear));
  CHECK(copy.weights.final_norm == m.weights.final_norm);
}

TEST_CASE(
    "SmolLM2 assigns a plain English paragraph a low perplexity (the forward pass and tokenizer "
    "work together)") {
  const auto path = pollard::test::smollm2_gguf();
  if (!path) return;
  const auto m = open_model(*path);
  llama_forward model(m.weights);
  const std::string text =
      "The capital of France is Paris. It is known for the Eiffel Tower, which was built in 1889 "
      "for the World's Fair. Paris is also famous for its museums, such as the Louvre, which "
      "houses the Mona Lisa. Every year, millions of tourists visit the city to enjoy its food, "
      "art and history.";
  const auto tokens = m.tokenizer->encode(text, false);
  evaluation_options o;
  o.window = static_cast<pollard::index_t>(tokens.size());
  const auto ppl = evaluate_perplexity(model, tokens, o).result.perplexity;
  MESSAGE("SmolLM2 perplexity on a simple paragraph: " << ppl);
  CHECK(ppl > 1.5);
  CHECK(ppl < 20.0);  // a random model would be near the vocabulary size, 49152
}
