// pollard — the per-token divergence between two causal_lms (P, e.g. dense, and Q, e.g. pruned),
// teacher-forced on corpus windows or on instruction data (response tokens only), streaming the
// logits of both a few rows at a time.
#pragma once

#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/token_id.hpp"
#include "pollard/evaluation/evaluation_options.hpp"
#include "pollard/evaluation/instruction_prompt.hpp"
#include "pollard/evaluation/text_tokenizer.hpp"
#include "pollard/evaluation/windows.hpp"
#include "pollard/io/instruction_example.hpp"
#include "pollard/metrics/divergence.hpp"
#include "pollard/model/causal_lm.hpp"

namespace pollard::evaluation {

namespace detail {

template <model::causal_lm P, model::causal_lm Q>
void check_same_vocabulary(const P& base, const Q& other) {
  if (model::vocab_size(base) != model::vocab_size(other))
    throw shape_error("compare: the models' vocabularies differ (" +
                      std::to_string(model::vocab_size(base)) + " vs " +
                      std::to_string(model::vocab_size(other)) + ")");
}

/// Adds the divergence of rows [rows.begin, rows.end) of one sequence: row r predicts
/// sequence[r + 1]; both models' logits are taken chunk rows at a time.
template <model::causal_lm P, model::causal_lm Q>
void add_divergence(divergence_accumulator& acc, P& base, Q& other,
                    std::span<const token_id> sequence, model::row_range rows, index_t chunk) {
  const model::sequence_layout layout{1, static_cast<index_t>(sequence.size())};
  const auto p = model::prefill(base, sequence, layout);
  const auto q = model::prefill(other, sequence, layout);
  const index_t vocab = model::vocab_size(base);
  std::vector<float> lp, lq;
  for (index_t first = rows.begin; first < rows.end; first += chunk) {
    const index_t count = std::min(chunk, rows.end - first);
    lp.resize(static_cast<std::size_t>(count * vocab));
    lq.resize(lp.size());
    const matrix_view<float> vp(lp.data(), count, vocab), vq(lq.data(), count, vocab);
    model::logits(base, p, model::row_range{first, first + count}, vp);
    model::logits(other, q, model::row_range{first, first + count}, vq);
    acc.add(matrix_view<const float>(vp), matrix_view<const float>(vq),
            sequence.subspan(static_cast<std::size_t>(first + 1), static_cast<std::size_t>(count)));
  }
}

}  // namespace detail

/// The per-token divergence of `other` (Q, e.g. pruned) from `base` (P, dense), teacher-forced on
/// the windows and scored positions evaluate_perplexity would use under the same options (the
/// window length from the base model's context).
template <model::causal_lm P, model::causal_lm Q>
divergence_report compare_on_windows(P& base, Q& other, std::span<const token_id> tokens,
                                     const evaluation_options& options = {}) {
  detail::check_same_vocabulary(base, other);
  const index_t window = window_length(model::context_length(base), options);
  divergence_accumulator acc;
  for_each_window(tokens, window, options, "compare", [&](std::span<const token_id> seq) {
    detail::add_divergence(acc, base, other, seq, scored_rows(window, options),
                           options.logits_rows);
  });
  return acc.report();
}

/// The divergence on instruction data: prompt + reference response teacher-forced, scoring only
/// the positions that predict response tokens. Examples longer than the context are truncated;
/// examples with no response token left are skipped.
template <model::causal_lm P, model::causal_lm Q, text_tokenizer Tokenizer>
divergence_report compare_on_instructions(P& base, Q& other, const Tokenizer& tok,
                                          std::span<const io::instruction_example> examples,
                                          const evaluation_options& options = {}) {
  detail::check_same_vocabulary(base, other);
  const index_t context = window_length(model::context_length(base), options);
  if (options.logits_rows <= 0)
    throw option_error("compare: logits_rows must be positive, got " +
                       std::to_string(options.logits_rows));
  divergence_accumulator acc;
  index_t done = 0;
  for (const auto& e : examples) {
    const instruction_tokens t = tokenize_instruction(tok, e, context);
    const auto n = static_cast<index_t>(t.tokens.size());
    const index_t first = std::max<index_t>(t.response_begin - 1, 0);
    if (first < n - 1)
      detail::add_divergence(acc, base, other, t.tokens, model::row_range{first, n - 1},
                             options.logits_rows);
    if (options.progress) options.progress(++done, static_cast<index_t>(examples.size()));
  }
  return acc.report();
}

}  // namespace pollard::evaluation
