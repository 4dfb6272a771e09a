// pollard CLI — `pollard info`: what a checkpoint holds (format, architecture, tensors with
// their shapes and stored types, parameter count, tokenizer).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "command_line.hpp"
#include "common.hpp"
#include "pollard/io/gguf.hpp"
#include "pollard/llm/gguf_model.hpp"
#include "pollard/llm/llama_model.hpp"
#include "pollard/llm/model_file.hpp"
#include "pollard/metrics/sparsity.hpp"

namespace pollard::cli {

namespace detail {

struct tensor_row {
  std::string name;
  std::vector<std::uint64_t> shape;  // outermost first
  std::string type;
};

inline std::string shape_text(const std::vector<std::uint64_t>& shape) {
  std::string s;
  for (std::size_t k = 0; k < shape.size(); ++k) s += (k ? " x " : "") + std::to_string(shape[k]);
  return s.empty() ? "scalar" : s;
}

/// 1234567 -> "1,234,567".
inline std::string grouped(std::uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t k = 0; k < digits.size(); ++k) {
    if (k && (digits.size() - k) % 3 == 0) out += ',';
    out += digits[k];
  }
  return out;
}

inline void print_config(const llm::llama_config& c) {
  std::printf("architecture: llama\n");
  std::printf("  dim            %lld\n", static_cast<long long>(c.dim));
  std::printf("  hidden_dim     %lld\n", static_cast<long long>(c.hidden_dim));
  std::printf("  layers         %lld\n", static_cast<long long>(c.n_layers));
  std::printf("  heads          %lld\n", static_cast<long long>(c.n_heads));
  std::printf("  kv_heads       %lld\n", static_cast<long long>(c.n_kv_heads));
  std::printf("  head_size      %lld\n", static_cast<long long>(c.head_size()));
  std::printf("  vocab_size     %lld\n", static_cast<long long>(c.vocab_size));
  std::printf("  context        %lld\n", static_cast<long long>(c.seq_len));
  std::printf("  rope_theta     %g\n", static_cast<double>(c.rope_theta));
  std::printf("  rope_pairing   %s\n",
              c.rope == llm::rope_style::interleaved ? "interleaved" : "half-split");
  std::printf("  rope_scaling   %s", llm::name_of(c.scaling.type));
  if (c.scaling.type != llm::rope_scaling_type::none) std::printf(" (factor %g)", c.scaling.factor);
  std::printf("\n");
  std::printf("  norm_eps       %g\n", static_cast<double>(c.rms_norm_eps));
  std::printf("  tied           %s\n", c.tied_classifier ? "yes" : "no");
}

inline void print_tensors(const std::vector<tensor_row>& rows) {
  // A name read from the file may hold control characters: it is printed escaped.
  std::vector<std::string> names;
  std::size_t name_width = 4, shape_width = 5;
  for (const auto& r : rows) {
    names.push_back(printable(r.name));
    name_width = std::max(name_width, names.back().size());
    shape_width = std::max(shape_width, shape_text(r.shape).size());
  }
  std::printf("tensors: %zu (shape outermost first)\n", rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i)
    std::printf("  %-*s  %-*s  %s\n", static_cast<int>(name_width), names[i].c_str(),
                static_cast<int>(shape_width), shape_text(rows[i].shape).c_str(),
                rows[i].type.c_str());
}

inline void print_tokenizer(const std::optional<llm::text_tokenizer>& tok, const std::string& why) {
  if (!tok) {
    std::printf("tokenizer: none (%s)\n", printable(why).c_str());
    return;
  }
  const auto id = [](std::optional<llm::token_id> t) {
    return t ? std::to_string(*t) : std::string("none");
  };
  const auto pre = tok->pre_tokenizer();
  std::printf("tokenizer: %s (bos %s, eos %s, adds bos: %s%s)\n", std::string(tok->kind()).c_str(),
              id(tok->bos()).c_str(), id(tok->eos()).c_str(), tok->adds_bos() ? "yes" : "no",
              pre ? (", pre-tokenizer " + printable(*pre)).c_str() : "");
}

/// Parameters of a model held as float weights (every tensor a model uses; no RoPE tables).
inline std::uint64_t parameter_count(const llm::llama_weights& w) {
  auto n = static_cast<std::uint64_t>(w.token_embedding.size() + w.final_norm.size() +
                                      w.classifier.size());
  for (const auto& l : w.layers)
    n += static_cast<std::uint64_t>(l.attn_norm.size() + l.ffn_norm.size() + l.wq.size() +
                                    l.wk.size() + l.wv.size() + l.wo.size() + l.w1.size() +
                                    l.w2.size() + l.w3.size());
  for (const auto& l : w.layers)
    for (const auto& b : l.biases) n += static_cast<std::uint64_t>(b.size());
  return n;
}

inline void print_parameters(std::uint64_t n) {
  std::printf("parameters: %s (%.2f M)\n", grouped(n).c_str(), static_cast<double>(n) / 1e6);
}

inline int info_gguf(const fs::path& path) {
  const io::gguf_file file(path);
  const llm::llama_config config = llm::llama_config_from_gguf(file);
  std::printf("model: %s\n", printable(path.string()).c_str());
  std::printf("format: GGUF v%u (%s bytes)\n", static_cast<unsigned>(file.version()),
              grouped(static_cast<std::uint64_t>(fs::file_size(path))).c_str());
  print_config(config);
  std::vector<tensor_row> rows;
  std::uint64_t parameters = 0;
  for (const auto& t : file.tensors()) {
    rows.push_back({t.name, std::vector<std::uint64_t>(t.dims.rbegin(), t.dims.rend()),
                    io::ggml_type_name(t.type)});
    parameters += t.elements();
  }
  print_parameters(parameters);
  std::optional<llm::text_tokenizer> tok;
  std::string why;
  try {
    tok.emplace(llm::load_gguf_text_tokenizer(file));
    warn_if_no_gguf_pre_tokenizer(file, path);
  } catch (const error& e) {
    why = without_internal_prefixes(e.what());
  }
  print_tokenizer(tok, why);
  print_tensors(rows);
  return 0;
}

inline int info_llama2c(const fs::path& path, const std::optional<fs::path>& tokenizer) {
  if (tokenizer) io::require_regular_file(*tokenizer, "tokenizer ");
  const llm::model_file m = open_model_file(path, tokenizer);
  const auto& c = m.weights.config;
  std::printf("model: %s\n", printable(path.string()).c_str());
  std::printf("format: llama2.c v0 (%s bytes)\n",
              grouped(static_cast<std::uint64_t>(fs::file_size(path))).c_str());
  print_config(c);
  print_parameters(parameter_count(m.weights));
  print_tokenizer(m.tokenizer, "no tokenizer.bin or tok" + std::to_string(c.vocab_size) +
                                   ".bin beside the model; give --tokenizer");
  // The v0 layout, in file order; every tensor is stored as f32 with all layers stacked.
  const auto L = static_cast<std::uint64_t>(c.n_layers), d = static_cast<std::uint64_t>(c.dim),
             h = static_cast<std::uint64_t>(c.hidden_dim),
             kv = static_cast<std::uint64_t>(c.kv_dim()),
             v = static_cast<std::uint64_t>(c.vocab_size),
             s = static_cast<std::uint64_t>(c.seq_len),
             half = static_cast<std::uint64_t>(c.head_size() / 2);
  std::vector<tensor_row> rows = {{"token_embedding_table", {v, d}, "f32"},
                                  {"rms_att_weight", {L, d}, "f32"},
                                  {"wq", {L, d, d}, "f32"},
                                  {"wk", {L, kv, d}, "f32"},
                                  {"wv", {L, kv, d}, "f32"},
                                  {"wo", {L, d, d}, "f32"},
                                  {"rms_ffn_weight", {L, d}, "f32"},
                                  {"w1", {L, h, d}, "f32"},
                                  {"w2", {L, d, h}, "f32"},
                                  {"w3", {L, h, d}, "f32"},
                                  {"rms_final_weight", {d}, "f32"},
                                  {"freq_cis_real", {s, half}, "f32"},
                                  {"freq_cis_imag", {s, half}, "f32"}};
  if (!c.tied_classifier) rows.push_back({"wcls", {v, d}, "f32"});
  print_tensors(rows);
  return 0;
}

/// The N:M patterns every row of w satisfies, strongest N first for M = 4 and 8 (e.g. "2:4
/// 4:8"); "-" when none.
inline std::string n_m_patterns(matrix_view<const float> w) {
  std::string out;
  for (const index_t m : {4, 8}) {
    if (w.cols() % m != 0) continue;
    for (index_t n = m - 1; n >= 1; --n)
      if (satisfies_n_m(w, n, m)) {
        out += (out.empty() ? "" : " ") + std::to_string(n) + ":" + std::to_string(m);
        break;
      }
  }
  return out.empty() ? "-" : out;
}

/// The sparsity (exact zeros of the values as read, after dequantization) and N:M validity of
/// every linear of every block, named as pollard prune names them, and of all of them together.
inline void print_linear_sparsity(llm::llama_weights& weights) {
  std::printf(
      "linear sparsity (exact zeros of the values as read; N:M = at least N zeros in every\n"
      "aligned group of M columns of every row):\n");
  // One row per matrix: name, shape, fraction of zeros, N:M patterns; returns the zero count.
  const auto row = [](const std::string& name, const matrix_view<const float> w) {
    const index_t z = zero_count(w);
    std::printf("  %-18s %6lldx%-6lld  %.4f  %s\n", name.c_str(), static_cast<long long>(w.rows()),
                static_cast<long long>(w.cols()),
                w.size() ? static_cast<double>(z) / static_cast<double>(w.size()) : 0.0,
                n_m_patterns(w).c_str());
    return z;
  };
  std::uint64_t zeros = 0, total = 0;
  for (index_t b = 0; b < static_cast<index_t>(weights.layers.size()); ++b)
    for (const auto& l : llm::llama_linear_refs(weights.layers[static_cast<std::size_t>(b)], b)) {
      const matrix_view<const float> w(l.weight);
      zeros += static_cast<std::uint64_t>(row(l.name, w));
      total += static_cast<std::uint64_t>(w.size());
    }
  std::printf("all linears: %.4f of %s weights are zero\n",
              total ? static_cast<double>(zeros) / static_cast<double>(total) : 0.0,
              grouped(total).c_str());
  // The tables prune --include-embeddings / --include-classifier prune, not among the linears.
  std::printf("tables:\n");
  row("token_embd", llm::view_of(std::as_const(weights.token_embedding)));
  if (weights.config.tied_classifier)
    std::printf("  %-18s the embedding table (tied weights)\n", "output");
  else
    row("output", llm::view_of(std::as_const(weights.classifier)));
  // NaN and infinity are counted in every tensor (norms and embeddings too): a model holding
  // one computes non-finite outputs.
  std::uint64_t non_finite = 0;
  for_each_weight_tensor(
      weights, [&](const std::string& name, index_t rows, index_t cols, const float* data) {
        const auto n = static_cast<std::uint64_t>(
            std::count_if(data, data + rows * cols, [](float v) { return !std::isfinite(v); }));
        if (n > 0)
          std::printf("non-finite: %s holds %s NaN or infinite values\n", name.c_str(),
                      grouped(n).c_str());
        non_finite += n;
      });
  if (non_finite > 0)
    std::printf("all tensors: %s non-finite values (first: %s)\n", grouped(non_finite).c_str(),
                first_non_finite_weight(weights)->c_str());
}

}  // namespace detail

struct info_options {
  std::string model;
  std::string tokenizer;
  bool sparsity = false;
};

inline CLI::App* add_info_command(CLI::App& app, info_options& o) {
  CLI::App* c = app.add_subcommand("info", "format, architecture, tensors, parameters, tokenizer");
  c->footer(
      "Prints what a checkpoint holds: its format, the Llama architecture (dim, MLP width, "
      "layers,\n"
      "heads, key/value heads, vocabulary, context, RoPE theta and pairing, RMSNorm epsilon,\n"
      "whether the classifier is tied to the embedding), every tensor with its shape (outermost\n"
      "dimension first, i.e. row-major; GGUF's ne order reversed) and stored type, the parameter\n"
      "count and the tokenizer.");
  c->add_option("MODEL", o.model,
                "a GGUF file (Llama architecture), a llama2.c checkpoint or a Hugging Face Llama "
                "folder")
      ->required();
  add_tokenizer_option(*c, o.tokenizer,
                       "llama2.c tokenizer or Hugging Face tokenizer.json; GGUF files carry their "
                       "own",
                       "tokenizer.bin or tok<vocab>.bin beside the model; tokenizer.json beside "
                       "config.json");
  c->add_flag("--sparsity", o.sparsity,
              "also read every linear (dequantized) and print its sparsity and the N:M patterns\n"
              "(M = 4, 8) it satisfies, e.g. to inspect a pruned model");
  return c;
}

/// Format, architecture, parameters, tokenizer and tensors of the checkpoint at `path`.
inline int describe(const fs::path& path, const std::optional<fs::path>& tokenizer) {
  if (llm::detail::detect_format(path) == llm::model_format::safetensors) {
    const llm::model_file m = open_model_file(path, tokenizer);
    std::printf("model: %s\nformat: safetensors (Hugging Face Llama)\n",
                printable(path.string()).c_str());
    detail::print_config(m.weights.config);
    detail::print_parameters(detail::parameter_count(m.weights));
    detail::print_tokenizer(m.tokenizer, "no tokenizer.json beside config.json; give --tokenizer");
    return 0;
  }
  io::require_regular_file(path);
  if (llm::detail::detect_format(path) == llm::model_format::gguf) {
    if (tokenizer)
      throw usage_error("--tokenizer is for llama2.c checkpoints; a GGUF carries its tokenizer");
    return detail::info_gguf(path);
  }
  return detail::info_llama2c(path, tokenizer);
}

inline int run_info(const info_options& o) {
  const fs::path path = o.model;
  const std::optional<fs::path> tokenizer = optional_path(o.tokenizer);
  check_inputs(model_inputs("MODEL", o.model, {{"--tokenizer", o.tokenizer}}));
  int status = 0;
  try {
    status = describe(path, tokenizer);
  } catch (...) {
    rethrow_saying_if_text(path, tokenizer);
  }
  if (o.sparsity) {
    llm::model_file m = open_model_file(path, tokenizer);
    detail::print_linear_sparsity(m.weights);
  }
  return status;
}

}  // namespace pollard::cli
