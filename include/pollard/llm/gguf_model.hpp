// pollard — Llama-architecture models in GGUF: config, weights and tokenizer from a file, and a
// pruned model written back with every metadata key of the original.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <set>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/io/gguf.hpp"
#include "pollard/llm/byte_level_bpe_tokenizer.hpp"
#include "pollard/llm/llama_config.hpp"
#include "pollard/llm/llama_weights.hpp"
#include "pollard/llm/sentencepiece_bpe_tokenizer.hpp"
#include "pollard/llm/text_tokenizer.hpp"

namespace pollard::llm {

namespace detail {

/// A GGUF tensor as the engine's row-major Eigen matrix (ne[0] columns), dequantised in place.
inline row_matrix read_gguf_row_matrix(const io::gguf_file& file, const std::string& name) {
  const auto& info = file.tensor(name);
  const auto [rows, cols] = file.matrix_shape_of(info);
  row_matrix m(rows, cols);
  file.read_into(info, std::span<float>(m.data(), static_cast<std::size_t>(m.size())));
  return m;
}

/// A GGUF tensor's values as one Eigen vector.
inline Eigen::VectorXf read_gguf_vector(const io::gguf_file& file, const std::string& name) {
  const auto& info = file.tensor(name);
  Eigen::VectorXf v(static_cast<Eigen::Index>(info.elements()));
  file.read_into(info, std::span<float>(v.data(), static_cast<std::size_t>(v.size())));
  return v;
}

/// An integer metadata value of any GGUF integer type.
inline std::int64_t gguf_integer(const io::gguf_metadata& md, const std::string& key) {
  return std::visit(
      [&](const auto& v) -> std::int64_t {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          if constexpr (std::is_same_v<T, std::uint64_t>)
            if (v > static_cast<std::uint64_t>(INT64_MAX))
              throw format_error("GGUF metadata " + key + " is too large");
          return static_cast<std::int64_t>(v);
        } else {
          throw format_error("GGUF metadata " + key + " is " +
                             io::gguf_value_type_name(md.at(key).type()) + ", not an integer");
        }
      },
      md.at(key).data());
}

inline float gguf_float(const io::gguf_metadata& md, const std::string& key, float fallback) {
  const auto* v = md.find(key);
  if (v == nullptr) return fallback;
  if (v->holds<float>()) return v->get<float>();
  if (v->holds<double>()) return static_cast<float>(v->get<double>());
  throw format_error("GGUF metadata " + key + " is " + io::gguf_value_type_name(v->type()) +
                     ", not a float");
}

inline std::string layer_tensor(index_t layer, const char* name, const char* kind = "weight") {
  return "blk." + std::to_string(layer) + "." + name + "." + kind;
}

/// Throws format_error naming the first tensor of `file` that is not part of the llama
/// architecture of `c` (llama.cpp refuses unexpected tensors too).
inline void check_llama_tensor_names(const io::gguf_file& file, const llama_config& c) {
  std::set<std::string, std::less<>> known = {"token_embd.weight", "output_norm.weight",
                                              "rope_freqs.weight"};
  if (!c.tied_classifier) known.insert("output.weight");
  for (index_t l = 0; l < c.n_layers; ++l) {
    known.insert(layer_tensor(l, "attn_norm"));
    known.insert(layer_tensor(l, "ffn_norm"));
    for (const auto linear : all_llama_linears) {
      known.insert(layer_tensor(l, gguf_name_of(linear)));
      known.insert(layer_tensor(l, gguf_name_of(linear), "bias"));
    }
  }
  for (const auto& t : file.tensors())
    if (!known.contains(t.name))
      throw format_error(file.name() + ": tensor '" + t.name +
                         "' is not part of the llama architecture pollard computes (llama.cpp "
                         "refuses unexpected tensors too)");
}

}  // namespace detail

/// The config of a GGUF model whose general.architecture is "llama", read as llama.cpp reads
/// it: every "llama.*" key is either honoured (RoPE base, dimension count and linear scaling
/// included) or refused by name; no key that changes the computation is ignored.
inline llama_config llama_config_from_gguf(const io::gguf_file& file) {
  const auto& md = file.metadata();
  const auto& arch = md.get<std::string>("general.architecture");
  if (arch != "llama")
    throw format_error(file.name() + ": architecture '" + arch + "' is not supported (llama only)");
  const auto refuse = [&](const std::string& key, const std::string& why) {
    throw format_error(file.name() + ": " + key + " " + why);
  };
  // Keys of llama.cpp's LLAMA architecture that only describe the file or training.
  static const std::set<std::string, std::less<>> descriptive = {
      "llama.rope.scaling.finetuned", "llama.rope.scaling.original_context_length"};
  static const std::set<std::string, std::less<>> honoured = {
      "llama.context_length",
      "llama.embedding_length",
      "llama.feed_forward_length",
      "llama.block_count",
      "llama.attention.head_count",
      "llama.attention.head_count_kv",
      "llama.attention.layer_norm_rms_epsilon",
      "llama.attention.key_length",
      "llama.attention.value_length",
      "llama.rope.freq_base",
      "llama.rope.dimension_count",
      "llama.rope.scaling.type",
      "llama.rope.scaling.factor",
      "llama.rope.scale_linear",
      "llama.rope.scaling.attn_factor",
      "llama.vocab_size",
      "llama.expert_count",
      "llama.expert_used_count"};
  for (const auto& [key, value] : md.entries())
    if (key.starts_with("llama.") && !honoured.contains(key) && !descriptive.contains(key))
      refuse(key, "is not supported: pollard does not know how it changes the computation");

  llama_config c;
  c.dim = detail::gguf_integer(md, "llama.embedding_length");
  c.hidden_dim = detail::gguf_integer(md, "llama.feed_forward_length");
  c.n_layers = detail::gguf_integer(md, "llama.block_count");
  c.n_heads = detail::gguf_integer(md, "llama.attention.head_count");
  c.n_kv_heads = md.contains("llama.attention.head_count_kv")
                     ? detail::gguf_integer(md, "llama.attention.head_count_kv")
                     : c.n_heads;
  c.seq_len = detail::gguf_integer(md, "llama.context_length");
  c.rms_norm_eps = detail::gguf_float(md, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
  c.rope_theta = detail::gguf_float(md, "llama.rope.freq_base", 10000.0f);
  c.rope = rope_style::interleaved;
  const auto& embedding = file.tensor("token_embd.weight");
  if (embedding.dims.size() != 2)
    throw format_error(file.name() + ": token_embd.weight is not a matrix");
  c.vocab_size = static_cast<index_t>(embedding.dims[1]);
  c.tied_classifier = file.find_tensor("output.weight") == nullptr;

  const index_t head = c.n_heads > 0 ? c.dim / c.n_heads : 0;
  for (const char* key :
       {"llama.attention.key_length", "llama.attention.value_length", "llama.rope.dimension_count"})
    if (md.contains(key) && detail::gguf_integer(md, key) != head)
      refuse(key, std::to_string(detail::gguf_integer(md, key)) + " differs from the head size " +
                      std::to_string(head) +
                      " (embedding_length / head_count); llama.cpp's llama architecture "
                      "refuses it too (invalid n_rot)");
  for (const char* key : {"llama.expert_count", "llama.expert_used_count"})
    if (md.contains(key) && detail::gguf_integer(md, key) != 0)
      refuse(key, "is " + std::to_string(detail::gguf_integer(md, key)) +
                      ": mixture-of-experts models are not supported");
  if (md.contains("llama.vocab_size") &&
      detail::gguf_integer(md, "llama.vocab_size") != c.vocab_size)
    refuse("llama.vocab_size", std::to_string(detail::gguf_integer(md, "llama.vocab_size")) +
                                   " differs from the " + std::to_string(c.vocab_size) +
                                   " rows of token_embd.weight");
  if (const float attn = detail::gguf_float(md, "llama.rope.scaling.attn_factor", 1.0f);
      attn != 1.0f)
    refuse("llama.rope.scaling.attn_factor",
           std::to_string(attn) + " is not supported (only 1, which scales nothing)");

  // llama.cpp: the type defaults to "linear"; the factor (or the older rope.scale_linear) gives
  // the frequency scale 1/factor, 0 or absent meaning 1; type "none" never scales.
  const std::string type = md.contains("llama.rope.scaling.type")
                               ? md.get<std::string>("llama.rope.scaling.type")
                               : std::string("linear");
  const char* factor_key = md.contains("llama.rope.scaling.factor") ? "llama.rope.scaling.factor"
                                                                    : "llama.rope.scale_linear";
  const float factor = detail::gguf_float(md, factor_key, 0.0f);
  if (type == "linear") {
    if (factor != 0.0f && factor != 1.0f) {
      if (!(factor > 0.0f) || !std::isfinite(factor))
        refuse(factor_key, std::to_string(factor) + " is not a positive scaling factor");
      c.scaling.type = rope_scaling_type::linear;
      c.scaling.factor = factor;
    }
  } else if (type != "none") {
    refuse("llama.rope.scaling.type",
           "'" + type +
               "' is not supported (none and linear are; Llama 3.1's scheme comes as "
               "the rope_freqs.weight tensor)");
  }
  const llama_config::field_names keys{.dim = "llama.embedding_length",
                                       .hidden_dim = "llama.feed_forward_length",
                                       .n_layers = "llama.block_count",
                                       .n_heads = "llama.attention.head_count",
                                       .n_kv_heads = "llama.attention.head_count_kv",
                                       .vocab_size = "token_embd.weight's row count",
                                       .seq_len = "llama.context_length",
                                       .rms_norm_eps = "llama.attention.layer_norm_rms_epsilon",
                                       .rope_theta = "llama.rope.freq_base",
                                       .rope_scaling_factor = factor_key};
  try {
    c.validate(keys, file.name() + ": ");
  } catch (const option_error& e) {
    throw format_error(e.what());
  }
  // A block is 9 tensors (two norms, seven linears): a block count the file cannot hold is
  // refused before anything is sized by it.
  if (static_cast<std::uint64_t>(c.n_layers) > file.tensors().size() / 9)
    refuse("llama.block_count", std::to_string(c.n_layers) +
                                    " needs 9 tensors per block, and the file holds " +
                                    std::to_string(file.tensors().size()) + " tensors");
  // Every tensor the metadata sizes must have that size, so that nothing is sized by a key the
  // tensors contradict.
  const auto check_shape = [&](const std::string& name, index_t rows, index_t cols) {
    const auto* t = file.find_tensor(name);
    if (t == nullptr) return;
    const std::vector<std::uint64_t> want =
        cols == 0 ? std::vector<std::uint64_t>{static_cast<std::uint64_t>(rows)}
                  : std::vector<std::uint64_t>{static_cast<std::uint64_t>(cols),
                                               static_cast<std::uint64_t>(rows)};
    if (t->dims == want) return;
    const auto list = [](const std::vector<std::uint64_t>& dims) {
      std::string text;
      for (const auto d : dims) text += (text.empty() ? "" : ", ") + std::to_string(d);
      return "[" + text + "]";
    };
    throw format_error(file.name() + ": tensor '" + name + "' has dimensions " + list(t->dims) +
                       " but the metadata (llama.embedding_length, llama.feed_forward_length, "
                       "llama.attention.head_count, llama.attention.head_count_kv) implies " +
                       list(want));
  };
  check_shape("token_embd.weight", c.vocab_size, c.dim);
  for (index_t l = 0; l < c.n_layers; ++l) {
    check_shape(detail::layer_tensor(l, "attn_norm"), c.dim, 0);
    check_shape(detail::layer_tensor(l, "ffn_norm"), c.dim, 0);
    for (const auto linear : all_llama_linears) {
      const auto [rows, cols] = llama_linear_shape(c, linear);
      check_shape(detail::layer_tensor(l, gguf_name_of(linear)), rows, cols);
    }
  }
  check_shape("output_norm.weight", c.dim, 0);
  return c;
}

/// All weights of a GGUF Llama model, dequantised to float.
inline llama_weights load_llama_weights(const io::gguf_file& file) {
  const llama_config c = llama_config_from_gguf(file);
  llama_weights w;
  w.config = c;
  const auto vector = [&](const std::string& name) { return detail::read_gguf_vector(file, name); };
  const auto read = [&](const std::string& name) {
    return detail::read_gguf_row_matrix(file, name);
  };
  w.token_embedding = read("token_embd.weight");
  w.layers.resize(static_cast<std::size_t>(c.n_layers));
  for (index_t l = 0; l < c.n_layers; ++l) {
    auto& layer = w.layers[static_cast<std::size_t>(l)];
    layer.attn_norm = vector(detail::layer_tensor(l, "attn_norm"));
    layer.ffn_norm = vector(detail::layer_tensor(l, "ffn_norm"));
    for (const auto linear : all_llama_linears) {
      const char* name = gguf_name_of(linear);
      layer.linear(linear) = read(detail::layer_tensor(l, name));
      // llama.cpp's llama architecture loads each of these biases when present.
      const auto bias = detail::layer_tensor(l, name, "bias");
      if (file.find_tensor(bias) != nullptr) layer.bias(linear) = vector(bias);
    }
  }
  w.final_norm = vector("output_norm.weight");
  if (!c.tied_classifier) w.classifier = read("output.weight");
  if (file.find_tensor("rope_freqs.weight") != nullptr)
    w.rope_freq_factors = vector("rope_freqs.weight");
  detail::check_llama_tensor_names(file, c);
  try {
    w.validate();
  } catch (const error& e) {
    throw format_error(file.name() + ": " + e.what());
  }
  return w;
}

/// The byte-level BPE tokenizer described by GGUF metadata (tokenizer.ggml.model "gpt2").
inline byte_level_bpe_tokenizer load_gguf_tokenizer(const io::gguf_file& file) {
  const auto& md = file.metadata();
  const auto& model = md.get<std::string>("tokenizer.ggml.model");
  if (model != "gpt2")
    throw format_error(file.name() + ": tokenizer model '" + model +
                       "' is not supported (gpt2 byte-level BPE only)");
  auto tokens = md.get<io::gguf_array>("tokenizer.ggml.tokens").get<std::string>();
  const auto& merges = md.get<io::gguf_array>("tokenizer.ggml.merges").get<std::string>();
  std::vector<std::int32_t> token_types;
  if (const auto* types = md.find("tokenizer.ggml.token_type")) {
    token_types = types->get<io::gguf_array>().get<std::int32_t>();
    if (token_types.size() != tokens.size())
      throw format_error(file.name() + ": tokenizer.ggml.token_type has " +
                         std::to_string(token_types.size()) + " entries for " +
                         std::to_string(tokens.size()) + " tokens");
  }
  // Without tokenizer.ggml.pre llama.cpp uses its 'default' pre-tokenizer (and warns that the
  // file should be regenerated); "gpt2" is not one of its names (GPT-2's is "gpt-2") and it
  // refuses the file, so pollard does too rather than read it with GPT-2's rules.
  const std::string pre =
      md.contains("tokenizer.ggml.pre") ? md.get<std::string>("tokenizer.ggml.pre") : "default";
  if (pre == "gpt2")
    throw format_error(
        file.name() +
        ": tokenizer.ggml.pre 'gpt2' is not a llama.cpp pre-tokenizer name (llama.cpp "
        "refuses it as an unknown pre-tokenizer type; GPT-2's is 'gpt-2')");
  const auto id = [&](const char* key) -> std::optional<std::int32_t> {
    if (!md.contains(key)) return std::nullopt;
    return static_cast<std::int32_t>(detail::gguf_integer(md, key));
  };
  const bool add_bos =
      md.contains("tokenizer.ggml.add_bos_token") && md.get<bool>("tokenizer.ggml.add_bos_token");
  return byte_level_bpe_tokenizer(std::move(tokens), merges, std::move(token_types), pre,
                                  id("tokenizer.ggml.bos_token_id"),
                                  id("tokenizer.ggml.eos_token_id"), add_bos);
}

/// The SentencePiece BPE tokenizer described by GGUF metadata (tokenizer.ggml.model "llama"),
/// with llama.cpp's defaults for what the file leaves out: scores 0, type normal, BOS 1, EOS 2,
/// add_bos_token and add_space_prefix true. Keys that would change the tokens and that pollard
/// does not implement (add_eos_token or remove_extra_whitespaces true) are refused by name.
inline sentencepiece_bpe_tokenizer load_gguf_sentencepiece_tokenizer(const io::gguf_file& file) {
  const auto& md = file.metadata();
  const auto& model = md.get<std::string>("tokenizer.ggml.model");
  if (model != "llama")
    throw format_error(file.name() + ": tokenizer model '" + model + "' is not SentencePiece");
  auto pieces = md.get<io::gguf_array>("tokenizer.ggml.tokens").get<std::string>();
  const auto sized = [&](const char* key, std::size_t n) {
    if (n != pieces.size())
      throw format_error(file.name() + ": " + key + " has " + std::to_string(n) + " entries for " +
                         std::to_string(pieces.size()) + " tokens");
  };
  std::vector<float> scores(pieces.size(), 0.0f);
  if (const auto* v = md.find("tokenizer.ggml.scores")) {
    scores = v->get<io::gguf_array>().get<float>();
    sized("tokenizer.ggml.scores", scores.size());
  }
  std::vector<sentencepiece_token_type> types(pieces.size(), sentencepiece_token_type::normal);
  if (const auto* v = md.find("tokenizer.ggml.token_type")) {
    const auto& t = v->get<io::gguf_array>().get<std::int32_t>();
    sized("tokenizer.ggml.token_type", t.size());
    for (std::size_t i = 0; i < t.size(); ++i) types[i] = sentencepiece_token_type{t[i]};
  }
  const auto flag = [&](const char* key, bool fallback) {
    return md.contains(key) ? md.get<bool>(key) : fallback;
  };
  for (const char* key :
       {"tokenizer.ggml.add_eos_token", "tokenizer.ggml.remove_extra_whitespaces"})
    if (flag(key, false))
      throw format_error(file.name() + ": " + key +
                         " = true is not supported by pollard's SentencePiece tokenizer");
  const auto id = [&](const char* key, std::int32_t fallback) {
    return md.contains(key) ? static_cast<std::int32_t>(detail::gguf_integer(md, key)) : fallback;
  };
  sentencepiece_bpe_tokenizer::settings s;
  s.bos = id("tokenizer.ggml.bos_token_id", 1);
  s.eos = id("tokenizer.ggml.eos_token_id", 2);
  s.add_bos = flag("tokenizer.ggml.add_bos_token", true);
  s.add_space_prefix = flag("tokenizer.ggml.add_space_prefix", true);
  try {
    return sentencepiece_bpe_tokenizer(std::move(pieces), std::move(scores), std::move(types), s);
  } catch (const error& e) {
    throw format_error(file.name() + ": " + e.what());
  }
}

/// The tokenizer a GGUF file describes, whichever of the supported kinds it is: GPT-2
/// byte-level BPE ("gpt2") or SentencePiece BPE ("llama"). Throws format_error for others.
inline text_tokenizer load_gguf_text_tokenizer(const io::gguf_file& file) {
  if (file.metadata().get<std::string>("tokenizer.ggml.model") == "llama")
    return text_tokenizer(load_gguf_sentencepiece_tokenizer(file));
  return text_tokenizer(load_gguf_tokenizer(file));
}

/// Writes `weights` as a GGUF file that keeps every metadata key of `original` (same order and
/// types; general.file_type follows the types written, see io::update_llama_file_type) and every
/// tensor it read (biases and rope_freqs.weight included). Linear and embedding tensors are stored
/// as `type` (f32, f16 or bf16); norms, biases and frequency factors stay f32, as llama.cpp
/// expects. The RoPE settings of `weights.config` must be those `original` describes.
inline void write_llama_gguf(const std::filesystem::path& path, const io::gguf_file& original,
                             const llama_weights& weights,
                             io::ggml_type type = io::ggml_type::f32) {
  weights.validate();
  if (!(llama_config_from_gguf(original).scaling == weights.config.scaling) ||
      llama_config_from_gguf(original).rope_theta != weights.config.rope_theta)
    throw option_error("write_llama_gguf: the weights' RoPE settings differ from those of " +
                       original.name() + ", whose metadata would be written");
  if (type != io::ggml_type::f32 && type != io::ggml_type::f16 && type != io::ggml_type::bf16)
    throw option_error("write_llama_gguf: tensors can be written as F32, F16 or BF16 only");
  io::gguf_metadata md = original.metadata();
  std::vector<io::gguf_tensor_view> tensors;
  const auto matrix = [&](std::string name, const row_matrix& m, io::ggml_type t) {
    tensors.push_back({std::move(name),
                       {static_cast<std::uint64_t>(m.cols()), static_cast<std::uint64_t>(m.rows())},
                       t,
                       std::span<const float>(m.data(), static_cast<std::size_t>(m.size()))});
  };
  const auto vector = [&](std::string name, const Eigen::VectorXf& v) {
    tensors.push_back({std::move(name),
                       {static_cast<std::uint64_t>(v.size())},
                       io::ggml_type::f32,
                       std::span<const float>(v.data(), static_cast<std::size_t>(v.size()))});
  };
  // The order of llama.cpp's own converter: embeddings, blocks, then the output tensors.
  matrix("token_embd.weight", weights.token_embedding, type);
  for (index_t l = 0; l < weights.config.n_layers; ++l) {
    const auto& layer = weights.layers[static_cast<std::size_t>(l)];
    vector(detail::layer_tensor(l, "attn_norm"), layer.attn_norm);
    for (const auto linear : all_llama_linears) {
      const char* name = gguf_name_of(linear);
      matrix(detail::layer_tensor(l, name), layer.linear(linear), type);
      if (layer.bias(linear).size() > 0)
        vector(detail::layer_tensor(l, name, "bias"), layer.bias(linear));
    }
    vector(detail::layer_tensor(l, "ffn_norm"), layer.ffn_norm);
  }
  vector("output_norm.weight", weights.final_norm);
  if (!weights.config.tied_classifier) matrix("output.weight", weights.classifier, type);
  if (weights.rope_freq_factors.size() > 0) vector("rope_freqs.weight", weights.rope_freq_factors);
  std::vector<io::ggml_type> read_types, written_types;
  for (const auto& t : original.tensors()) read_types.push_back(t.type);
  for (const auto& t : tensors) written_types.push_back(t.type);
  io::update_llama_file_type(md, read_types, written_types);
  io::write_gguf(path, md, std::span<const io::gguf_tensor_view>(tensors));
}

}  // namespace pollard::llm
