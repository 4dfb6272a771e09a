// pollard — opening a model checkpoint of any supported format with its tokenizer, and writing
// (pruned) weights back in the same format.
#pragma once

#include <array>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "pollard/core/error.hpp"
#include "pollard/io/gguf.hpp"
#include "pollard/llm/gguf_model.hpp"
#include "pollard/llm/llama2c_model.hpp"
#include "pollard/llm/llama2c_tokenizer.hpp"
#include "pollard/llm/llama_weights.hpp"
#include "pollard/llm/safetensors_model.hpp"
#include "pollard/llm/text_tokenizer.hpp"

namespace pollard::llm {

/// gguf and llama2c are single files; safetensors is a Hugging Face folder (model.safetensors
/// + config.json) or its .safetensors file.
enum class model_format { gguf, llama2c, safetensors };

inline const char* name_of(model_format f) noexcept {
  return f == model_format::gguf ? "GGUF" : f == model_format::llama2c ? "llama2.c" : "safetensors";
}

/// A model in memory: its weights (float), its tokenizer, and what is needed to write it back.
struct model_file {
  std::filesystem::path path;
  model_format format = model_format::gguf;
  llama_weights weights;
  std::optional<text_tokenizer> tokenizer;
  /// The original GGUF (metadata and tensor list), kept to write a copy with every key.
  std::shared_ptr<io::gguf_file> gguf;
};

namespace detail {

inline model_format detect_format(const std::filesystem::path& path) {
  if (std::filesystem::is_directory(path) || path.extension() == ".safetensors")
    return model_format::safetensors;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error("cannot open " + path.string());
  // A .gguf file is read as GGUF, whose reader says so when the magic is missing.
  if (path.extension() == ".gguf") return model_format::gguf;
  std::array<char, 4> magic{};
  in.read(magic.data(), 4);
  if (in.gcount() == 4 && std::memcmp(magic.data(), "GGUF", 4) == 0) return model_format::gguf;
  return model_format::llama2c;
}

/// llama2.c keeps its tokenizer beside the checkpoint: tokenizer.bin or tok<vocab>.bin.
inline std::optional<std::filesystem::path> find_llama2c_tokenizer(
    const std::filesystem::path& model, index_t vocab_size) {
  const auto dir = model.parent_path();
  for (const auto& name :
       {"tok" + std::to_string(vocab_size) + ".bin", std::string("tokenizer.bin")}) {
    const auto candidate = dir / name;
    if (std::filesystem::exists(candidate)) return candidate;
  }
  return std::nullopt;
}

}  // namespace detail

/// Opens a GGUF (Llama architecture, tokenizer from its metadata), a llama2.c checkpoint
/// (tokenizer from `tokenizer_path`, else tokenizer.bin / tok<vocab>.bin beside the model) or a
/// Hugging Face Llama safetensors folder (weights only: its tokenizer.json is not read).
inline model_file open_model(
    const std::filesystem::path& path,
    const std::optional<std::filesystem::path>& tokenizer_path = std::nullopt) {
  model_file m;
  m.path = path;
  m.format = detail::detect_format(path);
  if (m.format == model_format::gguf) {
    m.gguf = std::make_shared<io::gguf_file>(path);
    m.weights = load_llama_weights(*m.gguf);
    m.tokenizer.emplace(load_gguf_tokenizer(*m.gguf));
    return m;
  }
  if (m.format == model_format::safetensors) {
    m.weights = read_hf_llama(path);
    return m;
  }
  m.weights = llm::read_llama2c(path);
  const auto tok = tokenizer_path
                       ? tokenizer_path
                       : detail::find_llama2c_tokenizer(path, m.weights.config.vocab_size);
  if (tok) m.tokenizer.emplace(llama2c_tokenizer::read(*tok, m.weights.config.vocab_size));
  return m;
}

/// Writes `weights` in the format `original` came from (GGUF: every metadata key kept, tensors
/// as `gguf_type`; llama2.c: the v0 layout; safetensors: a Hugging Face folder `out`). Files are
/// written through temporaries.
inline void save_model(const model_file& original, const llama_weights& weights,
                       const std::filesystem::path& out,
                       io::ggml_type gguf_type = io::ggml_type::f32) {
  if (original.format == model_format::gguf) {
    write_llama_gguf(out, *original.gguf, weights, gguf_type);
  } else if (original.format == model_format::safetensors) {
    write_hf_llama(out, weights);
  } else {
    llm::write_llama2c(weights, out);
  }
}

}  // namespace pollard::llm
