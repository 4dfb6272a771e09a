// pollard — Llama weights from and to llama2.c v0 checkpoints (the format itself is
// io/llama2c.hpp): llama2.c's eps 1e-5, RoPE theta 10000, interleaved pairing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/io/llama2c.hpp"
#include "pollard/io/mapped_file.hpp"
#include "pollard/llm/llama_weights.hpp"

namespace pollard::llm {

/// The weights of a llama2.c v0 checkpoint held in memory (see io::parse_llama2c for the checks;
/// a malformed file throws format_error).
inline llama_weights read_llama2c(std::span<const std::byte> bytes,
                                  const std::string& what = "llama2.c checkpoint") {
  const io::llama2c_contents f = io::parse_llama2c(bytes, what);
  const io::llama2c_header& h = f.header;
  llama_config c;
  c.dim = h.dim;
  c.hidden_dim = h.hidden_dim;
  c.n_layers = h.n_layers;
  c.n_heads = h.n_heads;
  c.n_kv_heads = h.n_kv_heads;
  c.tied_classifier = h.shared_classifier();
  c.vocab_size = h.vocabulary();
  c.seq_len = h.seq_len;
  c.rms_norm_eps = 1e-5f;
  c.rope_theta = 10000.0f;
  c.rope = rope_style::interleaved;
  llama_weights w = llama_weights::zeros(c);
  const auto copy = [](std::span<const std::byte> tensor, std::size_t first, auto& m) {
    io::llama2c_contents::copy_floats(tensor, first, static_cast<std::size_t>(m.size()), m.data());
  };
  copy(f.token_embedding, 0, w.token_embedding);
  const auto per = [&](auto member, std::string_view name) {
    const auto tensor = f.layer_tensor(name);
    std::size_t first = 0;
    for (auto& layer : w.layers) {
      copy(tensor, first, layer.*member);
      first += static_cast<std::size_t>((layer.*member).size());
    }
  };
  using LW = llama_layer_weights;
  per(&LW::attn_norm, "rms_att_weight");
  per(&LW::wq, "wq");
  per(&LW::wk, "wk");
  per(&LW::wv, "wv");
  per(&LW::wo, "wo");
  per(&LW::ffn_norm, "rms_ffn_weight");
  per(&LW::w1, "w1");
  per(&LW::w2, "w2");
  per(&LW::w3, "w3");
  copy(f.rms_final_weight, 0, w.final_norm);
  if (!c.tied_classifier) copy(f.wcls, 0, w.classifier);
  return w;
}

/// Reads a llama2.c v0 checkpoint file (memory-mapped; the weights are copied out).
inline llama_weights read_llama2c(const std::filesystem::path& path) {
  io::mapped_file file(path);
  return read_llama2c(file.bytes(), path.string());
}

namespace detail {

/// The llama2.c header of `w`, after checking that the format can describe it: throws
/// option_error for a rope style, theta or epsilon other than llama2.c's or a size beyond
/// int32, shape_error when the tensors do not match the config.
inline io::llama2c_header llama2c_header_of(const llama_weights& w) {
  w.validate();
  const auto& c = w.config;
  if (c.rope != rope_style::interleaved || c.rope_theta != 10000.0f || c.rms_norm_eps != 1e-5f)
    throw option_error(
        "llama2.c format stores only interleaved RoPE with theta 10000 and rms_norm_eps 1e-5; "
        "this model has " +
        std::string(c.rope == rope_style::interleaved ? "interleaved" : "half_split") +
        " RoPE, theta " + std::to_string(c.rope_theta) + ", eps " + std::to_string(c.rms_norm_eps));
  if (c.scaling.type != rope_scaling_type::none)
    throw option_error(std::string("llama2.c format cannot store RoPE scaling; this model has ") +
                       name_of(c.scaling.type) + " scaling");
  if (w.rope_freq_factors.size() > 0)
    throw option_error("llama2.c format cannot store rope_freqs.weight (RoPE frequency factors)");
  for (const auto l : all_llama_linears)
    if (w.has_bias(l))
      throw option_error(std::string("llama2.c format cannot store biases; this model's ") +
                         name_of(l) + " projection has one");
  const index_t values[7] = {c.dim,        c.hidden_dim, c.n_layers, c.n_heads,
                             c.n_kv_heads, c.vocab_size, c.seq_len};
  for (index_t v : values)
    if (v > std::numeric_limits<std::int32_t>::max())
      throw option_error("llama2.c format: header value " + std::to_string(v) +
                         " does not fit in int32");
  const auto i32 = [](index_t v) { return static_cast<std::int32_t>(v); };
  return {i32(c.dim),     i32(c.hidden_dim), i32(c.n_layers),
          i32(c.n_heads), i32(c.n_kv_heads), i32(c.tied_classifier ? c.vocab_size : -c.vocab_size),
          i32(c.seq_len)};
}

/// shape_error unless `freq_cis` is empty or holds the two [seq_len x head_size/2] tables.
inline void require_freq_cis_size(const llama_weights& w, std::span<const float> freq_cis) {
  const auto expected = static_cast<std::size_t>(w.config.seq_len * w.config.head_size() / 2 * 2);
  if (!freq_cis.empty() && freq_cis.size() != expected)
    throw shape_error("llama2.c: " + std::to_string(freq_cis.size()) +
                      " freq_cis values given, the model's tables hold " +
                      std::to_string(expected));
}

/// The tensors of `w` as the llama2.c writer asks for them; the freq_cis tables are `freq_cis`
/// (real then imaginary) or, when it is empty, computed by the writer.
inline io::llama2c_tensor_source llama2c_tensors_of(const llama_weights& w,
                                                    std::span<const float> freq_cis = {}) {
  return [&w, freq_cis](std::string_view name, index_t layer) -> std::span<const float> {
    const auto span = [](const auto& m) {
      return std::span<const float>(m.data(), static_cast<std::size_t>(m.size()));
    };
    if (name == "token_embedding") return span(w.token_embedding);
    if (name == "rms_final_weight") return span(w.final_norm);
    if (name == "wcls") return span(w.classifier);
    if (name == "freq_cis_real") return freq_cis.first(freq_cis.size() / 2);
    if (name == "freq_cis_imag") return freq_cis.last(freq_cis.size() / 2);
    const auto& l = w.layers.at(static_cast<std::size_t>(layer));
    if (name == "rms_att_weight") return span(l.attn_norm);
    if (name == "rms_ffn_weight") return span(l.ffn_norm);
    if (name == "wq") return span(l.wq);
    if (name == "wk") return span(l.wk);
    if (name == "wv") return span(l.wv);
    if (name == "wo") return span(l.wo);
    if (name == "w1") return span(l.w1);
    if (name == "w2") return span(l.w2);
    return span(l.w3);
  };
}

}  // namespace detail

/// The freq_cis tables of a llama2.c checkpoint as stored (real then imaginary), so a copy writes
/// them back byte for byte rather than recomputing them.
inline std::vector<float> read_llama2c_freq_cis(const std::filesystem::path& path) {
  io::mapped_file file(path);
  const io::llama2c_contents f = io::parse_llama2c(file.bytes(), path.string());
  std::vector<float> out((f.freq_cis_real.size() + f.freq_cis_imag.size()) / sizeof(float));
  const std::size_t half = f.freq_cis_real.size() / sizeof(float);
  io::llama2c_contents::copy_floats(f.freq_cis_real, 0, half, out.data());
  io::llama2c_contents::copy_floats(f.freq_cis_imag, 0, half, out.data() + half);
  return out;
}

/// Serialises `w` as a llama2.c v0 checkpoint, with the freq_cis tables `freq_cis` (real then
/// imaginary, as read_llama2c_freq_cis gives them) or, when empty, recomputed as llama2.c's
/// export does. Throws option_error for a model the format cannot describe (rope style, theta or
/// epsilon other than llama2.c's, or a size beyond int32), shape_error when the tensors do not
/// match the config.
inline std::vector<std::byte> llama2c_bytes(const llama_weights& w,
                                            std::span<const float> freq_cis = {}) {
  detail::require_freq_cis_size(w, freq_cis);
  return io::llama2c_bytes(detail::llama2c_header_of(w), detail::llama2c_tensors_of(w, freq_cis));
}

/// Writes `w` as a llama2.c v0 checkpoint at `path` (freq_cis as llama2c_bytes takes them),
/// through a temporary renamed on success (a model the format cannot describe throws before the
/// temporary is created).
inline void write_llama2c(const llama_weights& w, const std::filesystem::path& path,
                          std::span<const float> freq_cis = {}) {
  const io::llama2c_header h = detail::llama2c_header_of(w);
  detail::require_freq_cis_size(w, freq_cis);
  io::write_llama2c(h, detail::llama2c_tensors_of(w, freq_cis), path);
}

}  // namespace pollard::llm
