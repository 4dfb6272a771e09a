#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "pollard/llm/llama_forward.hpp"
#include "pollard/llm/model_file.hpp"
#include "pollard/llm/safetensors_model.hpp"
#include "support/data.hpp"

using namespace pollard::llm;

TEST_CASE(
    "stories260K written in the Hugging Face layout computes the same logits under rotate_half") {
  const auto path = pollard::test::data_file("models/stories260K/stories260K.bin");
  if (!path) return;
  const auto m = open_model(*path);
  const auto folder = std::filesystem::temp_directory_path() / "pollard-hf-stories260k";
  std::filesystem::remove_all(folder);
  write_hf_llama(folder, m.weights);
  const llama_weights hf = read_hf_llama(folder);
  std::filesystem::remove_all(folder);
  CHECK(hf.config.rope == rope_style::half_split);
  CHECK(hf.config.dim == 64);
  CHECK(hf.config.n_kv_heads == 4);
  CHECK(hf.config.tied_classifier);
  CHECK(hf.layers[0].wv == m.weights.layers[0].wv);  // only Q and K rows move
  CHECK_FALSE(hf.layers[0].wq == m.weights.layers[0].wq);
  const std::vector<token_id> tokens =
      m.tokenizer->encode("Once upon a time, a cat sat on a mat.", true);
  const auto n = static_cast<pollard::index_t>(tokens.size());
  llama_forward original(m.weights), converted(hf);
  const row_matrix a = original.prefill(tokens, {1, n});
  const row_matrix b = converted.prefill(tokens, {1, n});
  CHECK((a - b).cwiseAbs().maxCoeff() <= 1e-5f * a.cwiseAbs().maxCoeff());
}

TEST_CASE("a Hugging Face config.json of another architecture or with bad shapes is rejected") {
  const auto folder = std::filesystem::temp_directory_path() / "pollard-hf-config";
  std::filesystem::create_directories(folder);
  std::ofstream(folder / "config.json") << R"({"model_type": "mistral", "hidden_size": 8})";
  const std::string file = (folder / "config.json").string();
  CHECK_THROWS_WITH_AS(read_hf_llama_config(folder / "config.json"),
                       (file + ": model_type 'mistral' is not supported (llama only)").c_str(),
                       pollard::format_error);
  std::ofstream(folder / "config.json")
      << R"({"hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1,
            "num_attention_heads": 3, "vocab_size": 10, "max_position_embeddings": 16})";
  // Named as config.json names them, with the file: not as the internal llama_config fields.
  CHECK_THROWS_WITH_AS(read_hf_llama_config(folder / "config.json"),
                       (file + ": num_attention_heads 3 does not divide hidden_size 8").c_str(),
                       pollard::format_error);
  const auto refused = [&](const std::string& json, const std::string& message) {
    std::ofstream(folder / "config.json") << json;
    CHECK_THROWS_WITH_AS(read_hf_llama_config(folder / "config.json"),
                         (file + ": " + message).c_str(), pollard::format_error);
  };
  const std::string base =
      R"("hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1, "vocab_size": 10,
         "max_position_embeddings": 16)";
  refused("{" + base + R"(, "num_attention_heads": 2, "num_key_value_heads": 3})",
          "num_key_value_heads 3 does not divide num_attention_heads 2");
  refused("{" + base + R"(, "num_attention_heads": 2, "num_key_value_heads": 0})",
          "num_key_value_heads must be positive, got 0");
  refused("{" + base + R"(, "num_attention_heads": 8})",
          "hidden_size / num_attention_heads = 1 is odd: rotary embeddings need pairs");
  refused("{" + base + R"(, "num_attention_heads": 2, "rms_norm_eps": 0})",
          "rms_norm_eps must be positive, got 0");
  refused(R"({"hidden_size": 0, "intermediate_size": 16, "num_hidden_layers": 1, "vocab_size": 10,
              "max_position_embeddings": 16, "num_attention_heads": 2})",
          "hidden_size must be positive, got 0");
  std::filesystem::remove_all(folder);
}

TEST_CASE("open_model and save_model treat a Hugging Face folder as a model format") {
  const auto path = pollard::test::data_file("models/stories260K/stories260K.bin");
  if (!path) return;
  const auto m = open_model(*path);
  const auto folder = std::filesystem::temp_directory_path() / "pollard-hf-roundtrip";
  std::filesystem::remove_all(folder);
  write_hf_llama(folder, m.weights);
  const auto hf = open_model(folder);
  CHECK(hf.format == model_format::safetensors);
  CHECK_FALSE(hf.tokenizer);
  const auto copy = std::filesystem::temp_directory_path() / "pollard-hf-roundtrip-copy";
  std::filesystem::remove_all(copy);
  save_model(hf, hf.weights, copy);  // already half-split: written unchanged
  const auto again = open_model(copy / "model.safetensors");
  CHECK(again.weights.layers[1].wq == hf.weights.layers[1].wq);
  CHECK(again.weights.token_embedding == hf.weights.token_embedding);
  std::filesystem::remove_all(folder);
  std::filesystem::remove_all(copy);
}
