// generate() on a tiny random model against a naive greedy loop over full forward passes.
#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

#include "pollard/evaluation/generate.hpp"
#include "pollard/llm/llama_model.hpp"
#include "support/naive_llm.hpp"

using namespace pollard;
using namespace pollard::llm;
using pollard::evaluation::generate;
using pollard::evaluation::generate_options;

namespace {

llama_config tiny() {
  llama_config c;
  c.dim = 16;
  c.hidden_dim = 24;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.vocab_size = 23;
  c.seq_len = 64;
  return c;
}

int naive_argmax(const std::vector<double>& v) {
  return int(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace

TEST_CASE("greedy generate equals argmax of a full naive forward pass at every step") {
  const auto w = test::random_llama(tiny(), 77, 0.5f);
  llama_forward model(w);
  const std::vector<token_id> prompt = {1, 5, 9};
  generate_options o;
  o.max_new_tokens = 12;
  o.stop_tokens = {};
  o.sampling.temperature = 0.0f;
  const auto got = generate(model, prompt, o);
  std::vector<int> seq(prompt.begin(), prompt.end()), want;
  for (int i = 0; i < 12; ++i) {
    const auto logits = test::naive_logits(w, seq);
    want.push_back(naive_argmax(logits.back()));
    seq.push_back(want.back());
  }
  CHECK(std::vector<int>(got.begin(), got.end()) == want);
}

TEST_CASE("generate stops right after a stop token and is reproducible with a seed") {
  const auto w = test::random_llama(tiny(), 5, 0.5f);
  llama_forward model(w);
  const std::vector<token_id> prompt = {1};
  generate_options o;
  o.max_new_tokens = 40;
  o.stop_tokens = {};
  o.sampling = {1.0f, 0, 1.0f, 1.0f, 42};
  const auto free_run = generate(model, prompt, o);
  REQUIRE(free_run.size() == 40);
  CHECK(generate(model, prompt, o) == free_run);
  const token_id stop = free_run[10];
  const auto first = std::find(free_run.begin(), free_run.end(), stop);
  o.stop_tokens = {stop};
  const auto stopped = generate(model, prompt, o);
  CHECK(stopped == std::vector<token_id>(free_run.begin(), first + 1));
  o.max_new_tokens = 0;
  CHECK(generate(model, prompt, o).empty());
  CHECK_THROWS_WITH_AS(generate(model, std::vector<token_id>{}, o),
                       "generate: the prompt is empty (start it with BOS)", option_error);
}
