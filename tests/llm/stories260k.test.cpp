// Tests against the real stories260K model (llama2.c v0 checkpoint + tok512 tokenizer).
#include <doctest/doctest.h>

#include <cctype>
#include <fstream>
#include <sstream>

#include "pollard/evaluation/generate.hpp"
#include "pollard/llm/llama2c_model.hpp"
#include "pollard/llm/llama2c_tokenizer.hpp"
#include "pollard/llm/llama_forward.hpp"
#include "pollard/llm/llama_model.hpp"
#include "support/data.hpp"

using namespace pollard;
using namespace pollard::llm;
using pollard::evaluation::generate;
using pollard::evaluation::generate_options;

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// What llama2.c's safe_printf lets through: single-byte pieces only when printable or space.
std::string printable(const std::string& piece) {
  if (piece.empty()) return piece;
  if (piece.size() == 1) {
    const auto b = static_cast<unsigned char>(piece[0]);
    if (!(std::isprint(b) || std::isspace(b))) return {};
  }
  return piece;
}

}  // namespace

TEST_CASE("greedy generation from BOS for 256 steps reproduces llama2.c's output byte for byte") {
  auto model_path = test::data_file("models/stories260K/stories260K.bin");
  auto tok_path = test::data_file("models/stories260K/tok512.bin");
  auto expected_path = test::data_file("models/stories260K/greedy-256-steps.txt");
  if (!model_path || !tok_path || !expected_path) return;
  const auto weights = llm::read_llama2c(*model_path);
  const auto tok = llama2c_tokenizer::read(*tok_path, weights.config.vocab_size);
  llama_forward model(weights);
  generate_options opt;
  opt.max_new_tokens = 256;  // run.c samples once per step; the steps cover positions 0..255
  opt.stop_tokens = {llama2c_tokenizer::bos};
  opt.sampling.temperature = 0.0f;
  const std::vector<token_id> prompt = {llama2c_tokenizer::bos};
  const auto tokens = generate(model, prompt, opt);
  std::string text;
  token_id prev = llama2c_tokenizer::bos;
  for (token_id t : tokens) {
    if (t == llama2c_tokenizer::bos) break;
    text += printable(tok.decode_piece(prev, t));
    prev = t;
  }
  text += "\n";  // run.c ends the stream with a newline
  CHECK(text == slurp(*expected_path));
}

TEST_CASE(
    "batched prefill logits equal incremental KV-cache logits on stories260K to 1e-5 relative") {
  auto model_path = test::data_file("models/stories260K/stories260K.bin");
  auto tok_path = test::data_file("models/stories260K/tok512.bin");
  if (!model_path || !tok_path) return;
  const auto weights = llm::read_llama2c(*model_path);
  const auto tok = llama2c_tokenizer::read(*tok_path, weights.config.vocab_size);
  const auto a = tok.encode("Once upon a time, a small dog found a red ball in the garden.");
  const auto b = tok.encode("The sun was hot. Tom and Sue went to the lake to swim and play!");
  const index_t L = static_cast<index_t>(std::min(a.size(), b.size()));
  std::vector<token_id> batch(a.begin(), a.begin() + L);
  batch.insert(batch.end(), b.begin(), b.begin() + L);
  llama_forward model(weights);
  const row_matrix batched = model.prefill(batch, sequence_layout{2, L});
  for (index_t s = 0; s < 2; ++s) {
    kv_cache cache(weights.config, L);
    float worst = 0.0f;
    for (index_t p = 0; p < L; ++p) {
      const Eigen::VectorXf step =
          model.decode_step(cache, batch[static_cast<std::size_t>(s * L + p)]);
      const auto row = batched.row(s * L + p);
      const float scale = std::max(1.0f, row.cwiseAbs().maxCoeff());
      worst = std::max(worst, (step.transpose() - row).cwiseAbs().maxCoeff() / scale);
    }
    CHECK(worst <= 1e-5f);
  }
}

TEST_CASE("writing stories260K as llama2.c and reading it back gives the same weights and size") {
  auto model_path = test::data_file("models/stories260K/stories260K.bin");
  if (!model_path) return;
  const auto weights = llm::read_llama2c(*model_path);
  const auto original = slurp(*model_path);
  const auto bytes = llm::llama2c_bytes(weights);
  REQUIRE(bytes.size() == original.size());
  // Everything before the freq_cis tables is copied verbatim.
  const auto& c = weights.config;
  const std::size_t freq_offset =
      original.size() -
      static_cast<std::size_t>(2 * c.seq_len * (c.head_size() / 2)) * sizeof(float);
  CHECK(std::memcmp(bytes.data(), original.data(), freq_offset) == 0);
  // The recomputed freq_cis tables agree with the exported ones to float rounding.
  float worst = 0.0f;
  for (std::size_t off = freq_offset; off < original.size(); off += 4) {
    float x, y;
    std::memcpy(&x, original.data() + off, 4);
    std::memcpy(&y, bytes.data() + off, 4);
    worst = std::max(worst, std::abs(x - y));
  }
  CHECK(worst < 1e-5f);
  const auto back = llm::read_llama2c(std::span<const std::byte>(bytes), "round trip");
  CHECK(back.token_embedding == weights.token_embedding);
  CHECK(back.layers[4].w2 == weights.layers[4].w2);
  CHECK(back.config.tied_classifier);
}

TEST_CASE("stories260K written back with the freq_cis tables it holds is byte-identical") {
  auto model_path = test::data_file("models/stories260K/stories260K.bin");
  if (!model_path) return;
  const auto original = slurp(*model_path);
  const auto bytes =
      llm::llama2c_bytes(llm::read_llama2c(*model_path), llm::read_llama2c_freq_cis(*model_path));
  REQUIRE(bytes.size() == original.size());
  CHECK(std::memcmp(bytes.data(), original.data(), bytes.size()) == 0);
  CHECK_THROWS_AS(llm::llama2c_bytes(llm::read_llama2c(*model_path), std::vector<float>(6, 0.0f)),
                  pollard::shape_error);
}
