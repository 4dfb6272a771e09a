// pollard — opening a model checkpoint of any supported format with its tokenizer, and writing
// (pruned) weights back in the same format.
#pragma once

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/io/gguf.hpp"
#include "pollard/io/input_file.hpp"
#include "pollard/llm/gguf_model.hpp"
#include "pollard/llm/hf_tokenizer.hpp"
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
  /// A Hugging Face folder's config.json as read, kept to write a copy with every key.
  std::shared_ptr<const io::json_value> hf_config;
  /// A Hugging Face model's safetensors file, kept to write a copy with its dtypes and bytes.
  std::shared_ptr<const io::safetensors_file> safetensors;
  /// A llama2.c checkpoint's freq_cis tables as stored, written back unchanged.
  std::vector<float> llama2c_freq_cis;
};

namespace detail {

inline model_format detect_format(const std::filesystem::path& path) {
  if (std::filesystem::is_directory(path) || path.extension() == ".safetensors")
    return model_format::safetensors;
  io::require_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error("cannot open " + path.string() + ": " + std::strerror(errno));
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

/// Opens a model and its tokenizer:
///  - GGUF (Llama architecture): the tokenizer in its metadata. A GGUF carries its tokenizer, so
///    giving `tokenizer_path` is an option_error (it would not be used).
///  - llama2.c: `tokenizer_path` (a llama2.c tokenizer .bin), else tokenizer.bin or
///    tok<vocab>.bin beside the checkpoint, else none.
///  - Hugging Face folder (or its .safetensors file): `tokenizer_path` (a tokenizer.json), else
///    tokenizer.json beside config.json, else none; BOS/EOS ids from config.json.
inline model_file open_model(
    const std::filesystem::path& path,
    const std::optional<std::filesystem::path>& tokenizer_path = std::nullopt) {
  model_file m;
  m.path = path;
  m.format = detail::detect_format(path);
  if (tokenizer_path) io::require_regular_file(*tokenizer_path, "tokenizer ");
  if (m.format == model_format::gguf) {
    if (tokenizer_path)
      throw option_error("a tokenizer file (" + tokenizer_path->string() + ") does not apply to " +
                         path.string() + ": a GGUF model carries its own tokenizer");
    m.gguf = std::make_shared<io::gguf_file>(path);
    m.weights = load_llama_weights(*m.gguf);
    m.tokenizer.emplace(load_gguf_text_tokenizer(*m.gguf));
    return m;
  }
  if (m.format == model_format::safetensors) {
    const auto file_path = hf_weights_path(path);
    auto hf = read_hf_config(file_path.parent_path() / "config.json");
    m.safetensors = std::make_shared<const io::safetensors_file>(file_path);
    const io::safetensors_file& file = *m.safetensors;
    m.weights = load_hf_llama_weights(file, hf, file_path.string());
    const auto id = [&](const char* key) -> std::optional<std::int32_t> {
      const auto* v = hf.json.find(key);
      if (v != nullptr && v->is_array() && !v->as_array(key).empty()) v = &v->as_array(key)[0];
      if (v == nullptr || v->is_null()) return std::nullopt;
      return static_cast<std::int32_t>(v->as_size(std::string("config.json ") + key));
    };
    const auto beside = file_path.parent_path() / "tokenizer.json";
    if (tokenizer_path || std::filesystem::exists(beside))
      m.tokenizer.emplace(read_hf_tokenizer(tokenizer_path.value_or(beside), id("bos_token_id"),
                                            id("eos_token_id")));
    m.hf_config = std::make_shared<const io::json_value>(std::move(hf.json));
    return m;
  }
  m.weights = llm::read_llama2c(path);
  m.llama2c_freq_cis = read_llama2c_freq_cis(path);
  const auto tok = tokenizer_path
                       ? tokenizer_path
                       : detail::find_llama2c_tokenizer(path, m.weights.config.vocab_size);
  if (tok) m.tokenizer.emplace(llama2c_tokenizer::read(*tok, m.weights.config.vocab_size));
  return m;
}

/// Writes `weights` in the format `original` came from, float tensors stored as `type` (f32, f16
/// or bf16): GGUF, every metadata key kept, linear and embedding tensors as `type` (norms, biases
/// and frequency factors stay f32, see write_llama_gguf); safetensors, a Hugging Face folder
/// `out` with every tensor as `type` and config.json's torch_dtype saying so, with the original's
/// __metadata__ and the tensors it held that the model does not compute with (see
/// write_hf_llama); llama2.c, the v0 layout in f32 only, the freq_cis tables as `original` held
/// them. A value `type` cannot hold is a narrowing_error naming the tensor, position and value,
/// and nothing is written; another `type`, or f16/bf16 for llama2.c, is an option_error. Files
/// are written through temporaries.
inline void save_model(const model_file& original, const llama_weights& weights,
                       const std::filesystem::path& out,
                       pollard::dtype type = pollard::dtype::f32) {
  if (type != pollard::dtype::f32 && type != pollard::dtype::f16 && type != pollard::dtype::bf16)
    throw option_error("save_model: tensors can be written as f32, f16 or bf16, not " +
                       std::string(dtype_name(type)));
  if (original.format == model_format::gguf) {
    write_llama_gguf(out, *original.gguf, weights, *io::to_ggml_type(type));
  } else if (original.format == model_format::safetensors) {
    write_hf_llama(out, weights, type, original.hf_config.get(),
                   original.safetensors ? &original.safetensors->metadata() : nullptr,
                   original.safetensors.get());
  } else {
    if (type != pollard::dtype::f32)
      throw option_error("save_model: a llama2.c checkpoint holds f32 only, not " +
                         std::string(dtype_name(type)));
    llm::write_llama2c(weights, out, original.llama2c_freq_cis);
  }
}

}  // namespace pollard::llm
