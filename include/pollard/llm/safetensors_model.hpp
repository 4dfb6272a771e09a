// pollard — Llama models in the Hugging Face layout: model.safetensors with HF tensor names and
// config.json beside it. HF checkpoints pair rotary dimensions (i, i + head_size/2); models read
// in the interleaved convention (llama2.c, GGUF) are converted on writing.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/io/json.hpp"
#include "pollard/io/safetensors.hpp"
#include "pollard/llm/llama_config.hpp"
#include "pollard/llm/llama_weights.hpp"

namespace pollard::llm {

namespace detail {

inline std::string hf_layer(index_t layer, const char* name) {
  return "model.layers." + std::to_string(layer) + "." + name + ".weight";
}

constexpr const char* hf_linear_name(llama_linear l) noexcept {
  constexpr const char* names[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                   "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                   "mlp.down_proj"};
  return names[static_cast<int>(l)];
}

/// Rows of Q or K reordered from interleaved rotary pairs (2i, 2i+1) to half-split pairs
/// (i, i + hs/2) within each head: the inverse of the permutation llama.cpp's converter applies.
inline row_matrix interleaved_to_half_split(const row_matrix& w, index_t head_size) {
  row_matrix out(w.rows(), w.cols());
  const index_t half = head_size / 2;
  for (index_t h = 0; h < w.rows() / head_size; ++h)
    for (index_t i = 0; i < half; ++i) {
      out.row(h * head_size + i) = w.row(h * head_size + 2 * i);
      out.row(h * head_size + half + i) = w.row(h * head_size + 2 * i + 1);
    }
  return out;
}

}  // namespace detail

/// The config of a Hugging Face Llama config.json (model_type "llama").
inline llama_config read_hf_llama_config(const std::filesystem::path& config_json) {
  std::ifstream in(config_json, std::ios::binary);
  if (!in) throw io_error("cannot open " + config_json.string());
  std::stringstream text;
  text << in.rdbuf();
  const std::string what = config_json.filename().string();
  const auto root = io::parse_json(text.str(), what);
  const auto integer = [&](const char* key) -> index_t {
    const auto* v = root.find(key);
    if (v == nullptr) throw format_error(what + ": no \"" + key + "\"");
    return static_cast<index_t>(v->as_size(what + " " + key));
  };
  const auto number = [&](const char* key, double fallback) {
    const auto* v = root.find(key);
    return v == nullptr || v->is_null() ? fallback : v->as_number(what + " " + key);
  };
  if (const auto* type = root.find("model_type"); type && type->as_string("model_type") != "llama")
    throw format_error(what + ": model_type '" + type->as_string("model_type") +
                       "' is not supported (llama only)");
  llama_config c;
  c.dim = integer("hidden_size");
  c.hidden_dim = integer("intermediate_size");
  c.n_layers = integer("num_hidden_layers");
  c.n_heads = integer("num_attention_heads");
  c.n_kv_heads = root.find("num_key_value_heads") ? integer("num_key_value_heads") : c.n_heads;
  c.vocab_size = integer("vocab_size");
  c.seq_len = integer("max_position_embeddings");
  c.rms_norm_eps = static_cast<float>(number("rms_norm_eps", 1e-6));
  c.rope_theta = static_cast<float>(number("rope_theta", 10000.0));
  c.rope = rope_style::half_split;
  const auto* tied = root.find("tie_word_embeddings");
  c.tied_classifier = tied != nullptr && tied->as_bool("tie_word_embeddings");
  try {
    c.validate();
  } catch (const option_error& e) {
    throw format_error(what + ": " + e.what());
  }
  return c;
}

/// Weights of a Hugging Face Llama safetensors file (F32, F16, BF16 or F64 tensors) for `config`.
inline llama_weights load_hf_llama_weights(const io::safetensors_file& file,
                                           const llama_config& config, const std::string& what) {
  llama_weights w = llama_weights::zeros(config);
  const auto load = [&](const std::string& name, auto& target) {
    const auto& t = file.at(name);
    const std::uint64_t rows = static_cast<std::uint64_t>(target.rows());
    const std::uint64_t cols = static_cast<std::uint64_t>(target.cols());
    const bool vector = target.cols() == 1;
    if ((vector && (t.shape.size() != 1 || t.shape[0] != rows)) ||
        (!vector && (t.shape.size() != 2 || t.shape[0] != rows || t.shape[1] != cols)))
      throw format_error(what + ": tensor '" + name +
                         "' does not have the shape config.json implies");
    const auto values = io::safetensors_file::to_float(t, what);
    std::copy(values.begin(), values.end(), target.data());
  };
  load("model.embed_tokens.weight", w.token_embedding);
  for (index_t l = 0; l < config.n_layers; ++l) {
    auto& layer = w.layers[static_cast<std::size_t>(l)];
    load(detail::hf_layer(l, "input_layernorm"), layer.attn_norm);
    load(detail::hf_layer(l, "post_attention_layernorm"), layer.ffn_norm);
    for (const auto linear : all_llama_linears)
      load(detail::hf_layer(l, detail::hf_linear_name(linear)), layer.linear(linear));
  }
  load("model.norm.weight", w.final_norm);
  if (!config.tied_classifier) load("lm_head.weight", w.classifier);
  return w;
}

/// Reads `model.safetensors` (or the given .safetensors file) with config.json beside it.
inline llama_weights read_hf_llama(const std::filesystem::path& path) {
  const auto file_path = std::filesystem::is_directory(path) ? path / "model.safetensors" : path;
  const auto config = read_hf_llama_config(file_path.parent_path() / "config.json");
  const io::safetensors_file file(file_path);
  return load_hf_llama_weights(file, config, file_path.filename().string());
}

/// Writes `weights` in the Hugging Face layout into `folder`: model.safetensors (tensors stored as
/// `dtype`) and config.json. Interleaved-rope models get their Q and K rows reordered, so the
/// written checkpoint computes the same function under HF's rotate_half convention.
inline void write_hf_llama(const std::filesystem::path& folder, const llama_weights& weights,
                           pollard::dtype dtype = pollard::dtype::f32) {
  weights.validate();
  const auto& c = weights.config;
  std::filesystem::create_directories(folder);
  std::vector<row_matrix> permuted;  // kept alive until written
  permuted.reserve(static_cast<std::size_t>(2 * c.n_layers));
  std::vector<io::safetensors_output> tensors;
  const auto matrix = [&](std::string name, const row_matrix& m) {
    tensors.push_back({std::move(name),
                       dtype,
                       {static_cast<std::uint64_t>(m.rows()), static_cast<std::uint64_t>(m.cols())},
                       std::span<const float>(m.data(), static_cast<std::size_t>(m.size()))});
  };
  const auto vector = [&](std::string name, const Eigen::VectorXf& v) {
    tensors.push_back({std::move(name),
                       dtype,
                       {static_cast<std::uint64_t>(v.size())},
                       std::span<const float>(v.data(), static_cast<std::size_t>(v.size()))});
  };
  matrix("model.embed_tokens.weight", weights.token_embedding);
  for (index_t l = 0; l < c.n_layers; ++l) {
    const auto& layer = weights.layers[static_cast<std::size_t>(l)];
    vector(detail::hf_layer(l, "input_layernorm"), layer.attn_norm);
    vector(detail::hf_layer(l, "post_attention_layernorm"), layer.ffn_norm);
    for (const auto linear : all_llama_linears) {
      const row_matrix* m = &layer.linear(linear);
      if (c.rope == rope_style::interleaved &&
          (linear == llama_linear::q || linear == llama_linear::k)) {
        permuted.push_back(detail::interleaved_to_half_split(*m, c.head_size()));
        m = &permuted.back();
      }
      matrix(detail::hf_layer(l, detail::hf_linear_name(linear)), *m);
    }
  }
  vector("model.norm.weight", weights.final_norm);
  if (!c.tied_classifier) matrix("lm_head.weight", weights.classifier);
  io::write_safetensors(folder / "model.safetensors", tensors, {{"format", "pt"}});

  std::ostringstream config;
  config.precision(9);
  config << "{\n  \"architectures\": [\"LlamaForCausalLM\"],\n  \"model_type\": \"llama\",\n"
         << "  \"hidden_size\": " << c.dim << ",\n  \"intermediate_size\": " << c.hidden_dim
         << ",\n  \"num_hidden_layers\": " << c.n_layers
         << ",\n  \"num_attention_heads\": " << c.n_heads
         << ",\n  \"num_key_value_heads\": " << c.n_kv_heads
         << ",\n  \"vocab_size\": " << c.vocab_size
         << ",\n  \"max_position_embeddings\": " << c.seq_len
         << ",\n  \"rms_norm_eps\": " << c.rms_norm_eps << ",\n  \"rope_theta\": " << c.rope_theta
         << ",\n  \"tie_word_embeddings\": " << (c.tied_classifier ? "true" : "false")
         << ",\n  \"hidden_act\": \"silu\",\n"
         << "  \"torch_dtype\": \""
         << (dtype == pollard::dtype::f32   ? "float32"
             : dtype == pollard::dtype::f16 ? "float16"
                                                : "bfloat16")
         << "\"\n}\n";
  io::atomic_file out(folder / "config.json");
  const std::string text = config.str();
  out.write(text.data(), text.size());
  out.commit();
}

}  // namespace pollard::llm
