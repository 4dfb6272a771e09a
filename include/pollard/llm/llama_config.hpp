// pollard — the hyper-parameters of a Llama-family decoder, independent of any file format.
#pragma once

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
  /// The classifier is the token-embedding table (llama2.c: vocab_size > 0 in the header).
  bool tied_classifier = true;

  index_t head_size() const noexcept { return n_heads > 0 ? dim / n_heads : 0; }
  /// Width of K and V: n_kv_heads * head_size().
  index_t kv_dim() const noexcept { return n_kv_heads * head_size(); }
  /// Query heads sharing one key/value head.
  index_t kv_group() const noexcept { return n_kv_heads > 0 ? n_heads / n_kv_heads : 0; }

  /// Throws option_error naming the first field that is out of its domain.
  void validate() const {
    auto positive = [](index_t v, const char* name) {
      if (v <= 0)
        throw option_error(std::string("llama_config: ") + name + " must be positive, got " +
                           std::to_string(v));
    };
    positive(dim, "dim");
    positive(hidden_dim, "hidden_dim");
    positive(n_layers, "n_layers");
    positive(n_heads, "n_heads");
    positive(n_kv_heads, "n_kv_heads");
    positive(vocab_size, "vocab_size");
    positive(seq_len, "seq_len");
    if (dim % n_heads != 0)
      throw option_error("llama_config: n_heads " + std::to_string(n_heads) +
                         " does not divide dim " + std::to_string(dim));
    if (n_heads % n_kv_heads != 0)
      throw option_error("llama_config: n_kv_heads " + std::to_string(n_kv_heads) +
                         " does not divide n_heads " + std::to_string(n_heads));
    if (head_size() % 2 != 0)
      throw option_error("llama_config: head size " + std::to_string(head_size()) +
                         " is odd, rotary embeddings need pairs");
    if (!(rms_norm_eps > 0.0f))
      throw option_error("llama_config: rms_norm_eps must be positive, got " +
                         std::to_string(rms_norm_eps));
    if (!(rope_theta > 0.0f))
      throw option_error("llama_config: rope_theta must be positive, got " +
                         std::to_string(rope_theta));
  }
};

}  // namespace pollard::llm
