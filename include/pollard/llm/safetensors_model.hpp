// pollard — Llama models in the Hugging Face layout: model.safetensors with HF tensor names and
// config.json beside it. HF checkpoints pair rotary dimensions (i, i + head_size/2); models read
// in the interleaved convention (llama2.c, GGUF) are converted on writing.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <map>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "pollard/core/checks.hpp"
#include "pollard/core/error.hpp"
#include "pollard/io/atomic_file.hpp"
#include "pollard/io/json.hpp"
#include "pollard/io/safetensors.hpp"
#include "pollard/llm/hf_llama_config.hpp"
#include "pollard/llm/llama_config.hpp"
#include "pollard/llm/llama_weights.hpp"
#include "pollard/llm/rope_frequencies.hpp"

namespace pollard::llm {

namespace detail {

inline std::string hf_layer(index_t layer, const char* name, const char* kind = "weight") {
  return "model.layers." + std::to_string(layer) + "." + name + "." + kind;
}

constexpr const char* hf_linear_name(llama_linear l) noexcept {
  constexpr const char* names[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                   "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                   "mlp.down_proj"};
  return names[static_cast<int>(l)];
}

/// Rows of Q or K reordered from interleaved rotary pairs (2i, 2i+1) to half-split pairs
/// (i, i + hs/2) within each head: the inverse of the permutation llama.cpp's converter applies.
template <class Matrix>
row_matrix interleaved_to_half_split(const Matrix& w, index_t head_size) {
  row_matrix out(w.rows(), w.cols());
  const index_t half = head_size / 2;
  for (index_t h = 0; h < w.rows() / head_size; ++h)
    for (index_t i = 0; i < half; ++i) {
      out.row(h * head_size + i) = w.row(h * head_size + 2 * i);
      out.row(h * head_size + half + i) = w.row(h * head_size + 2 * i + 1);
    }
  return out;
}

/// Whether `name` is a rotary_emb.inv_freq buffer (transformers' rotary frequencies, saved in
/// checkpoints by versions before 4.31 and recomputed from config.json by later ones).
inline bool is_hf_inv_freq(std::string_view name) { return name.ends_with(".rotary_emb.inv_freq"); }

/// The layer index of a name "model.layers.N.REST" (N in decimal without leading zeros), or -1
/// when `name` is not one.
inline long long hf_layer_index(std::string_view name) {
  constexpr std::string_view prefix = "model.layers.";
  if (!name.starts_with(prefix)) return -1;
  name.remove_prefix(prefix.size());
  const std::size_t dot = name.find('.');
  const std::string_view digits = name.substr(0, dot);
  if (dot == std::string_view::npos || digits.empty() || digits.size() > 12 ||
      digits.find_first_not_of("0123456789") != std::string_view::npos ||
      (digits.size() > 1 && digits.front() == '0'))
    return -1;
  return std::stoll(std::string(digits));
}

/// Why the tensor `name`, which the model does not read, is not one of the rotary_emb.inv_freq
/// buffers transformers saved (empty when it is one): they are
/// model.layers.N.self_attn.rotary_emb.inv_freq for a layer N of the model and, shared,
/// model.rotary_emb.inv_freq.
inline std::string hf_inv_freq_misplaced(std::string_view name, index_t n_layers) {
  if (name == "model.rotary_emb.inv_freq") return {};
  const long long layer = hf_layer_index(name);
  if (layer < 0 ||
      name != hf_layer(static_cast<index_t>(layer), "self_attn.rotary_emb", "inv_freq"))
    return "is not where transformers keeps rotary frequencies "
           "(model.layers.N.self_attn.rotary_emb.inv_freq or model.rotary_emb.inv_freq)";
  if (layer >= n_layers)
    return "belongs to layer " + std::to_string(layer) +
           ", which config.json's num_hidden_layers " + std::to_string(n_layers) + " does not have";
  return {};
}

/// Why the inv_freq buffer `t` does not hold the rotary frequencies `c` implies (empty when it
/// does): rope_inverse_frequencies(c), each as close as `t`'s dtype holds it (a few float
/// roundings for F32/F64, half a unit in the last place for F16/BF16); with rope_scaling, the
/// unscaled frequencies also match (the versions that saved the buffer knew no scaling, and
/// the ones that do ignore it). Errors: format_error (naming `what` and the tensor) for a dtype
/// that is not a float.
inline std::string hf_inv_freq_mismatch(const io::safetensors_tensor& t, const llama_config& c,
                                        const std::string& what) {
  const auto half = static_cast<std::uint64_t>(c.head_size() / 2);
  if (t.shape.size() != 1 || t.shape[0] != half) {
    std::string shape = "[";
    for (std::size_t k = 0; k < t.shape.size(); ++k)
      shape += (k ? ", " : "") + std::to_string(t.shape[k]);
    return "has shape " + shape + "] where a head of " + std::to_string(c.head_size()) +
           " (hidden_size / num_attention_heads) has [" + std::to_string(half) + "] rotary pairs";
  }
  const std::vector<float> values = io::safetensors_file::to_float(t, what);
  const double relative = t.dtype == pollard::dtype::f16    ? 0x1p-10
                          : t.dtype == pollard::dtype::bf16 ? 0x1p-7
                                                            : 0x1p-20;
  const double absolute = t.dtype == pollard::dtype::f16 ? 0x1p-24 : 0.0;
  const auto differs_at = [&](const std::vector<float>& f) {
    for (std::size_t i = 0; i < f.size(); ++i)
      if (!(std::abs(static_cast<double>(values[i]) - f[i]) <= relative * f[i] + absolute))
        return i;
    return f.size();
  };
  const std::vector<float> implied = rope_inverse_frequencies(c);
  const std::size_t at = differs_at(implied);
  if (at == implied.size()) return {};
  if (c.scaling.type != rope_scaling_type::none) {
    llama_config unscaled = c;
    unscaled.scaling = {};
    if (differs_at(rope_inverse_frequencies(unscaled)) == implied.size()) return {};
  }
  char text[200];
  std::snprintf(text, sizeof text,
                "holds %.9g for rotary pair %zu where config.json implies %.9g (rope_theta %.9g",
                static_cast<double>(values[at]), at, static_cast<double>(implied[at]),
                static_cast<double>(c.rope_theta));
  return std::string(text) + ", head size " + std::to_string(c.head_size()) +
         (c.scaling.type != rope_scaling_type::none
              ? std::string(", rope_scaling ") + name_of(c.scaling.type)
              : std::string()) +
         ")";
}

}  // namespace detail

/// The config of a Hugging Face Llama config.json (model_type "llama"); see read_hf_config.
inline llama_config read_hf_llama_config(const std::filesystem::path& config_json) {
  return read_hf_config(config_json).config;
}

/// Weights of a Hugging Face Llama safetensors file (F32, F16, BF16 or F64 tensors) for
/// `hf` (its biases included). A tensor the model does not use is refused by name (one of a
/// layer config.json does not have saying so; a name the header gives twice is refused by the
/// header's reader); the only ones transformers itself ignores are let pass when they agree with
/// the weights: a rotary_emb.inv_freq buffer of a layer the model has (or the shared
/// model.rotary_emb.inv_freq) holding the frequencies config.json implies (the model computes
/// its rotary embeddings from config.json; one that differs is refused by name, see
/// detail::hf_inv_freq_mismatch) and, with tied embeddings, an lm_head.weight equal to
/// embed_tokens.weight. write_hf_llama and rewrite_hf_llama_linears carry both over.
inline llama_weights load_hf_llama_weights(const io::safetensors_file& file,
                                           const hf_llama_config& hf, const std::string& what) {
  const llama_config& config = hf.config;
  config.validate();
  // Each tensor is allocated once its shape in the file matched config.json's, so a count in
  // config.json cannot ask for more memory than the file's tensors hold; the layers themselves
  // need 9 tensors each.
  if (const std::size_t tensors = file.tensors().size();
      static_cast<std::uint64_t>(config.n_layers) > tensors / 9)
    throw format_error(what + ": config.json's num_hidden_layers " +
                       std::to_string(config.n_layers) + " needs 9 tensors per layer, and the " +
                       "file holds " + std::to_string(tensors) + " tensors");
  const index_t d = config.dim;
  llama_weights w;
  w.config = config;
  w.layers.resize(static_cast<std::size_t>(config.n_layers));
  std::set<std::string, std::less<>> used;
  // Reads tensor `name` into `target` (a row_matrix rows x cols, or a vector of rows when cols is
  // 0) after checking its shape.
  const auto load = [&](const std::string& name, auto& target, index_t target_rows,
                        index_t target_cols) {
    const auto& t = file.at(name);
    used.insert(name);
    const std::uint64_t rows = static_cast<std::uint64_t>(target_rows);
    const std::uint64_t cols = static_cast<std::uint64_t>(target_cols);
    const bool vector = target_cols == 0;
    if ((vector && (t.shape.size() != 1 || t.shape[0] != rows)) ||
        (!vector && (t.shape.size() != 2 || t.shape[0] != rows || t.shape[1] != cols))) {
      const auto list = [](const auto& dims) {
        std::string text = "[";
        for (std::size_t k = 0; k < dims.size(); ++k)
          text += (k ? ", " : "") + std::to_string(dims[k]);
        return text + "]";
      };
      const std::vector<std::uint64_t> implied =
          vector ? std::vector<std::uint64_t>{rows} : std::vector<std::uint64_t>{rows, cols};
      // The embedding and the classifier have one row per token: vocab_size is the key to name.
      const bool per_token = name == "model.embed_tokens.weight" || name == "lm_head.weight";
      throw format_error(what + ": tensor '" + name + "' has shape " + list(t.shape) +
                         " but config.json implies " + list(implied) +
                         (per_token ? " (vocab_size " + std::to_string(config.vocab_size) +
                                          ", hidden_size " + std::to_string(config.dim) + ")"
                                    : std::string()));
    }
    const auto values = io::safetensors_file::to_float(t, what);
    if constexpr (std::is_same_v<std::decay_t<decltype(target)>, Eigen::VectorXf>)
      target.resize(target_rows);
    else
      target.resize(target_rows, target_cols);
    std::copy(values.begin(), values.end(), target.data());
  };
  load("model.embed_tokens.weight", w.token_embedding, config.vocab_size, d);
  for (index_t l = 0; l < config.n_layers; ++l) {
    auto& layer = w.layers[static_cast<std::size_t>(l)];
    load(detail::hf_layer(l, "input_layernorm"), layer.attn_norm, d, 0);
    load(detail::hf_layer(l, "post_attention_layernorm"), layer.ffn_norm, d, 0);
    for (const auto linear : all_llama_linears) {
      const auto [rows, cols] = llama_linear_shape(config, linear);
      load(detail::hf_layer(l, detail::hf_linear_name(linear)), layer.linear(linear), rows, cols);
      const bool attention = input_of(linear) == llama_linear_input::attn_in ||
                             input_of(linear) == llama_linear_input::attn_out;
      if (attention ? hf.attention_bias : hf.mlp_bias)
        load(detail::hf_layer(l, detail::hf_linear_name(linear), "bias"), layer.bias(linear), rows,
             0);
    }
  }
  load("model.norm.weight", w.final_norm, d, 0);
  if (!config.tied_classifier) load("lm_head.weight", w.classifier, config.vocab_size, d);
  for (const auto& t : file.tensors()) {
    if (used.contains(t.name)) continue;
    if (detail::is_hf_inv_freq(t.name)) {
      if (const std::string misplaced = detail::hf_inv_freq_misplaced(t.name, config.n_layers);
          !misplaced.empty())
        throw format_error(what + ": tensor '" + t.name + "' " + misplaced +
                           ": the model does not use it");
      const std::string mismatch = detail::hf_inv_freq_mismatch(t, config, what);
      if (mismatch.empty()) continue;
      throw format_error(what + ": tensor '" + t.name + "' " + mismatch +
                         "; the model computes its rotary embeddings from config.json, so these "
                         "frequencies would not be honoured");
    }
    if (t.name == "lm_head.weight" && config.tied_classifier) {
      row_matrix head;
      load("lm_head.weight", head, config.vocab_size, d);
      if (head == w.token_embedding) continue;
      throw format_error(what +
                         ": lm_head.weight differs from model.embed_tokens.weight but "
                         "config.json ties them (tie_word_embeddings)");
    }
    if (const long long layer = detail::hf_layer_index(t.name); layer >= config.n_layers)
      throw format_error(what + ": tensor '" + t.name + "' belongs to layer " +
                         std::to_string(layer) + ", which config.json's num_hidden_layers " +
                         std::to_string(config.n_layers) + " does not have");
    const bool bias = t.name.ends_with(".bias");
    throw format_error(
        what + ": tensor '" + t.name + "' is not used by the model config.json " +
        (bias ? "describes (a bias needs attention_bias or mlp_bias true)" : "describes"));
  }
  return w;
}
inline llama_weights load_hf_llama_weights(const io::safetensors_file& file,
                                           const llama_config& config, const std::string& what) {
  hf_llama_config hf;
  hf.config = config;
  return load_hf_llama_weights(file, hf, what);
}

/// The safetensors file of the Hugging Face model at `path`: the .safetensors file itself, or
/// a folder's model.safetensors. A folder without model.safetensors that holds a sharded
/// checkpoint (model.safetensors.index.json, model-00001-of-00002.safetensors, ...) is refused
/// as a format_error naming the folder, its index and its shards: pollard reads one
/// model.safetensors, not shards. Otherwise the path is returned, and opening it says what is
/// missing.
inline std::filesystem::path hf_weights_path(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) return path;
  const auto single = path / "model.safetensors";
  if (std::filesystem::exists(single, ec) || std::filesystem::is_symlink(single, ec)) return single;
  std::vector<std::string> index, shards;
  for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.ends_with(".safetensors.index.json"))
      index.push_back(name);
    else if (name.ends_with(".safetensors") && name.find("-of-") != std::string::npos)
      shards.push_back(name);
  }
  if (index.empty() && shards.empty()) return single;
  std::sort(index.begin(), index.end());
  std::sort(shards.begin(), shards.end());
  const auto list = [](const std::vector<std::string>& names) {
    std::string text;
    for (std::size_t k = 0; k < names.size(); ++k)
      text += (k == 0 ? "" : k + 1 == names.size() ? " and " : ", ") + names[k];
    return text;
  };
  std::string held;
  if (!shards.empty())
    held = std::to_string(shards.size()) + (shards.size() == 1 ? " shard " : " shards ") +
           list(shards);
  if (!index.empty()) held += (held.empty() ? "the index " : " with the index ") + list(index);
  throw format_error(path.string() + " holds a sharded checkpoint (" + held +
                     ") and no model.safetensors: sharded checkpoints are not supported; merge "
                     "the shards into one model.safetensors (transformers: "
                     "save_pretrained(folder, max_shard_size=\"1000GB\"))");
}

/// Reads `model.safetensors` (or the given .safetensors file) with config.json beside it.
inline llama_weights read_hf_llama(const std::filesystem::path& path) {
  const auto file_path = hf_weights_path(path);
  const auto config = read_hf_config(file_path.parent_path() / "config.json");
  const io::safetensors_file file(file_path);
  return load_hf_llama_weights(file, config, file_path.string());
}

/// Writes `weights` in the Hugging Face layout into `folder`: model.safetensors (tensors stored as
/// `dtype`, biases included) and config.json. Interleaved-rope models get their Q and K rows (and
/// biases) reordered, so the written checkpoint computes the same function under HF's
/// rotate_half convention. config.json starts from `original` (the config.json the weights were
/// read with, when there is one: every key it held is kept) and sets every key the weights
/// determine (shape, RoPE, biases, tying, torch_dtype). model.safetensors' __metadata__ is
/// `metadata` (the original file's, when there is one: every entry kept) with "format": "pt"
/// added when absent, as transformers expects it. `read_from`, the safetensors file the weights
/// were read from when there is one, gives the tensors the model does not compute with but the
/// file held, which the copy keeps: its rotary_emb.inv_freq buffers, dtype, shape and bytes as
/// they are, and (with tied embeddings) its lm_head.weight, written as the embedding is.
/// Refused, before anything is written (option_error): weights whose settings config.json cannot
/// express (GGUF's rope_freqs.weight; biases on only some of the attention or MLP projections);
/// an inv_freq buffer of `read_from` that does not hold the frequencies the weights' config
/// implies (detail::hf_inv_freq_mismatch), named.
inline void write_hf_llama(const std::filesystem::path& folder, const llama_weights& weights,
                           pollard::dtype dtype = pollard::dtype::f32,
                           const io::json_value* original = nullptr,
                           const std::map<std::string, std::string>* metadata = nullptr,
                           const io::safetensors_file* read_from = nullptr) {
  weights.validate();
  const auto& c = weights.config;
  if (weights.rope_freq_factors.size() > 0)
    throw option_error(
        "write_hf_llama: rope_freqs.weight (per-frequency RoPE factors) has no "
        "Hugging Face config.json equivalent");
  std::vector<const io::safetensors_tensor*> inv_freqs;
  bool head_read = false;
  if (read_from != nullptr)
    for (const auto& t : read_from->tensors()) {
      head_read = head_read || t.name == "lm_head.weight";
      if (!detail::is_hf_inv_freq(t.name)) continue;
      const std::string mismatch = detail::hf_inv_freq_mismatch(t, c, "write_hf_llama");
      if (!mismatch.empty())
        throw option_error("write_hf_llama: the tensor '" + t.name + "' read with the weights " +
                           mismatch + ": the copy would hold frequencies its config.json " +
                           "does not give");
      inv_freqs.push_back(&t);
    }
  const auto all_or_none = [&](std::initializer_list<llama_linear> group, const char* key) {
    bool any = false, all = true;
    for (const auto l : group)
      for (const auto& layer : weights.layers) {
        any = any || layer.bias(l).size() > 0;
        all = all && layer.bias(l).size() > 0;
      }
    if (any && !all)
      throw option_error(std::string("write_hf_llama: only some projections carry a bias; ") + key +
                         " in config.json is all or none");
    return any;
  };
  const bool attention_bias = all_or_none(
      {llama_linear::q, llama_linear::k, llama_linear::v, llama_linear::o}, "attention_bias");
  const bool mlp_bias =
      all_or_none({llama_linear::gate, llama_linear::up, llama_linear::down}, "mlp_bias");
  if (original != nullptr) original->as_object("write_hf_llama: the original config.json");

  std::filesystem::create_directories(folder);
  std::vector<row_matrix> permuted;  // kept alive until written
  permuted.reserve(static_cast<std::size_t>(4 * c.n_layers));
  std::vector<io::safetensors_output> tensors;
  const auto matrix = [&](std::string name, const row_matrix& m) {
    tensors.push_back({std::move(name),
                       dtype,
                       {static_cast<std::uint64_t>(m.rows()), static_cast<std::uint64_t>(m.cols())},
                       std::span<const float>(m.data(), static_cast<std::size_t>(m.size()))});
  };
  const auto vector = [&](std::string name, const float* data, index_t size) {
    tensors.push_back({std::move(name),
                       dtype,
                       {static_cast<std::uint64_t>(size)},
                       std::span<const float>(data, static_cast<std::size_t>(size))});
  };
  matrix("model.embed_tokens.weight", weights.token_embedding);
  for (index_t l = 0; l < c.n_layers; ++l) {
    const auto& layer = weights.layers[static_cast<std::size_t>(l)];
    vector(detail::hf_layer(l, "input_layernorm"), layer.attn_norm.data(), layer.attn_norm.size());
    vector(detail::hf_layer(l, "post_attention_layernorm"), layer.ffn_norm.data(),
           layer.ffn_norm.size());
    for (const auto linear : all_llama_linears) {
      const row_matrix* m = &layer.linear(linear);
      const bool reorder = c.rope == rope_style::interleaved &&
                           (linear == llama_linear::q || linear == llama_linear::k);
      if (reorder) {
        permuted.push_back(detail::interleaved_to_half_split(*m, c.head_size()));
        m = &permuted.back();
      }
      matrix(detail::hf_layer(l, detail::hf_linear_name(linear)), *m);
      const auto& b = layer.bias(linear);
      if (b.size() == 0) continue;
      const float* bias = b.data();
      if (reorder) {
        permuted.push_back(detail::interleaved_to_half_split(
            Eigen::Map<const row_matrix>(b.data(), b.size(), 1), c.head_size()));
        bias = permuted.back().data();
      }
      vector(detail::hf_layer(l, detail::hf_linear_name(linear), "bias"), bias, b.size());
    }
  }
  vector("model.norm.weight", weights.final_norm.data(), weights.final_norm.size());
  if (!c.tied_classifier)
    matrix("lm_head.weight", weights.classifier);
  else if (head_read)
    matrix("lm_head.weight", weights.token_embedding);
  for (const auto* t : inv_freqs)
    tensors.push_back({t->name, t->dtype, t->shape, {}, overflow::error, t->data});

  io::json_value::object config;
  if (original != nullptr) config = original->as_object("config.json");
  const auto set = [&](const char* key, io::json_value v) { config.insert_or_assign(key, v); };
  const auto number = [](auto v) { return io::json_value(static_cast<double>(v)); };
  if (!config.contains("architectures"))
    set("architectures",
        io::json_value(io::json_value::array{io::json_value(std::string("LlamaForCausalLM"))}));
  set("model_type", io::json_value(std::string("llama")));
  set("hidden_size", number(c.dim));
  set("intermediate_size", number(c.hidden_dim));
  set("num_hidden_layers", number(c.n_layers));
  set("num_attention_heads", number(c.n_heads));
  set("num_key_value_heads", number(c.n_kv_heads));
  set("vocab_size", number(c.vocab_size));
  set("max_position_embeddings", number(c.seq_len));
  // The shortest decimal that reads back as the float held (1e-05, not 9.99999975e-06).
  const auto single = [](float f) {
    char buf[32];
    for (int digits = 1; digits <= 9; ++digits) {
      std::snprintf(buf, sizeof buf, "%.*g", digits, static_cast<double>(f));
      if (static_cast<float>(std::strtod(buf, nullptr)) == f) break;
    }
    return io::json_value(std::strtod(buf, nullptr));
  };
  set("rms_norm_eps", single(c.rms_norm_eps));
  set("rope_theta", single(c.rope_theta));
  const auto* scaling = config.contains("rope_scaling") ? &config.at("rope_scaling") : nullptr;
  if (scaling == nullptr || !(detail::hf_rope_scaling(*scaling, "config.json") == c.scaling))
    set("rope_scaling", detail::hf_rope_scaling_json(c.scaling));
  set("attention_bias", io::json_value(attention_bias));
  set("mlp_bias", io::json_value(mlp_bias));
  set("tie_word_embeddings", io::json_value(c.tied_classifier));
  set("hidden_act", io::json_value(std::string("silu")));
  set("torch_dtype", io::json_value(std::string(dtype == pollard::dtype::f32   ? "float32"
                                                : dtype == pollard::dtype::f16 ? "float16"
                                                                               : "bfloat16")));
  config.erase("dtype");
  const std::string text = json_text(io::json_value(std::move(config)));
  std::map<std::string, std::string> file_metadata;
  if (metadata != nullptr) file_metadata = *metadata;
  file_metadata.try_emplace("format", "pt");
  io::write_safetensors(folder / "model.safetensors", tensors, file_metadata);
  io::atomic_file out(folder / "config.json");
  out.write(text.data(), text.size());
  out.commit();
}

/// The Hugging Face name of a linear's weight ("model.layers.3.mlp.down_proj.weight").
inline std::string hf_linear_weight_name(index_t layer, llama_linear l) {
  return detail::hf_layer(layer, detail::hf_linear_name(l));
}

/// Writes `path` as a copy of the safetensors file `original` in which the linears that
/// `selected(layer, linear)` names, and the tensors `tables` names (Hugging Face name -> values
/// of the tensor's shape: the embedding table, the classifier), hold `weights`' values stored as
/// `linear_dtype(their stored dtype)` (F32, F16 or BF16): every other tensor keeps its dtype,
/// shape and bytes, the tensors keep the original's order, and its __metadata__ is kept. Refused
/// before anything is written (option_error): a tensor the file does not hold, one of `tables`
/// whose shape is not its values', a dtype not F32, F16 or BF16; a value F16/BF16 cannot hold
/// throws while writing (the temporary is removed). Interleaved-rope weights are refused: their
/// Q and K rows are not in the file's order.
inline void rewrite_hf_llama_linears(
    const std::filesystem::path& path, const io::safetensors_file& original,
    const llama_weights& weights, const std::function<bool(index_t, llama_linear)>& selected,
    const std::function<pollard::dtype(pollard::dtype)>& linear_dtype,
    const std::map<std::string, const row_matrix*>& tables = {}) {
  if (weights.config.rope == rope_style::interleaved)
    throw option_error(
        "rewrite_hf_llama_linears: the weights' Q and K rows are interleaved, not "
        "in a Hugging Face file's order");
  std::map<std::string, const row_matrix*> replaced = tables;
  for (const auto& [name, m] : tables) {
    const auto* t = original.find(name);
    if (t == nullptr) continue;  // named below
    if (t->shape.size() != 2 || t->shape[0] != static_cast<std::uint64_t>(m->rows()) ||
        t->shape[1] != static_cast<std::uint64_t>(m->cols()))
      throw option_error("rewrite_hf_llama_linears: " + name + " is not " +
                         shape_text(m->rows(), m->cols()) + " in the file");
  }
  for (index_t b = 0; b < weights.config.n_layers; ++b)
    for (const auto l : all_llama_linears)
      if (selected(b, l))
        replaced[hf_linear_weight_name(b, l)] =
            &weights.layers[static_cast<std::size_t>(b)].linear(l);
  std::vector<const io::safetensors_tensor*> order;
  for (const auto& t : original.tensors()) order.push_back(&t);
  std::sort(order.begin(), order.end(),
            [](const auto* a, const auto* b) { return a->data.data() < b->data.data(); });
  std::vector<io::safetensors_output> out;
  for (const auto* t : order) {
    const auto r = replaced.find(t->name);
    if (r == replaced.end()) {
      out.push_back({t->name, t->dtype, t->shape, {}, overflow::error, t->data});
      continue;
    }
    const pollard::dtype type = linear_dtype(t->dtype);
    if (type != pollard::dtype::f32 && type != pollard::dtype::f16 && type != pollard::dtype::bf16)
      throw option_error("rewrite_hf_llama_linears: " + t->name + " would be stored as " +
                         std::string(io::safetensors_dtype_name(type)) +
                         "; pruned linears are stored as F32, F16 or BF16");
    const row_matrix& m = *r->second;
    out.push_back({t->name, type, t->shape,
                   std::span<const float>(m.data(), static_cast<std::size_t>(m.size()))});
    replaced.erase(r);
  }
  if (!replaced.empty())
    throw option_error("rewrite_hf_llama_linears: " + std::string("the file holds no tensor ") +
                       replaced.begin()->first);
  io::write_safetensors(path, out, original.metadata());
}

}  // namespace pollard::llm
