// pollard — model evaluation, streaming so memory stays bounded: perplexity over non-overlapping
// windows of a token stream, and the per-token divergence between a dense and a pruned model,
// teacher-forced on corpus windows or on instruction data (response tokens only).
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/llm/llama_forward.hpp"
#include "pollard/llm/progress.hpp"
#include "pollard/llm/text_datasets.hpp"
#include "pollard/llm/text_tokenizer.hpp"
#include "pollard/metrics/divergence.hpp"
#include "pollard/metrics/perplexity.hpp"

namespace pollard::llm {

struct evaluation_options {
  /// Window length in tokens; 0 means min(2048, the model's context), the references' choice.
  index_t window = 0;
  /// Evaluate at most this many windows (0: all of them).
  index_t max_windows = 0;
  /// Logits are computed for this many positions at a time, so a whole window's
  /// [window x vocabulary] logits never exist at once.
  index_t logits_rows = 128;
  progress_callback progress;
};

/// What evaluate_perplexity measured, with the protocol that produced it.
struct perplexity_evaluation {
  perplexity_result result;
  index_t window = 0;
  index_t windows = 0;
};

namespace detail {

inline index_t window_length(const llama_config& c, const evaluation_options& o) {
  const index_t w = o.window > 0 ? o.window : std::min<index_t>(2048, c.seq_len);
  if (w < 2)
    throw option_error("evaluation: the window must hold at least 2 tokens, got " +
                       std::to_string(w));
  if (w > c.seq_len)
    throw option_error("evaluation: window " + std::to_string(w) + " exceeds the model's context " +
                       std::to_string(c.seq_len));
  return w;
}

/// The final-normed hidden states [tokens x dim] of one sequence; logits are taken from them a
/// chunk of rows at a time, so a whole window's [tokens x vocabulary] logits never exist at once.
inline row_matrix final_hidden(llama_forward& model, std::span<const token_id> tokens) {
  const auto n = static_cast<index_t>(tokens.size());
  row_matrix hidden = model.embed(tokens);
  for (index_t l = 0; l < model.config().n_layers; ++l)
    model.run_block(l, hidden, sequence_layout{1, n});
  model.final_norm(hidden);
  return hidden;
}

inline matrix_view<const float> view_of_logits(const row_matrix& m) {
  return matrix_view<const float>(m.data(), m.rows(), m.cols());
}

/// Calls f(window_tokens) for each non-overlapping window of `window` tokens (the last partial
/// window dropped, at most options.max_windows), reporting progress; returns the window count.
template <class F>
index_t for_each_window(std::span<const token_id> tokens, index_t window,
                        const evaluation_options& options, const char* who, F&& f) {
  if (options.logits_rows <= 0)
    throw option_error(std::string(who) + ": logits_rows must be positive, got " +
                       std::to_string(options.logits_rows));
  index_t windows = static_cast<index_t>(tokens.size()) / window;
  if (options.max_windows > 0) windows = std::min(windows, options.max_windows);
  if (windows == 0)
    throw option_error(std::string(who) + ": " + std::to_string(tokens.size()) +
                       " tokens do not fill one window of " + std::to_string(window));
  for (index_t w = 0; w < windows; ++w) {
    f(tokens.subspan(static_cast<std::size_t>(w * window), static_cast<std::size_t>(window)));
    if (options.progress) options.progress(w + 1, windows);
  }
  return windows;
}

}  // namespace detail

/// Perplexity of `tokens` cut into non-overlapping windows of the chosen length (a last partial
/// window is dropped, as SparseGPT's and Wanda's evaluation do); in each window the model
/// predicts tokens 1..L-1 from the tokens before them within the window.
inline perplexity_evaluation evaluate_perplexity(llama_forward& model,
                                                 std::span<const token_id> tokens,
                                                 const evaluation_options& options = {}) {
  const index_t window = detail::window_length(model.config(), options);
  perplexity_accumulator acc;
  const index_t windows = detail::for_each_window(
      tokens, window, options, "evaluate_perplexity", [&](std::span<const token_id> seq) {
        const row_matrix hidden = detail::final_hidden(model, seq);
        for (index_t r = 0; r < window - 1; r += options.logits_rows) {
          const index_t count = std::min(options.logits_rows, window - 1 - r);
          const row_matrix logits = model.classify(hidden.middleRows(r, count));
          acc.add_logits(
              detail::view_of_logits(logits),
              seq.subspan(static_cast<std::size_t>(r + 1), static_cast<std::size_t>(count)));
        }
      });
  return {acc.result(), window, windows};
}

/// The per-token divergence of `other` (Q, e.g. pruned) from `base` (P, dense), teacher-forced on
/// the windows evaluate_perplexity would use.
inline divergence_report compare_on_windows(llama_forward& base, llama_forward& other,
                                            std::span<const token_id> tokens,
                                            const evaluation_options& options = {}) {
  if (base.config().vocab_size != other.config().vocab_size)
    throw shape_error("compare: the models' vocabularies differ (" +
                      std::to_string(base.config().vocab_size) + " vs " +
                      std::to_string(other.config().vocab_size) + ")");
  const index_t window = detail::window_length(base.config(), options);
  divergence_accumulator acc;
  detail::for_each_window(tokens, window, options, "compare", [&](std::span<const token_id> seq) {
    const row_matrix hidden_p = detail::final_hidden(base, seq);
    const row_matrix hidden_q = detail::final_hidden(other, seq);
    for (index_t r = 0; r < window - 1; r += options.logits_rows) {
      const index_t count = std::min(options.logits_rows, window - 1 - r);
      const row_matrix lp = base.classify(hidden_p.middleRows(r, count));
      const row_matrix lq = other.classify(hidden_q.middleRows(r, count));
      acc.add(detail::view_of_logits(lp), detail::view_of_logits(lq),
              seq.subspan(static_cast<std::size_t>(r + 1), static_cast<std::size_t>(count)));
    }
  });
  return acc.report();
}

/// Prompt text of an instruction example: "{instruction} {input}" (just the instruction when the
/// input is empty), followed by a space before the response.
inline std::string instruction_prompt(const instruction_example& e) {
  return e.input.empty() ? e.instruction : e.instruction + " " + e.input;
}

/// Tokens of prompt + reference response, and where the response starts.
struct instruction_tokens {
  std::vector<token_id> tokens;
  index_t response_begin = 0;
};

inline instruction_tokens tokenize_instruction(const text_tokenizer& tok,
                                               const instruction_example& e, index_t max_tokens) {
  instruction_tokens t;
  t.tokens = tok.encode(instruction_prompt(e), tok.adds_bos());
  t.response_begin = static_cast<index_t>(t.tokens.size());
  const auto response = tok.encode(" " + e.output, false);
  t.tokens.insert(t.tokens.end(), response.begin(), response.end());
  if (static_cast<index_t>(t.tokens.size()) > max_tokens)
    t.tokens.resize(static_cast<std::size_t>(max_tokens));
  return t;
}

/// The divergence on instruction data: prompt + reference response teacher-forced, scoring only
/// the positions that predict response tokens. Examples longer than the context are truncated;
/// examples with no response token left are skipped.
inline divergence_report compare_on_instructions(llama_forward& base, llama_forward& other,
                                                 const text_tokenizer& tok,
                                                 std::span<const instruction_example> examples,
                                                 const evaluation_options& options = {}) {
  const index_t context = detail::window_length(base.config(), options);
  divergence_accumulator acc;
  index_t done = 0;
  for (const auto& e : examples) {
    const auto t = tokenize_instruction(tok, e, context);
    const auto n = static_cast<index_t>(t.tokens.size());
    const index_t first = std::max<index_t>(t.response_begin - 1, 0);
    if (first < n - 1) {
      const row_matrix hp = detail::final_hidden(base, t.tokens);
      const row_matrix hq = detail::final_hidden(other, t.tokens);
      const row_matrix lp = base.classify(hp.middleRows(first, n - 1 - first));
      const row_matrix lq = other.classify(hq.middleRows(first, n - 1 - first));
      acc.add(detail::view_of_logits(lp), detail::view_of_logits(lq),
              std::span<const token_id>(t.tokens).subspan(static_cast<std::size_t>(first + 1)));
    }
    if (options.progress) options.progress(++done, static_cast<index_t>(examples.size()));
  }
  return acc.report();
}

}  // namespace pollard::llm
