// pollard — a Hugging Face Llama config.json: every key is honoured as transformers defines it
// (rope_scaling, attention_bias, mlp_bias, tie_word_embeddings, ...), carried unchanged when it
// does not affect the computation (ids, dtype, provenance), or refused by name.
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "pollard/core/error.hpp"
#include "pollard/io/input_file.hpp"
#include "pollard/io/json.hpp"
#include "pollard/io/json_writer.hpp"
#include "pollard/llm/llama_config.hpp"

namespace pollard::llm {

/// What config.json says: the model's llama_config, the bias switches, and the whole parsed
/// object (a written copy starts from it, so no key read is dropped).
struct hf_llama_config {
  llama_config config;
  bool attention_bias = false;  ///< q, k, v, o projections carry a bias
  bool mlp_bias = false;        ///< gate, up, down projections carry a bias
  io::json_value json;
};

namespace detail {

/// rope_scaling as transformers reads it ("rope_type", or the older "type").
inline rope_scaling hf_rope_scaling(const io::json_value& v, const std::string& what) {
  rope_scaling r;
  if (v.is_null()) return r;
  const auto& o = v.as_object(what + " rope_scaling");
  const io::json_value* type = v.find("rope_type");
  if (type == nullptr) type = v.find("type");
  if (type == nullptr) throw format_error(what + ": rope_scaling has no \"rope_type\"");
  const std::string name = type->as_string(what + " rope_scaling.rope_type");
  const auto number = [&](const char* key) {
    const auto* n = v.find(key);
    if (n == nullptr) throw format_error(what + ": rope_scaling \"" + name + "\" needs " + key);
    const double d = n->as_number(what + " rope_scaling." + key);
    if (!std::isfinite(d) || !(d > 0.0))
      throw format_error(what + ": rope_scaling." + key + " must be positive");
    return d;
  };
  std::set<std::string, std::less<>> known = {"rope_type", "type"};
  if (name == "default") {
  } else if (name == "linear") {
    r.type = rope_scaling_type::linear;
    r.factor = number("factor");
    known.insert({"factor", "original_max_position_embeddings"});
  } else if (name == "llama3") {
    r.type = rope_scaling_type::llama3;
    r.factor = number("factor");
    r.low_freq_factor = number("low_freq_factor");
    r.high_freq_factor = number("high_freq_factor");
    r.original_context = number("original_max_position_embeddings");
    known.insert(
        {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"});
  } else {
    throw format_error(what + ": rope_scaling type '" + name +
                       "' is not supported (default, linear and llama3 are)");
  }
  for (const auto& [key, value] : o)
    if (!known.contains(key))
      throw format_error(what + ": rope_scaling." + key + " is not supported for rope type '" +
                         name + "'");
  return r;
}

/// The rope_scaling object that reads back as `r` (null for none).
inline io::json_value hf_rope_scaling_json(const rope_scaling& r) {
  if (r.type == rope_scaling_type::none) return {};
  io::json_value::object o;
  o.emplace("rope_type", io::json_value(std::string(name_of(r.type))));
  o.emplace("factor", io::json_value(r.factor));
  if (r.type == rope_scaling_type::llama3) {
    o.emplace("low_freq_factor", io::json_value(r.low_freq_factor));
    o.emplace("high_freq_factor", io::json_value(r.high_freq_factor));
    o.emplace("original_max_position_embeddings", io::json_value(r.original_context));
  }
  return io::json_value(std::move(o));
}

inline void append_json(std::string& out, const io::json_value& v, int indent) {
  const std::string pad(static_cast<std::size_t>(indent) + 2, ' ');
  if (v.is_null()) {
    out += "null";
  } else if (v.is_bool()) {
    out += v.as_bool("") ? "true" : "false";
  } else if (v.is_number()) {
    const double d = v.as_number("");
    char buf[32];
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9007199254740992.0)
      std::snprintf(buf, sizeof buf, "%.0f", d);
    else
      std::snprintf(buf, sizeof buf, "%.17g", d);
    out += buf;
  } else if (v.is_string()) {
    out += io::json_string(v.as_string(""));
  } else if (v.is_array()) {
    const auto& a = v.as_array("");
    out += "[";
    for (std::size_t i = 0; i < a.size(); ++i) {
      out += i == 0 ? "" : ", ";
      append_json(out, a[i], indent);
    }
    out += "]";
  } else {
    const auto& o = v.as_object("");
    out += "{";
    bool first = true;
    for (const auto& [key, value] : o) {
      out += first ? "\n" : ",\n";
      first = false;
      out += pad + io::json_string(key) + ": ";
      append_json(out, value, indent + 2);
    }
    out += o.empty() ? "}" : "\n" + std::string(static_cast<std::size_t>(indent), ' ') + "}";
  }
}

}  // namespace detail

/// `v` as indented JSON text (keys in sorted order; integral numbers without a fraction).
inline std::string json_text(const io::json_value& v) {
  std::string out;
  detail::append_json(out, v, 0);
  return out + "\n";
}

/// Reads a Hugging Face Llama config.json (model_type "llama").
inline hf_llama_config read_hf_config(const std::filesystem::path& config_json) {
  io::require_regular_file(config_json);
  std::ifstream in(config_json, std::ios::binary);
  if (!in) throw io_error("cannot open " + config_json.string() + ": " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  // Every message names the file and the config.json key (never the llama_config field).
  const std::string what = config_json.string();
  hf_llama_config out;
  out.json = io::parse_json(text.str(), what);
  const auto& root = out.json;
  const auto& members = root.as_object(what);
  // Keys that do not change the function the checkpoint computes: carried to a written copy.
  static const std::set<std::string, std::less<>> carried = {"_name_or_path",
                                                             "architectures",
                                                             "bos_token_id",
                                                             "eos_token_id",
                                                             "pad_token_id",
                                                             "torch_dtype",
                                                             "dtype",
                                                             "transformers_version",
                                                             "use_cache",
                                                             "initializer_range",
                                                             "attention_dropout",
                                                             "pretraining_tp",
                                                             "is_llama_config",
                                                             "transformers.js_config",
                                                             "tokenizer_class",
                                                             "output_attentions",
                                                             "output_hidden_states",
                                                             "return_dict",
                                                             "torchscript",
                                                             "model_type"};
  static const std::set<std::string, std::less<>> honoured = {"hidden_size",
                                                              "intermediate_size",
                                                              "num_hidden_layers",
                                                              "num_attention_heads",
                                                              "num_key_value_heads",
                                                              "vocab_size",
                                                              "max_position_embeddings",
                                                              "rms_norm_eps",
                                                              "rope_theta",
                                                              "rope_scaling",
                                                              "tie_word_embeddings",
                                                              "attention_bias",
                                                              "mlp_bias",
                                                              "head_dim",
                                                              "hidden_act",
                                                              "partial_rotary_factor",
                                                              "rope_interleaved",
                                                              "sliding_window"};
  for (const auto& [key, value] : members)
    if (!carried.contains(key) && !honoured.contains(key))
      throw format_error(what + ": key \"" + key +
                         "\" is not supported: pollard does not know how it changes the "
                         "computation");
  const auto integer = [&](const char* key) -> index_t {
    const auto* v = root.find(key);
    if (v == nullptr) throw format_error(what + ": no \"" + key + "\"");
    return static_cast<index_t>(v->as_size(what + " " + key));
  };
  const auto number = [&](const char* key, double fallback) {
    const auto* v = root.find(key);
    return v == nullptr || v->is_null() ? fallback : v->as_number(what + " " + key);
  };
  const auto flag = [&](const char* key) {
    const auto* v = root.find(key);
    return v != nullptr && v->as_bool(what + " " + key);
  };
  if (const auto* type = root.find("model_type");
      type && type->as_string(what + " model_type") != "llama")
    throw format_error(what + ": model_type '" + type->as_string(what + " model_type") +
                       "' is not supported (llama only)");
  llama_config& c = out.config;
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
  // transformers' LlamaConfig defaults tie_word_embeddings to false.
  c.tied_classifier = flag("tie_word_embeddings");
  out.attention_bias = flag("attention_bias");
  out.mlp_bias = flag("mlp_bias");
  if (const auto* v = root.find("rope_scaling")) c.scaling = detail::hf_rope_scaling(*v, what);
  // llama_config::validate()'s checks, in config.json's words.
  const auto shown = [](double v) {
    char digits[32];
    std::snprintf(digits, sizeof digits, "%g", v);
    return std::string(digits);
  };
  const auto positive = [&](index_t v, const char* key) {
    if (v <= 0)
      throw format_error(what + ": " + key + " must be positive, got " + std::to_string(v));
  };
  positive(c.dim, "hidden_size");
  positive(c.hidden_dim, "intermediate_size");
  positive(c.n_layers, "num_hidden_layers");
  positive(c.n_heads, "num_attention_heads");
  positive(c.n_kv_heads, "num_key_value_heads");
  positive(c.vocab_size, "vocab_size");
  positive(c.seq_len, "max_position_embeddings");
  if (c.dim % c.n_heads != 0)
    throw format_error(what + ": num_attention_heads " + std::to_string(c.n_heads) +
                       " does not divide hidden_size " + std::to_string(c.dim));
  if (c.n_heads % c.n_kv_heads != 0)
    throw format_error(what + ": num_key_value_heads " + std::to_string(c.n_kv_heads) +
                       " does not divide num_attention_heads " + std::to_string(c.n_heads));
  if (c.head_size() % 2 != 0)
    throw format_error(what + ": hidden_size / num_attention_heads = " +
                       std::to_string(c.head_size()) + " is odd: rotary embeddings need pairs");
  if (!(c.rms_norm_eps > 0.0f))
    throw format_error(what + ": rms_norm_eps must be positive, got " +
                       shown(number("rms_norm_eps", 1e-6)));
  if (!(c.rope_theta > 0.0f))
    throw format_error(what + ": rope_theta must be positive, got " +
                       shown(number("rope_theta", 10000.0)));
  for (const auto& [key, value] :
       {std::pair{"rms_norm_eps", c.rms_norm_eps}, std::pair{"rope_theta", c.rope_theta}})
    if (!std::isfinite(value))
      throw format_error(what + ": " + key + " " + shown(number(key, 0.0)) +
                         " is beyond the range of float, which pollard computes in");
  if (c.scaling.type == rope_scaling_type::llama3 &&
      !(c.scaling.high_freq_factor > c.scaling.low_freq_factor))
    throw format_error(what + ": rope_scaling.low_freq_factor " + shown(c.scaling.low_freq_factor) +
                       " must be smaller than rope_scaling.high_freq_factor " +
                       shown(c.scaling.high_freq_factor));
  if (const auto* v = root.find("hidden_act"); v && v->as_string(what + " hidden_act") != "silu")
    throw format_error(what + ": hidden_act '" + v->as_string(what + " hidden_act") +
                       "' is not supported (silu only)");
  if (const auto* v = root.find("head_dim");
      v && !v->is_null() && c.n_heads > 0 && integer("head_dim") != c.dim / c.n_heads)
    throw format_error(what + ": head_dim " + std::to_string(integer("head_dim")) +
                       " differs from hidden_size / num_attention_heads = " +
                       std::to_string(c.dim / c.n_heads) + ", which is not supported");
  if (number("partial_rotary_factor", 1.0) != 1.0)
    throw format_error(what + ": partial_rotary_factor " +
                       std::to_string(number("partial_rotary_factor", 1.0)) +
                       " is not supported (every dimension of a head is rotated)");
  if (flag("rope_interleaved"))
    throw format_error(what +
                       ": rope_interleaved true is not supported (transformers' Llama "
                       "rotates half-split pairs)");
  if (const auto* v = root.find("sliding_window"); v && !v->is_null())
    throw format_error(what + ": sliding_window is not supported (full causal attention only)");
  const llama_config::field_names keys{.dim = "hidden_size",
                                       .hidden_dim = "intermediate_size",
                                       .n_layers = "num_hidden_layers",
                                       .n_heads = "num_attention_heads",
                                       .n_kv_heads = "num_key_value_heads",
                                       .seq_len = "max_position_embeddings",
                                       .rope_scaling_factor = "rope_scaling.factor"};
  try {
    c.validate(keys, what + ": ");
  } catch (const option_error& e) {
    throw format_error(e.what());
  }
  return out;
}

}  // namespace pollard::llm
