// pollard — the reference Llama engine behind the model concepts: llama_forward is a causal_lm and
// (batched_)incremental_lm through model_traits, and llama_model (mutable weights + a forward pass)
// is also a block_sequential_model whose linears carry their GGUF base names.
#pragma once

#include <algorithm>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "pollard/core/matrix_view.hpp"
#include "pollard/core/token_id.hpp"
#include "pollard/llm/kv_cache.hpp"
#include "pollard/llm/llama_forward.hpp"
#include "pollard/llm/llama_weights.hpp"
#include "pollard/model/block_input.hpp"
#include "pollard/model/block_sequential_model.hpp"
#include "pollard/model/causal_lm.hpp"
#include "pollard/model/linear_ref.hpp"
#include "pollard/model/model_traits.hpp"

namespace pollard::llm {

/// Token rows run through llama_forward: their final-normed hidden states [tokens x dim], from
/// which logits are taken a few rows at a time.
struct llama_prefill_state {
  row_matrix normed_hidden;
};

/// One sequence being decoded by llama_forward: its KV cache and the logits of its last token.
struct llama_sequence_state {
  kv_cache cache;
  std::vector<float> logits;
};

}  // namespace pollard::llm

/// llama_forward as a causal_lm / incremental_lm: prefill computes the final-normed hidden states
/// of every row once, logits classifies the rows asked for.
template <>
struct pollard::model::model_traits<pollard::llm::llama_forward> {
  using forward = pollard::llm::llama_forward;

  static index_t vocab_size(const forward& f) { return f.config().vocab_size; }
  static index_t context_length(const forward& f) { return f.config().seq_len; }

  static llm::llama_prefill_state prefill(forward& f, std::span<const token_id> tokens,
                                          sequence_layout layout) {
    llm::row_matrix hidden = f.embed(tokens);
    for (index_t l = 0; l < f.config().n_layers; ++l) f.run_block(l, hidden, layout);
    f.final_norm(hidden);
    return {std::move(hidden)};
  }
  static void logits(forward& f, const llm::llama_prefill_state& p, row_range rows,
                     matrix_view<float> out) {
    const llm::row_matrix logits = f.classify(p.normed_hidden.middleRows(rows.begin, rows.size()));
    std::copy(logits.data(), logits.data() + logits.size(), out.data());
  }

  static llm::llama_sequence_state start_sequence(forward& f, index_t capacity) {
    return {llm::kv_cache(f.config(), capacity), {}};
  }
  static std::span<const float> extend(forward& f, llm::llama_sequence_state& s,
                                       std::span<const token_id> tokens) {
    const llm::row_matrix logits = f.extend(s.cache, tokens);
    const float* last = logits.row(logits.rows() - 1).data();
    s.logits.assign(last, last + logits.cols());
    return s.logits;
  }
  static void extend_each(forward& f, std::span<llm::llama_sequence_state* const> states,
                          std::span<const token_id> tokens, matrix_view<float> out) {
    std::vector<llm::kv_cache*> caches;
    for (llm::llama_sequence_state* s : states) caches.push_back(&s->cache);
    const llm::row_matrix logits = f.extend_each(caches, tokens);
    std::copy(logits.data(), logits.data() + logits.size(), out.data());
  }
};

namespace pollard::llm {

/// The name of linear l of block b as the model concepts see it: the GGUF base name, e.g.
/// "blk.3.attn_q".
inline std::string llama_linear_name(index_t b, llama_linear l) {
  return "blk." + std::to_string(b) + "." + gguf_name_of(l);
}

/// The four inputs of a Llama block's linears, in llama_linear_input order.
inline std::vector<model::block_input> llama_block_inputs(const llama_config& c) {
  std::vector<model::block_input> out;
  for (const auto in : all_llama_linear_inputs)
    out.push_back({name_of(in), in == llama_linear_input::mlp_out ? c.hidden_dim : c.dim});
  return out;
}

/// The seven linears of `layer` (block b) as named views: q, k, v, o, gate, up, down.
inline std::vector<model::linear_ref> llama_linear_refs(llama_layer_weights& layer, index_t b) {
  std::vector<model::linear_ref> out;
  for (const auto l : all_llama_linears)
    out.push_back(
        {llama_linear_name(b, l), view_of(layer.linear(l)), static_cast<index_t>(input_of(l))});
  return out;
}

/// A Llama-family model the pruning driver can work on: block_sequential_model (blocks, the four
/// inputs attn_in, attn_out, mlp_in, mlp_out, and the seven linears named "blk.{b}.attn_q", ...,
/// "blk.{b}.ffn_down", viewing `weights` in place) and incremental_lm. The weights must outlive
/// the model; writes through the linears' views are what later calls compute with.
class llama_model {
 public:
  explicit llama_model(llama_weights& weights) : w_(&weights), forward_(weights) {}
  explicit llama_model(llama_weights&&) = delete;

  llama_weights& weights() noexcept { return *w_; }
  const llama_config& config() const noexcept { return w_->config; }
  llama_forward& forward() noexcept { return forward_; }

  index_t block_count() const { return config().n_layers; }
  index_t hidden_size() const { return config().dim; }
  /// The inputs in llama_linear_input order.
  std::vector<model::block_input> block_inputs(index_t) const {
    return llama_block_inputs(config());
  }
  /// q, k, v, o, gate, up, down.
  std::vector<model::linear_ref> linears(index_t b) {
    return llama_linear_refs(w_->layers.at(static_cast<std::size_t>(b)), b);
  }
  void embed(std::span<const token_id> tokens, matrix_view<float> hidden) const {
    const row_matrix x = forward_.embed(tokens);
    std::copy(x.data(), x.data() + x.size(), hidden.data());
  }
  void run_block(index_t b, matrix_view<float> hidden, model::sequence_layout layout,
                 model::input_observer observer) {
    if (!observer) return forward_.run_block(b, hidden, layout);
    forward_.run_block(b, hidden, layout,
                       [&](index_t, llama_linear_input in, matrix_view<const float> x) {
                         observer(static_cast<index_t>(in), x);
                       });
  }

  index_t vocab_size() const { return traits::vocab_size(forward_); }
  index_t context_length() const { return traits::context_length(forward_); }
  llama_prefill_state prefill(std::span<const token_id> tokens, model::sequence_layout layout) {
    return traits::prefill(forward_, tokens, layout);
  }
  void logits(const llama_prefill_state& p, model::row_range rows, matrix_view<float> out) {
    traits::logits(forward_, p, rows, out);
  }
  llama_sequence_state start_sequence(index_t capacity) {
    return traits::start_sequence(forward_, capacity);
  }
  std::span<const float> extend(llama_sequence_state& s, std::span<const token_id> tokens) {
    return traits::extend(forward_, s, tokens);
  }
  void extend_each(std::span<llama_sequence_state* const> states, std::span<const token_id> tokens,
                   matrix_view<float> out) {
    traits::extend_each(forward_, states, tokens, out);
  }

 private:
  using traits = model::model_traits<llama_forward>;

  llama_weights* w_;
  llama_forward forward_;
};

}  // namespace pollard::llm
