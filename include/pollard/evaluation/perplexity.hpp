// pollard — perplexity of a causal_lm over non-overlapping windows of a token stream, streaming
// the logits a few rows at a time so memory stays bounded.
#pragma once

#include <span>
#include <string>

#include "pollard/core/config.hpp"
#include "pollard/core/token_id.hpp"
#include "pollard/evaluation/evaluation_options.hpp"
#include "pollard/evaluation/windows.hpp"
#include "pollard/metrics/perplexity.hpp"
#include "pollard/model/causal_lm.hpp"

namespace pollard::evaluation {

/// What evaluate_perplexity measured, with the protocol that produced it.
struct perplexity_evaluation {
  perplexity_result result;
  index_t window = 0;
  index_t windows = 0;
  /// protocol_description(): the protocol, window and scored positions, for the report.
  std::string protocol;
};

/// Perplexity of `tokens` cut into non-overlapping windows of the chosen length (a last partial
/// window is dropped, as SparseGPT's, Wanda's and llama.cpp's evaluations do). Under the windows
/// protocol the model predicts tokens 1..L-1 of each window from the tokens before them; under
/// llama.cpp's, the first token of each chunk is options.chunk_bos (when set) and only tokens
/// L/2+1..L-1 are scored (tools/perplexity/perplexity.cpp, perplexity()).
template <model::causal_lm M>
perplexity_evaluation evaluate_perplexity(M& lm, std::span<const token_id> tokens,
                                          const evaluation_options& options = {}) {
  const index_t window = window_length(model::context_length(lm), options);
  const model::row_range rows = scored_rows(window, options);
  perplexity_accumulator acc;
  const index_t windows = for_each_window(
      tokens, window, options, "evaluate_perplexity", [&](std::span<const token_id> seq) {
        model::for_each_logits(
            lm, seq, model::sequence_layout{1, window}, rows, options.logits_rows,
            [&](index_t first, matrix_view<const float> logits) {
              acc.add_logits(logits, seq.subspan(static_cast<std::size_t>(first + 1),
                                                 static_cast<std::size_t>(logits.rows())));
            });
      });
  return {acc.result(), window, windows, protocol_description(window, options)};
}

}  // namespace pollard::evaluation
