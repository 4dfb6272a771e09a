// Tests of the format-independent model representation: config validation, shapes, linear lookup.
#include <doctest/doctest.h>

#include "pollard/llm/llama_weights.hpp"

using namespace pollard;
using namespace pollard::llm;

namespace {
llama_config small_config() {
  llama_config c;
  c.dim = 12;
  c.hidden_dim = 20;
  c.n_layers = 2;
  c.n_heads = 6;
  c.n_kv_heads = 2;
  c.vocab_size = 7;
  c.seq_len = 9;
  return c;
}
}  // namespace

TEST_CASE("zeros() gives every tensor the shape the config asks for and passes validate()") {
  auto c = small_config();
  for (bool tied : {true, false}) {
    c.tied_classifier = tied;
    auto w = llama_weights::zeros(c);
    CHECK_NOTHROW(w.validate());
    CHECK(w.layers[1].wk.rows() == 4);
    CHECK(w.layers[1].wk.cols() == 12);
    CHECK(w.layers[0].w2.rows() == 12);
    CHECK(w.layers[0].w2.cols() == 20);
    CHECK(&w.output_classifier() == (tied ? &w.token_embedding : &w.classifier));
    CHECK(w.classifier.size() == (tied ? 0 : 7 * 12));
  }
}

TEST_CASE("linear() maps each linear to its PyTorch-layout matrix and input_of() to its input") {
  auto w = llama_weights::zeros(small_config());
  auto& l = w.layers[0];
  CHECK(&l.linear(llama_linear::gate) == &l.w1);
  CHECK(&l.linear(llama_linear::up) == &l.w3);
  CHECK(&l.linear(llama_linear::down) == &l.w2);
  CHECK(&l.linear(llama_linear::o) == &l.wo);
  CHECK(input_of(llama_linear::k) == llama_linear_input::attn_in);
  CHECK(input_of(llama_linear::down) == llama_linear_input::mlp_out);
  CHECK(linears_reading(llama_linear_input::mlp_in) ==
        std::vector<llama_linear>{llama_linear::gate, llama_linear::up});
  CHECK(std::string(name_of(llama_linear_input::attn_out)) == "attn_out");
}

TEST_CASE("validate() names the tensor whose shape is wrong and the config field out of range") {
  auto w = llama_weights::zeros(small_config());
  w.layers[1].wv.resize(3, 12);
  CHECK_THROWS_WITH_AS(
      w.validate(), "llama_weights: layer 1 wv is 3x12 but the config asks for 4x12", shape_error);
  auto c = small_config();
  c.n_kv_heads = 4;
  CHECK_THROWS_WITH_AS(c.validate(), "llama_config: n_kv_heads 4 does not divide n_heads 6",
                       option_error);
  c = small_config();
  c.n_heads = 5;
  CHECK_THROWS_WITH_AS(c.validate(), "llama_config: n_heads 5 does not divide dim 12",
                       option_error);
  c = small_config();
  c.vocab_size = 0;
  CHECK_THROWS_WITH_AS(c.validate(), "llama_config: vocab_size must be positive, got 0",
                       option_error);
}
