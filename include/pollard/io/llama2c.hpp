// pollard — llama2.c v0 ("legacy") checkpoints: reader and writer for llm::llama_weights.
//
// Layout (little-endian): 7 int32 dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size,
// seq_len (vocab_size > 0: the classifier is the embedding table; < 0: a separate classifier
// of |vocab_size| rows follows), then fp32 tensors, each stacked over the layers:
//   token_embedding [vocab x dim], rms_att [L x dim], wq [L x dim x dim], wk [L x kv x dim],
//   wv [L x kv x dim], wo [L x dim x dim], rms_ffn [L x dim], w1 [L x hidden x dim],
//   w2 [L x dim x hidden], w3 [L x hidden x dim], rms_final [dim],
//   freq_cis_real [seq_len x head_size/2], freq_cis_imag [same], (wcls [vocab x dim]).
// The file carries neither rms_norm_eps nor rope_theta: llama2.c uses 1e-5, 10000, interleaved.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/io/atomic_file.hpp"
#include "pollard/io/byte_reader.hpp"
#include "pollard/io/mapped_file.hpp"
#include "pollard/llm/llama_weights.hpp"

namespace pollard::io {

namespace detail {

inline void llama2c_read_into(byte_reader& r, float* dst, std::size_t count,
                              const std::string& field) {
  auto bytes = r.read_bytes(count * sizeof(float), field);
  if (count > 0) std::memcpy(dst, bytes.data(), bytes.size());
}

}  // namespace detail

/// Parses a llama2.c v0 checkpoint held in memory. `what` names it in error messages.
/// Every header value is checked (positive, n_heads divides dim, n_kv_heads divides n_heads,
/// even head size) and the byte count implied by the header must equal the size exactly;
/// anything else throws format_error.
inline llm::llama_weights read_llama2c(std::span<const std::byte> bytes,
                                       const std::string& what = "llama2.c checkpoint") {
  byte_reader r(bytes, what);
  const char* names[] = {"dim",        "hidden_dim", "n_layers", "n_heads",
                         "n_kv_heads", "vocab_size", "seq_len"};
  std::int32_t h[7];
  for (int i = 0; i < 7; ++i) h[i] = r.read<std::int32_t>(names[i]);
  for (int i = 0; i < 7; ++i) {
    if (i == 5) continue;
    if (h[i] <= 0)
      r.fail(std::string("header ") + names[i] + " must be positive, got " + std::to_string(h[i]));
  }
  if (h[5] == 0 || h[5] == std::numeric_limits<std::int32_t>::min())
    r.fail("header vocab_size must be non-zero, got " + std::to_string(h[5]));
  llm::llama_config c;
  c.dim = h[0];
  c.hidden_dim = h[1];
  c.n_layers = h[2];
  c.n_heads = h[3];
  c.n_kv_heads = h[4];
  c.tied_classifier = h[5] > 0;
  c.vocab_size = h[5] > 0 ? h[5] : -static_cast<index_t>(h[5]);
  c.seq_len = h[6];
  c.rms_norm_eps = 1e-5f;
  c.rope_theta = 10000.0f;
  c.rope = llm::rope_style::interleaved;
  if (c.dim % c.n_heads != 0)
    r.fail("header n_heads " + std::to_string(c.n_heads) + " does not divide dim " +
           std::to_string(c.dim));
  if (c.n_heads % c.n_kv_heads != 0)
    r.fail("header n_kv_heads " + std::to_string(c.n_kv_heads) + " does not divide n_heads " +
           std::to_string(c.n_heads));
  if (c.head_size() % 2 != 0)
    r.fail("head size " + std::to_string(c.head_size()) + " (dim / n_heads) is odd");

  const auto d = static_cast<std::size_t>(c.dim), hd = static_cast<std::size_t>(c.hidden_dim),
             L = static_cast<std::size_t>(c.n_layers), V = static_cast<std::size_t>(c.vocab_size),
             kv = static_cast<std::size_t>(c.kv_dim()), T = static_cast<std::size_t>(c.seq_len),
             half = static_cast<std::size_t>(c.head_size() / 2);
  auto mul = [&](std::size_t a, std::size_t b) { return checked_multiply(a, b, what); };
  auto add = [&](std::size_t a, std::size_t b) { return checked_add(a, b, what); };
  // Floats per layer: 2 norms, wq, wk, wv, wo, w1, w2, w3.
  std::size_t per_layer = mul(2, d);
  per_layer = add(per_layer, mul(mul(2, d), d));
  per_layer = add(per_layer, mul(mul(2, kv), d));
  per_layer = add(per_layer, mul(mul(3, hd), d));
  std::size_t floats = add(mul(V, d), mul(L, per_layer));
  floats = add(floats, d);
  floats = add(floats, mul(mul(2, T), half));
  if (!c.tied_classifier) floats = add(floats, mul(V, d));
  const std::size_t expected = add(r.offset(), mul(floats, sizeof(float)));
  if (expected != bytes.size())
    r.fail("the header implies " + std::to_string(expected) + " bytes but the file has " +
           std::to_string(bytes.size()));

  llm::llama_weights w = llm::llama_weights::zeros(c);
  auto read = [&](auto& m, const std::string& field) {
    detail::llama2c_read_into(r, m.data(), static_cast<std::size_t>(m.size()), field);
  };
  read(w.token_embedding, "token_embedding");
  auto per = [&](auto member, const char* field) {
    for (std::size_t l = 0; l < L; ++l)
      read(w.layers[l].*member, std::string(field) + " of layer " + std::to_string(l));
  };
  using LW = llm::llama_layer_weights;
  per(&LW::attn_norm, "rms_att_weight");
  per(&LW::wq, "wq");
  per(&LW::wk, "wk");
  per(&LW::wv, "wv");
  per(&LW::wo, "wo");
  per(&LW::ffn_norm, "rms_ffn_weight");
  per(&LW::w1, "w1");
  per(&LW::w2, "w2");
  per(&LW::w3, "w3");
  read(w.final_norm, "rms_final_weight");
  r.skip(mul(mul(T, half), sizeof(float)), "freq_cis_real");
  r.skip(mul(mul(T, half), sizeof(float)), "freq_cis_imag");
  if (!c.tied_classifier) read(w.classifier, "wcls");
  return w;
}

/// Reads a llama2.c v0 checkpoint file (memory-mapped; the weights are copied out).
inline llm::llama_weights read_llama2c(const std::filesystem::path& path) {
  mapped_file file(path);
  return read_llama2c(file.bytes(), path.string());
}

namespace detail {

/// Emits `w` in llama2.c v0 layout through put(const void*, std::size_t).
template <class Put>
void llama2c_emit(const llm::llama_weights& w, Put&& put) {
  w.validate();
  const auto& c = w.config;
  if (c.rope != llm::rope_style::interleaved || c.rope_theta != 10000.0f || c.rms_norm_eps != 1e-5f)
    throw option_error(
        "llama2.c format stores only interleaved RoPE with theta 10000 and rms_norm_eps 1e-5; "
        "this model has " +
        std::string(c.rope == llm::rope_style::interleaved ? "interleaved" : "half_split") +
        " RoPE, theta " + std::to_string(c.rope_theta) + ", eps " + std::to_string(c.rms_norm_eps));
  const index_t values[7] = {c.dim,        c.hidden_dim, c.n_layers, c.n_heads,
                             c.n_kv_heads, c.vocab_size, c.seq_len};
  for (index_t v : values)
    if (v > std::numeric_limits<std::int32_t>::max())
      throw option_error("llama2.c format: header value " + std::to_string(v) +
                         " does not fit in int32");
  for (int i = 0; i < 7; ++i) {
    auto v = static_cast<std::int32_t>(values[i]);
    if (i == 5 && !c.tied_classifier) v = -v;
    put(&v, sizeof v);
  }
  auto put_m = [&](const auto& m) {
    put(m.data(), static_cast<std::size_t>(m.size()) * sizeof(float));
  };
  put_m(w.token_embedding);
  for (const auto& l : w.layers) put_m(l.attn_norm);
  for (const auto& l : w.layers) put_m(l.wq);
  for (const auto& l : w.layers) put_m(l.wk);
  for (const auto& l : w.layers) put_m(l.wv);
  for (const auto& l : w.layers) put_m(l.wo);
  for (const auto& l : w.layers) put_m(l.ffn_norm);
  for (const auto& l : w.layers) put_m(l.w1);
  for (const auto& l : w.layers) put_m(l.w2);
  for (const auto& l : w.layers) put_m(l.w3);
  put_m(w.final_norm);
  const index_t hs = c.head_size(), half = hs / 2;
  std::vector<float> row(static_cast<std::size_t>(half));
  for (int part = 0; part < 2; ++part)
    for (index_t t = 0; t < c.seq_len; ++t) {
      for (index_t i = 0; i < half; ++i) {
        const double angle =
            static_cast<double>(t) *
            std::pow(10000.0, -static_cast<double>(2 * i) / static_cast<double>(hs));
        row[static_cast<std::size_t>(i)] =
            static_cast<float>(part == 0 ? std::cos(angle) : std::sin(angle));
      }
      put(row.data(), row.size() * sizeof(float));
    }
  if (!c.tied_classifier) put_m(w.classifier);
}

}  // namespace detail

/// Serialises `w` as a llama2.c v0 checkpoint (the freq_cis tables are recomputed as llama2.c's
/// export does: cos/sin(pos * 10000^(-2i/head_size))). Throws option_error for a model the
/// format cannot describe (rope style, theta or epsilon other than llama2.c's, or a size beyond
/// int32), shape_error when the tensors do not match the config.
inline std::vector<std::byte> llama2c_bytes(const llm::llama_weights& w) {
  std::vector<std::byte> out;
  detail::llama2c_emit(w, [&](const void* p, std::size_t n) {
    const auto* b = static_cast<const std::byte*>(p);
    out.insert(out.end(), b, b + n);
  });
  return out;
}

/// Writes `w` as a llama2.c v0 checkpoint at `path`, through a temporary renamed on success
/// (a model the format cannot describe throws before the temporary holds any weight).
inline void write_llama2c(const llm::llama_weights& w, const std::filesystem::path& path) {
  atomic_file file(path);
  detail::llama2c_emit(w, [&](const void* p, std::size_t n) { file.write(p, n); });
  file.commit();
}

}  // namespace pollard::io
