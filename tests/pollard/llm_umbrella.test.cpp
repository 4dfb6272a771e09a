#include <doctest/doctest.h>

#include "pollard/llm.hpp"

// The LLM umbrella is self-sufficient, and the reference engine plugs into the generic layer.
static_assert(pollard::model::block_sequential_model<pollard::llm::llama_model>);
static_assert(pollard::model::incremental_lm<pollard::llm::llama_forward>);
static_assert(pollard::evaluation::text_tokenizer<pollard::llm::text_tokenizer>);

TEST_CASE("the LLM umbrella header names the concepts, evaluation and the Llama engine") {
  CHECK(pollard::evaluation::window_length(4096, {}) == 2048);
}
