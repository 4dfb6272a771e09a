// pollard — the llama2.c v0 ("legacy") checkpoint format: parsing in place and writing. The
// mapping to a model's weights lives with the model (llm/llama2c_model.hpp).
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

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/io/atomic_file.hpp"
#include "pollard/io/byte_reader.hpp"

namespace pollard::io {

/// The seven header values of a llama2.c v0 checkpoint, vocab_size as stored (negative: a
/// separate classifier follows).
struct llama2c_header {
  std::int32_t dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, vocab_size = 0,
               seq_len = 0;

  bool shared_classifier() const noexcept { return vocab_size > 0; }
  index_t vocabulary() const noexcept {
    return vocab_size > 0 ? vocab_size : -static_cast<index_t>(vocab_size);
  }
  index_t head_size() const noexcept { return dim / n_heads; }
  index_t kv_dim() const noexcept { return head_size() * n_kv_heads; }
};

/// The per-layer tensors, in file order (each stacked over the layers).
inline constexpr std::array<const char*, 9> llama2c_layer_tensors = {
    "rms_att_weight", "wq", "wk", "wv", "wo", "rms_ffn_weight", "w1", "w2", "w3"};

/// A llama2.c checkpoint parsed in place: the header and the bytes of every tensor (little-endian
/// fp32, not necessarily aligned; copy them out with copy_floats). Views into the parsed bytes.
struct llama2c_contents {
  llama2c_header header;
  std::span<const std::byte> token_embedding, rms_final_weight, wcls;
  /// The RoPE tables as stored: [seq_len x head_size/2] each.
  std::span<const std::byte> freq_cis_real, freq_cis_imag;
  std::array<std::span<const std::byte>, 9> layer_tensors;  ///< in llama2c_layer_tensors order

  /// The bytes of per-layer tensor `name` (one of llama2c_layer_tensors) for all layers.
  std::span<const std::byte> layer_tensor(std::string_view name) const {
    for (std::size_t i = 0; i < llama2c_layer_tensors.size(); ++i)
      if (name == llama2c_layer_tensors[i]) return layer_tensors[i];
    throw option_error("llama2.c: no per-layer tensor " + std::string(name));
  }

  /// Copies floats [first, first + count) of a tensor's bytes into dst.
  static void copy_floats(std::span<const std::byte> tensor, std::size_t first, std::size_t count,
                          float* dst) {
    if (count > 0) std::memcpy(dst, tensor.data() + first * sizeof(float), count * sizeof(float));
  }
};

/// Parses a llama2.c v0 checkpoint held in memory. `what` names it in error messages. Every
/// header value is checked (positive, n_heads divides dim, n_kv_heads divides n_heads, even head
/// size) and the byte count implied by the header must equal the size exactly; anything else
/// throws format_error.
inline llama2c_contents parse_llama2c(std::span<const std::byte> bytes,
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
  llama2c_contents c;
  c.header = {h[0], h[1], h[2], h[3], h[4], h[5], h[6]};
  const llama2c_header& hd = c.header;
  if (hd.dim % hd.n_heads != 0)
    r.fail("header n_heads " + std::to_string(hd.n_heads) + " does not divide dim " +
           std::to_string(hd.dim));
  if (hd.n_heads % hd.n_kv_heads != 0)
    r.fail("header n_kv_heads " + std::to_string(hd.n_kv_heads) + " does not divide n_heads " +
           std::to_string(hd.n_heads));
  if (hd.head_size() % 2 != 0)
    r.fail("head size " + std::to_string(hd.head_size()) + " (dim / n_heads) is odd");

  const auto d = static_cast<std::size_t>(hd.dim), hdim = static_cast<std::size_t>(hd.hidden_dim),
             L = static_cast<std::size_t>(hd.n_layers),
             V = static_cast<std::size_t>(hd.vocabulary()),
             kv = static_cast<std::size_t>(hd.kv_dim()), T = static_cast<std::size_t>(hd.seq_len),
             half = static_cast<std::size_t>(hd.head_size() / 2);
  auto mul = [&](std::size_t a, std::size_t b) { return checked_multiply(a, b, what); };
  auto add = [&](std::size_t a, std::size_t b) { return checked_add(a, b, what); };
  // Floats per layer of each per-layer tensor, in file order.
  const std::size_t per_layer[9] = {d, mul(d, d),    mul(kv, d),   mul(kv, d),  mul(d, d),
                                    d, mul(hdim, d), mul(d, hdim), mul(hdim, d)};
  std::size_t floats = mul(V, d);
  for (std::size_t n : per_layer) floats = add(floats, mul(L, n));
  floats = add(floats, d);
  floats = add(floats, mul(mul(2, T), half));
  if (!hd.shared_classifier()) floats = add(floats, mul(V, d));
  const std::size_t expected = add(r.offset(), mul(floats, sizeof(float)));
  if (expected != bytes.size())
    r.fail("the header implies " + std::to_string(expected) + " bytes but the file has " +
           std::to_string(bytes.size()));

  auto take = [&](std::size_t count, const std::string& field) {
    return r.read_bytes(count * sizeof(float), field);
  };
  c.token_embedding = take(V * d, "token_embedding");
  for (std::size_t i = 0; i < 9; ++i)
    c.layer_tensors[i] = take(L * per_layer[i], llama2c_layer_tensors[i]);
  c.rms_final_weight = take(d, "rms_final_weight");
  c.freq_cis_real = take(T * half, "freq_cis_real");
  c.freq_cis_imag = take(T * half, "freq_cis_imag");
  if (!hd.shared_classifier()) c.wcls = take(V * d, "wcls");
  return c;
}

/// Hands the writer the floats of tensor `name` ("token_embedding", a per-layer tensor with its
/// layer, "rms_final_weight", "freq_cis_real", "freq_cis_imag" or "wcls"; layer is -1 for the
/// whole-model tensors). An empty span for a freq_cis table has the writer compute it.
using llama2c_tensor_source =
    std::function<std::span<const float>(std::string_view name, index_t layer)>;

namespace detail {

/// Emits a checkpoint through put(const void*, std::size_t): the header, the tensors from
/// `tensor` in file order; a freq_cis table the source gives empty is computed as llama2.c's
/// export does (cos/sin(pos * 10000^(-2i/head_size))).
template <class Put>
void llama2c_emit(const llama2c_header& h, const llama2c_tensor_source& tensor, Put&& put) {
  const std::int32_t values[7] = {h.dim,        h.hidden_dim, h.n_layers, h.n_heads,
                                  h.n_kv_heads, h.vocab_size, h.seq_len};
  put(values, sizeof values);
  auto put_floats = [&](std::span<const float> f) { put(f.data(), f.size() * sizeof(float)); };
  put_floats(tensor("token_embedding", -1));
  for (const char* name : llama2c_layer_tensors)
    for (index_t l = 0; l < h.n_layers; ++l) put_floats(tensor(name, l));
  put_floats(tensor("rms_final_weight", -1));
  const index_t hs = h.head_size(), half = hs / 2;
  std::vector<float> row(static_cast<std::size_t>(half));
  for (int part = 0; part < 2; ++part) {
    const auto stored = tensor(part == 0 ? "freq_cis_real" : "freq_cis_imag", -1);
    if (!stored.empty()) {
      put_floats(stored);
      continue;
    }
    for (index_t t = 0; t < h.seq_len; ++t) {
      for (index_t i = 0; i < half; ++i) {
        const double angle =
            static_cast<double>(t) *
            std::pow(10000.0, -static_cast<double>(2 * i) / static_cast<double>(hs));
        row[static_cast<std::size_t>(i)] =
            static_cast<float>(part == 0 ? std::cos(angle) : std::sin(angle));
      }
      put(row.data(), row.size() * sizeof(float));
    }
  }
  if (!h.shared_classifier()) put_floats(tensor("wcls", -1));
}

}  // namespace detail

/// Serialises a checkpoint to bytes; the source must give tensors of the sizes the header implies.
inline std::vector<std::byte> llama2c_bytes(const llama2c_header& h,
                                            const llama2c_tensor_source& tensor) {
  std::vector<std::byte> out;
  detail::llama2c_emit(h, tensor, [&](const void* p, std::size_t n) {
    const auto* b = static_cast<const std::byte*>(p);
    out.insert(out.end(), b, b + n);
  });
  return out;
}

/// Writes a checkpoint at `path` through a temporary renamed on success.
inline void write_llama2c(const llama2c_header& h, const llama2c_tensor_source& tensor,
                          const std::filesystem::path& path) {
  atomic_file file(path);
  detail::llama2c_emit(h, tensor, [&](const void* p, std::size_t n) { file.write(p, n); });
  file.commit();
}

}  // namespace pollard::io
