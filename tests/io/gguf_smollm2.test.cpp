// Reads the real SmolLM2-135M-Instruct Q4_1 GGUF (skipped when cmake/fetch_smollm2.sh was not run).
// The expected metadata are the model's published configuration (HuggingFaceTB/SmolLM2-135M:
// 30 layers, hidden 576, FFN 1536, 9 query / 3 KV heads, vocabulary 49152, RoPE theta 1e5).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pollard/io/gguf.hpp"
#include "support/smollm2.hpp"

using namespace pollard::io;

namespace {

const std::optional<std::filesystem::path>& model_path() {
  static const auto path = pollard::test::smollm2_gguf();
  return path;
}

const gguf_file& model() {
  static const gguf_file f(*model_path());
  return f;
}

// IEEE binary16 from its fields (independent of the library's conversion).
double naive_half(unsigned h) {
  const int e = static_cast<int>((h >> 10) & 31u);
  const double mag = e == 0 ? std::ldexp(h & 1023u, -24) : std::ldexp((h & 1023u) + 1024u, e - 25);
  return (h & 0x8000u) ? -mag : mag;
}

}  // namespace

TEST_CASE("SmolLM2 metadata: llama architecture, 30 blocks of width 576, vocabulary 49152") {
  if (!model_path()) return;
  const auto& f = model();
  const auto& m = f.metadata();
  CHECK(f.version() == 3);
  CHECK(m.get<std::string>("general.architecture") == "llama");
  CHECK(m.get<std::uint32_t>("llama.block_count") == 30);
  CHECK(m.get<std::uint32_t>("llama.embedding_length") == 576);
  CHECK(m.get<std::uint32_t>("llama.feed_forward_length") == 1536);
  CHECK(m.get<std::uint32_t>("llama.attention.head_count") == 9);
  CHECK(m.get<std::uint32_t>("llama.attention.head_count_kv") == 3);
  CHECK(m.get<std::uint32_t>("llama.vocab_size") == 49152);
  CHECK(m.get<float>("llama.rope.freq_base") == 100000.0f);
  CHECK(m.get<float>("llama.attention.layer_norm_rms_epsilon") == doctest::Approx(1e-5));
  CHECK(m.get<std::string>("tokenizer.ggml.model") == "gpt2");
  const auto& tokens = m.get<gguf_array>("tokenizer.ggml.tokens").get<std::string>();
  REQUIRE(tokens.size() == 49152);
  CHECK(tokens[0] == "<|endoftext|>");
  CHECK(tokens[1] == "<|im_start|>");
  CHECK(tokens[2] == "<|im_end|>");
  CHECK(m.get<gguf_array>("tokenizer.ggml.token_type").get<std::int32_t>().size() == 49152);
  CHECK(m.get<gguf_array>("tokenizer.ggml.merges").element_type() == gguf_value_type::string);
  CHECK(m.get<std::uint32_t>("tokenizer.ggml.bos_token_id") == 1);
  CHECK(m.get<std::uint32_t>("tokenizer.ggml.eos_token_id") == 2);
  CHECK(m.get<bool>("tokenizer.ggml.add_bos_token") == false);
  CHECK(m.begin()->first == "general.architecture");  // file order is kept
}

TEST_CASE("SmolLM2 tensors: 9 per block plus embedding and final norm, with the llama shapes") {
  if (!model_path()) return;
  const auto& f = model();
  CHECK(f.tensors().size() == 30 * 9 + 2);  // the output head is tied to token_embd
  using dims = std::vector<std::uint64_t>;
  CHECK(f.tensor("token_embd.weight").dims == dims{576, 49152});
  CHECK(f.tensor("output_norm.weight").dims == dims{576});
  for (int b = 0; b < 30; ++b) {
    const std::string p = "blk." + std::to_string(b) + ".";
    CAPTURE(p);
    CHECK(f.tensor(p + "attn_q.weight").dims == dims{576, 576});
    CHECK(f.tensor(p + "attn_k.weight").dims == dims{576, 192});  // 3 KV heads of 64
    CHECK(f.tensor(p + "attn_v.weight").dims == dims{576, 192});
    CHECK(f.tensor(p + "attn_output.weight").dims == dims{576, 576});
    CHECK(f.tensor(p + "ffn_gate.weight").dims == dims{576, 1536});
    CHECK(f.tensor(p + "ffn_up.weight").dims == dims{576, 1536});
    CHECK(f.tensor(p + "ffn_down.weight").dims == dims{1536, 576});
    CHECK(f.tensor(p + "attn_norm.weight").type == ggml_type::f32);
    CHECK(f.tensor(p + "ffn_norm.weight").type == ggml_type::f32);
  }
}

TEST_CASE("SmolLM2 stores Q4_1 matrices (general.file_type 3), F32 norms and a Q8_0 embedding") {
  if (!model_path()) return;
  const auto& f = model();
  CHECK(f.metadata().get<std::uint32_t>("general.file_type") == 3);  // LLAMA_FTYPE_MOSTLY_Q4_1
  std::map<ggml_type, int> count;
  for (const auto& t : f.tensors()) {
    ++count[t.type];
    if (t.dims.size() == 1) CHECK(t.type == ggml_type::f32);
  }
  CHECK(count[ggml_type::q4_1] == 30 * 7);
  CHECK(count[ggml_type::f32] == 30 * 2 + 1);
  CHECK(count[ggml_type::q8_0] == 1);
  CHECK(f.tensor("token_embd.weight").type == ggml_type::q8_0);
}

TEST_CASE("every SmolLM2 tensor dequantizes to finite values, and norms are not all zero") {
  if (!model_path()) return;
  const auto& f = model();
  std::vector<float> buffer;
  for (const auto& t : f.tensors()) {
    CAPTURE(t.name);
    buffer.resize(static_cast<std::size_t>(t.elements()));
    f.read_into(t, buffer);
    bool finite = true;
    double sum_sq = 0;
    for (const float v : buffer) {
      finite = finite && std::isfinite(v);
      sum_sq += static_cast<double>(v) * v;
    }
    CHECK(finite);
    CHECK(sum_sq > 0);
  }
}

TEST_CASE("SmolLM2 Q4_1 and Q8_0 values equal a by-hand decoding of their blocks") {
  if (!model_path()) return;
  const auto& f = model();
  for (const char* name : {"blk.0.attn_q.weight", "blk.17.ffn_down.weight", "blk.29.attn_v.weight",
                           "token_embd.weight"}) {
    CAPTURE(name);
    const auto& info = f.tensor(name);
    const auto bytes = f.tensor_data(info);
    const auto m = f.read_matrix(name);
    REQUIRE(static_cast<std::uint64_t>(m.cols()) == info.dims[0]);
    REQUIRE(static_cast<std::uint64_t>(m.rows()) == info.dims[1]);
    const bool q4 = info.type == ggml_type::q4_1;
    const std::size_t block_bytes = q4 ? 20 : 34;
    auto u8 = [&](std::size_t i) { return std::to_integer<unsigned>(bytes[i]); };
    // A few rows spread over the matrix, every column of them.
    for (const pollard::index_t r : {pollard::index_t{0}, m.rows() / 3, m.rows() - 1}) {
      for (pollard::index_t c = 0; c < m.cols(); ++c) {
        const std::size_t flat = static_cast<std::size_t>(r * m.cols() + c);
        const std::size_t base = flat / 32 * block_bytes, j = flat % 32;
        const double d = naive_half(u8(base) | u8(base + 1) << 8);
        double expected;
        if (q4) {
          const double mn = naive_half(u8(base + 2) | u8(base + 3) << 8);
          const unsigned byte = u8(base + 4 + j % 16);
          expected = (j < 16 ? byte & 15u : byte >> 4) * d + mn;
        } else {
          const int q = static_cast<int>(u8(base + 2 + j));
          expected = (q >= 128 ? q - 256 : q) * d;
        }
        REQUIRE(m(r, c) == static_cast<float>(expected));
      }
    }
  }
}
