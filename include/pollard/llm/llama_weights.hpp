// pollard — the weights of a Llama-family decoder in memory, independent of the file format.
#pragma once

#include <Eigen/Core>

#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "pollard/core/checks.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/llm/llama_config.hpp"

namespace pollard::llm {

/// Row-major float matrix; a linear layer is stored in PyTorch nn.Linear layout [out x in], so
/// y = x * W^T for activations x [tokens x in], and row r of W holds output r's weights.
using row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// The seven linear layers of one block.
enum class llama_linear { q, k, v, o, gate, up, down };

/// The four distinct inputs of a block's linears: linears sharing an input share its statistics.
enum class llama_linear_input {
  attn_in,   ///< RMSNorm(x) before attention: input of q, k, v            [tokens x dim]
  attn_out,  ///< concatenated head outputs: input of o                    [tokens x dim]
  mlp_in,    ///< RMSNorm(h) before the MLP: input of gate, up             [tokens x dim]
  mlp_out,   ///< silu(gate) * up: input of down                           [tokens x hidden_dim]
};

inline constexpr std::array<llama_linear, 7> all_llama_linears = {
    llama_linear::q,    llama_linear::k,  llama_linear::v,   llama_linear::o,
    llama_linear::gate, llama_linear::up, llama_linear::down};
inline constexpr std::array<llama_linear_input, 4> all_llama_linear_inputs = {
    llama_linear_input::attn_in, llama_linear_input::attn_out, llama_linear_input::mlp_in,
    llama_linear_input::mlp_out};

/// The input a linear reads.
constexpr llama_linear_input input_of(llama_linear l) noexcept {
  switch (l) {
    case llama_linear::q:
    case llama_linear::k:
    case llama_linear::v:
      return llama_linear_input::attn_in;
    case llama_linear::o:
      return llama_linear_input::attn_out;
    case llama_linear::gate:
    case llama_linear::up:
      return llama_linear_input::mlp_in;
    case llama_linear::down:
      break;
  }
  return llama_linear_input::mlp_out;
}

/// The shape {rows, columns} = {outputs, inputs} of a linear of a model with `config`.
inline std::array<index_t, 2> llama_linear_shape(const llama_config& config, llama_linear l) {
  const index_t rows = l == llama_linear::k || l == llama_linear::v       ? config.kv_dim()
                       : l == llama_linear::gate || l == llama_linear::up ? config.hidden_dim
                                                                          : config.dim;
  return {rows, l == llama_linear::down ? config.hidden_dim : config.dim};
}

/// The linears that read an input, in the order q, k, v, o, gate, up, down.
inline std::vector<llama_linear> linears_reading(llama_linear_input in) {
  std::vector<llama_linear> out;
  for (llama_linear l : all_llama_linears)
    if (input_of(l) == in) out.push_back(l);
  return out;
}

constexpr const char* name_of(llama_linear l) noexcept {
  constexpr const char* names[] = {"q", "k", "v", "o", "gate", "up", "down"};
  return names[static_cast<int>(l)];
}
/// The GGUF tensor base name of a linear inside block blk.{b}: "attn_q", ..., "ffn_down".
constexpr const char* gguf_name_of(llama_linear l) noexcept {
  constexpr const char* names[] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                   "ffn_gate", "ffn_up", "ffn_down"};
  return names[static_cast<int>(l)];
}
constexpr const char* name_of(llama_linear_input in) noexcept {
  constexpr const char* names[] = {"attn_in", "attn_out", "mlp_in", "mlp_out"};
  return names[static_cast<int>(in)];
}

// clang-format off
/// One transformer block. With hs = head_size(), kv = kv_dim() = n_kv_heads * hs:
///   attn_norm [dim]                         RMSNorm weight before attention
///   wq [dim x dim]                          rows h*hs .. h*hs+hs-1 are query head h
///   wk, wv [kv x dim]                       rows g*hs .. are key/value head g
///                                           (query head h uses g = h / kv_group)
///   wo [dim x dim]                          input columns are the concatenated head outputs
///   ffn_norm [dim]                          RMSNorm weight before the MLP
///   w1 (gate), w3 (up) [hidden_dim x dim]   the MLP's input projections
///   w2 (down) [dim x hidden_dim]            the MLP's output projection
/// The pairing of rotary dimensions inside a head's rows of wq/wk is llama_config::rope.
// clang-format on
/// A linear may carry an additive bias (one value per output row; y = x W^T + b), as
/// transformers' attention_bias / mlp_bias and llama.cpp's optional blk.N.*.bias tensors define;
/// an empty bias is none.
struct llama_layer_weights {
  Eigen::VectorXf attn_norm;
  row_matrix wq, wk, wv, wo;
  Eigen::VectorXf ffn_norm;
  row_matrix w1, w2, w3;
  std::array<Eigen::VectorXf, 7> biases;  ///< indexed by llama_linear

  Eigen::VectorXf& bias(llama_linear l) { return biases[static_cast<std::size_t>(l)]; }
  const Eigen::VectorXf& bias(llama_linear l) const { return biases[static_cast<std::size_t>(l)]; }

  row_matrix& linear(llama_linear l) {
    switch (l) {
      case llama_linear::q:
        return wq;
      case llama_linear::k:
        return wk;
      case llama_linear::v:
        return wv;
      case llama_linear::o:
        return wo;
      case llama_linear::gate:
        return w1;
      case llama_linear::up:
        return w3;
      case llama_linear::down:
        break;
    }
    return w2;
  }
  const row_matrix& linear(llama_linear l) const {
    return const_cast<llama_layer_weights*>(this)->linear(l);
  }
};

/// A whole model: token_embedding [vocab x dim] (row t is token t), the blocks, final_norm [dim],
/// and classifier [vocab x dim] (logits = RMSNorm(x) * classifier^T), which stays empty when
/// config.tied_classifier (the embedding table is the classifier then). rope_freq_factors
/// [head_size/2] divides each rotary frequency (GGUF's rope_freqs.weight); empty when absent.
struct llama_weights {
  llama_config config;
  row_matrix token_embedding;
  std::vector<llama_layer_weights> layers;
  Eigen::VectorXf final_norm;
  row_matrix classifier;
  Eigen::VectorXf rope_freq_factors;

  /// Whether any layer has a bias on `l`.
  bool has_bias(llama_linear l) const {
    for (const auto& layer : layers)
      if (layer.bias(l).size() > 0) return true;
    return false;
  }

  /// The matrix the logits are computed with (the embedding table when tied).
  const row_matrix& output_classifier() const {
    return config.tied_classifier ? token_embedding : classifier;
  }

  /// Zero-filled weights of the shapes `config` asks for (config is validated first).
  static llama_weights zeros(const llama_config& config) {
    config.validate();
    const index_t d = config.dim, h = config.hidden_dim, kv = config.kv_dim();
    llama_weights w;
    w.config = config;
    w.token_embedding = row_matrix::Zero(config.vocab_size, d);
    w.layers.resize(static_cast<std::size_t>(config.n_layers));
    for (auto& l : w.layers) {
      l.attn_norm = Eigen::VectorXf::Zero(d);
      l.wq = row_matrix::Zero(d, d);
      l.wk = row_matrix::Zero(kv, d);
      l.wv = row_matrix::Zero(kv, d);
      l.wo = row_matrix::Zero(d, d);
      l.ffn_norm = Eigen::VectorXf::Zero(d);
      l.w1 = row_matrix::Zero(h, d);
      l.w2 = row_matrix::Zero(d, h);
      l.w3 = row_matrix::Zero(h, d);
    }
    w.final_norm = Eigen::VectorXf::Zero(d);
    if (!config.tied_classifier) w.classifier = row_matrix::Zero(config.vocab_size, d);
    return w;
  }

  /// Throws option_error for a bad config, shape_error naming the first tensor whose shape does
  /// not match it.
  void validate() const {
    config.validate();
    const index_t d = config.dim, h = config.hidden_dim, kv = config.kv_dim();
    auto check = [](const auto& m, index_t r, index_t c, const std::string& name) {
      if (m.rows() != r || m.cols() != c)
        throw shape_error("llama_weights: " + name + " is " + shape_text(m.rows(), m.cols()) +
                          " but the config asks for " + shape_text(r, c));
    };
    check(token_embedding, config.vocab_size, d, "token_embedding");
    if (static_cast<index_t>(layers.size()) != config.n_layers)
      throw shape_error("llama_weights: " + std::to_string(layers.size()) +
                        " layers but the config asks for " + std::to_string(config.n_layers));
    for (std::size_t i = 0; i < layers.size(); ++i) {
      const auto& l = layers[i];
      const std::string p = "layer " + std::to_string(i) + " ";
      check(l.attn_norm, d, 1, p + "attn_norm");
      check(l.wq, d, d, p + "wq");
      check(l.wk, kv, d, p + "wk");
      check(l.wv, kv, d, p + "wv");
      check(l.wo, d, d, p + "wo");
      check(l.ffn_norm, d, 1, p + "ffn_norm");
      check(l.w1, h, d, p + "w1 (gate)");
      check(l.w2, d, h, p + "w2 (down)");
      check(l.w3, h, d, p + "w3 (up)");
      for (const auto lin : all_llama_linears)
        if (l.bias(lin).size() > 0)
          check(l.bias(lin), l.linear(lin).rows(), 1, p + name_of(lin) + " bias");
    }
    check(final_norm, d, 1, "final_norm");
    if (!config.tied_classifier) check(classifier, config.vocab_size, d, "classifier");
    if (rope_freq_factors.size() > 0) {
      check(rope_freq_factors, config.head_size() / 2, 1, "rope_freq_factors");
      for (index_t i = 0; i < rope_freq_factors.size(); ++i)
        if (!(rope_freq_factors[i] > 0.0f) || !std::isfinite(rope_freq_factors[i]))
          throw option_error("llama_weights: rope_freq_factors[" + std::to_string(i) + "] is " +
                             std::to_string(rope_freq_factors[i]) +
                             ", not a positive finite number");
    }
  }
};

/// A mutable view of a linear's weights [out x in], for the pruning algorithms.
inline matrix_view<float> view_of(row_matrix& w) { return {w.data(), w.rows(), w.cols()}; }
inline matrix_view<const float> view_of(const row_matrix& w) {
  return {w.data(), w.rows(), w.cols()};
}

}  // namespace pollard::llm
