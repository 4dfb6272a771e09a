// llama2.c v0 checkpoints: round trips of both classifier variants and rejection of bad headers.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <vector>

#include "pollard/io/mapped_file.hpp"
#include "pollard/llm/llama2c_model.hpp"
#include "support/naive_llm.hpp"

using namespace pollard;
using namespace pollard::llm;

namespace {

llama_config tiny(bool tied) {
  llama_config c;
  c.dim = 8;
  c.hidden_dim = 11;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.vocab_size = 13;
  c.seq_len = 5;
  c.tied_classifier = tied;
  return c;
}

std::vector<std::byte> header(std::vector<std::int32_t> h) {
  std::vector<std::byte> b(h.size() * 4);
  std::memcpy(b.data(), h.data(), b.size());
  return b;
}

// The float count a v0 file with this header holds after the header, written out by hand.
std::size_t floats_for(std::int64_t d, std::int64_t hd, std::int64_t L, std::int64_t H,
                       std::int64_t KV, std::int64_t V, std::int64_t T) {
  const std::int64_t hs = d / H, kv = KV * hs, vocab = V < 0 ? -V : V;
  std::int64_t n = vocab * d;       // token_embedding
  n += L * d;                       // rms_att
  n += L * d * d + 2 * L * kv * d;  // wq, wk, wv
  n += L * d * d;                   // wo
  n += L * d;                       // rms_ffn
  n += 3 * L * hd * d;              // w1, w2, w3
  n += d;                           // rms_final
  n += 2 * T * (hs / 2);            // freq_cis_real, freq_cis_imag
  if (V < 0) n += vocab * d;        // wcls
  return static_cast<std::size_t>(n);
}

}  // namespace

TEST_CASE("a shared-classifier checkpoint round-trips bit for bit and has the v0 size") {
  const auto w = test::random_llama(tiny(true), 7);
  const auto bytes = llm::llama2c_bytes(w);
  CHECK(bytes.size() == 28 + 4 * floats_for(8, 11, 2, 4, 2, 13, 5));
  std::int32_t vocab;
  std::memcpy(&vocab, bytes.data() + 20, 4);
  CHECK(vocab == 13);
  // The embedding table starts right after the header; wq of layer 0 after the rms_att block.
  float first;
  std::memcpy(&first, bytes.data() + 28, 4);
  CHECK(first == w.token_embedding(0, 0));
  std::memcpy(&first, bytes.data() + 28 + 4 * (13 * 8 + 2 * 8), 4);
  CHECK(first == w.layers[0].wq(0, 0));
  const auto back = llm::read_llama2c(bytes, "memory");
  CHECK(back.config.tied_classifier);
  CHECK(back.config.kv_dim() == 4);
  CHECK(back.token_embedding == w.token_embedding);
  for (std::size_t l = 0; l < 2; ++l)
    for (llama_linear k : all_llama_linears)
      CHECK(back.layers[l].linear(k) == w.layers[l].linear(k));
  CHECK(back.layers[1].attn_norm == w.layers[1].attn_norm);
  CHECK(back.layers[1].ffn_norm == w.layers[1].ffn_norm);
  CHECK(back.final_norm == w.final_norm);
  CHECK(back.classifier.size() == 0);
}

TEST_CASE("a separate-classifier checkpoint stores -vocab_size and wcls after freq_cis") {
  const auto w = test::random_llama(tiny(false), 9);
  const auto path = std::filesystem::temp_directory_path() / "pollard-llama2c-separate.bin";
  llm::write_llama2c(w, path);
  REQUIRE(std::filesystem::file_size(path) == 28 + 4 * floats_for(8, 11, 2, 4, 2, -13, 5));
  io::mapped_file file(path);
  std::int32_t vocab;
  std::memcpy(&vocab, file.bytes().data() + 20, 4);
  CHECK(vocab == -13);
  float last;
  std::memcpy(&last, file.bytes().data() + file.bytes().size() - 4, 4);
  CHECK(last == w.classifier(12, 7));
  const auto back = llm::read_llama2c(path);
  CHECK_FALSE(back.config.tied_classifier);
  CHECK(back.config.vocab_size == 13);
  CHECK(back.classifier == w.classifier);
  CHECK(back.token_embedding == w.token_embedding);
  CHECK(back.layers[1].w2 == w.layers[1].w2);
  std::filesystem::remove(path);
}

TEST_CASE("the writer refuses a model llama2.c cannot describe and leaves no file") {
  auto w = test::random_llama(tiny(true), 1);
  w.config.rope = rope_style::half_split;
  const auto path = std::filesystem::temp_directory_path() / "pollard-llama2c-refused.bin";
  CHECK_THROWS_WITH_AS(llm::write_llama2c(w, path),
                       "llama2.c format stores only interleaved RoPE with theta 10000 and "
                       "rms_norm_eps 1e-5; this model has half_split RoPE, theta 10000.000000, "
                       "eps 0.000010",
                       option_error);
  CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("bad headers are format errors that say what is wrong") {
  const auto good = llm::llama2c_bytes(test::random_llama(tiny(true), 3));
  auto with_header = [&](std::vector<std::int32_t> h) {
    auto b = good;
    std::memcpy(b.data(), h.data(), h.size() * 4);
    return b;
  };
  CHECK_THROWS_WITH_AS(llm::read_llama2c(std::span(good).first(20), "t.bin"),
                       "t.bin: vocab_size needs 4 bytes but only 0 remain (truncated file?) (at "
                       "byte 20)",
                       format_error);
  CHECK_THROWS_WITH_AS(llm::read_llama2c(std::span(good).first(good.size() - 1), "t.bin"),
                       doctest::Contains("bytes but the file has"), format_error);
  CHECK_THROWS_WITH_AS(llm::read_llama2c(with_header({8, 11, 2, 3, 1, 13, 5}), "t.bin"),
                       "t.bin: header n_heads 3 does not divide dim 8 (at byte 28)", format_error);
  CHECK_THROWS_WITH_AS(llm::read_llama2c(with_header({8, 11, 2, 4, 3, 13, 5}), "t.bin"),
                       "t.bin: header n_kv_heads 3 does not divide n_heads 4 (at byte 28)",
                       format_error);
  CHECK_THROWS_WITH_AS(llm::read_llama2c(with_header({8, 11, 2, 8, 8, 13, 5}), "t.bin"),
                       "t.bin: head size 1 (dim / n_heads) is odd (at byte 28)", format_error);
  CHECK_THROWS_WITH_AS(llm::read_llama2c(with_header({8, 0, 2, 4, 2, 13, 5}), "t.bin"),
                       "t.bin: header hidden_dim must be positive, got 0 (at byte 28)",
                       format_error);
  CHECK_THROWS_WITH_AS(llm::read_llama2c(with_header({8, 11, 2, 4, 2, 0, 5}), "t.bin"),
                       "t.bin: header vocab_size must be non-zero, got 0 (at byte 28)",
                       format_error);
  // The right header for a separate classifier, on a file without one.
  const std::string mismatch =
      "t.bin: the header implies " + std::to_string(28 + 4 * floats_for(8, 11, 2, 4, 2, -13, 5)) +
      " bytes but the file has " + std::to_string(good.size()) + " (at byte 28)";
  CHECK_THROWS_WITH_AS(llm::read_llama2c(with_header({8, 11, 2, 4, 2, -13, 5}), "t.bin"),
                       mismatch.c_str(), format_error);
  // Sizes whose product overflows 64 bits.
  CHECK_THROWS_WITH_AS(
      llm::read_llama2c(header({2147483644, 2147483647, 2147483647, 2, 2, 2147483647, 1}),
                        "huge.bin"),
      doctest::Contains("overflows"), format_error);
}
