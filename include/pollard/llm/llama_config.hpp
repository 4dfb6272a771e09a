// pollard — the hyper-parameters of a Llama-family decoder, independent of any file format.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>

#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"

namespace pollard::llm {

/// How rotary position embeddings pair the dimensions of one head (head size hs, pair index
/// i in [0, hs/2), frequency theta^(-2i/hs) in both styles).
enum class rope_style {
  /// Pairs (2i, 2i+1): llama2.c, and GGUF/llama.cpp's LLAMA architecture (convert_hf_to_gguf
  /// permutes the rows of Q and K from the Hugging Face layout into this one).
  interleaved,
  /// Pairs (i, i + hs/2): Hugging Face transformers' rotate_half (safetensors checkpoints).
  half_split,
};

/// How rotary frequencies are stretched for a longer context than the model was trained on.
enum class rope_scaling_type {
  none,
  /// Every frequency divided by `factor` (llama.cpp: rope.scaling.type "linear", frequency scale
  /// 1/factor; transformers: rope_scaling {"rope_type": "linear"}).
  linear,
  /// Llama 3.1's per-frequency scheme (transformers' rope_type "llama3"): wavelengths shorter than
  /// original_context / high_freq_factor are kept, those longer than original_context /
  /// low_freq_factor are divided by `factor`, and the band between is interpolated smoothly.
  llama3,
};

inline const char* name_of(rope_scaling_type t) noexcept {
  return t == rope_scaling_type::none     ? "none"
         : t == rope_scaling_type::linear ? "linear"
                                          : "llama3";
}

/// The rotary scaling parameters; only those of `type` are meaningful.
struct rope_scaling {
  rope_scaling_type type = rope_scaling_type::none;
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  double original_context = 8192.0;  ///< original_max_position_embeddings

  bool operator==(const rope_scaling&) const = default;
};

/// Shape and numerics of a Llama-family model (RMSNorm, RoPE, grouped-query attention,
/// SwiGLU MLP). Every extent is in elements; head_size() = dim / n_heads.
struct llama_config {
  index_t dim = 0;         ///< residual stream width (hidden size)
  index_t hidden_dim = 0;  ///< MLP intermediate width
  index_t n_layers = 0;
  index_t n_heads = 0;     ///< query heads
  index_t n_kv_heads = 0;  ///< key/value heads (grouped-query attention when < n_heads)
  index_t vocab_size = 0;
  index_t seq_len = 0;          ///< longest context the model was trained for
  float rms_norm_eps = 1e-5f;   ///< llama2.c: 1e-5; GGUF: llama.attention.layer_norm_rms_epsilon
  float rope_theta = 10000.0f;  ///< GGUF: llama.rope.freq_base
  rope_style rope = rope_style::interleaved;
  rope_scaling scaling;
  /// The classifier is the token-embedding table (llama2.c: vocab_size > 0 in the header).
  bool tied_classifier = true;

  index_t head_size() const noexcept { return n_heads > 0 ? dim / n_heads : 0; }
  /// Width of K and V: n_kv_heads * head_size().
  index_t kv_dim() const noexcept { return n_kv_heads * head_size(); }
  /// Query heads sharing one key/value head.
  index_t kv_group() const noexcept { return n_kv_heads > 0 ? n_heads / n_kv_heads : 0; }

  /// Throws option_error naming the first field that is out of its domain ("llama_config: dim
  /// must be positive, got 0").
  void validate() const { validate(field_names{}, "llama_config: "); }

  /// What validate() calls each field: a reader passes the keys of the file it read, so that an
  /// error names them as the file spells them.
  struct field_names {
    const char* dim = "dim";
    const char* hidden_dim = "hidden_dim";
    const char* n_layers = "n_layers";
    const char* n_heads = "n_heads";
    const char* n_kv_heads = "n_kv_heads";
    const char* vocab_size = "vocab_size";
    const char* seq_len = "seq_len";
    const char* rms_norm_eps = "rms_norm_eps";
    const char* rope_theta = "rope_theta";
    const char* rope_scaling_factor = "rope scaling factor";
  };

  /// validate() with the fields called `names` and each message prefixed by `where`.
  void validate(const field_names& names, const std::string& where) const {
    const auto shown = [](double v) {
      char text[32];
      std::snprintf(text, sizeof text, "%g", v);
      return std::string(text);
    };
    auto positive = [&](index_t v, const char* name) {
      if (v <= 0) throw option_error(where + name + " must be positive, got " + std::to_string(v));
    };
    positive(dim, names.dim);
    positive(hidden_dim, names.hidden_dim);
    positive(n_layers, names.n_layers);
    positive(n_heads, names.n_heads);
    positive(n_kv_heads, names.n_kv_heads);
    positive(vocab_size, names.vocab_size);
    positive(seq_len, names.seq_len);
    if (dim % n_heads != 0)
      throw option_error(where + names.n_heads + " " + std::to_string(n_heads) +
                         " does not divide " + names.dim + " " + std::to_string(dim));
    if (n_heads % n_kv_heads != 0)
      throw option_error(where + names.n_kv_heads + " " + std::to_string(n_kv_heads) +
                         " does not divide " + names.n_heads + " " + std::to_string(n_heads));
    if (head_size() % 2 != 0)
      throw option_error(where + "head size " + names.dim + " / " + names.n_heads + " = " +
                         std::to_string(head_size()) + " is odd, rotary embeddings need pairs");
    const auto positive_finite = [&](double v, const char* name) {
      if (!(v > 0.0) || !std::isfinite(v))
        throw option_error(where + name + " must be a positive finite number, got " + shown(v));
    };
    positive_finite(rms_norm_eps, names.rms_norm_eps);
    positive_finite(rope_theta, names.rope_theta);
    const auto& r = scaling;
    if (r.type != rope_scaling_type::none) positive_finite(r.factor, names.rope_scaling_factor);
    if (r.type == rope_scaling_type::llama3 &&
        (!(r.low_freq_factor > 0.0) || !(r.high_freq_factor > r.low_freq_factor) ||
         !(r.original_context > 0.0)))
      throw option_error(where +
                         "llama3 rope scaling needs 0 < low_freq_factor < high_freq_factor and a "
                         "positive original_max_position_embeddings, got " +
                         std::to_string(r.low_freq_factor) + ", " +
                         std::to_string(r.high_freq_factor) + ", " +
                         std::to_string(r.original_context));
  }
};

}  // namespace pollard::llm
