// pollard — the windows the streaming evaluations cut a token stream into.
#pragma once

#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/token_id.hpp"
#include "pollard/evaluation/evaluation_options.hpp"
#include "pollard/model/causal_lm.hpp"

namespace pollard::evaluation {

/// The window length the options ask for on a model of context `context`: options.window, or
/// min(2048, context) when 0. Throws option_error for fewer than 2 tokens or more than context.
inline index_t window_length(index_t context, const evaluation_options& options) {
  const index_t w = options.window > 0 ? options.window : std::min<index_t>(2048, context);
  if (w < 2)
    throw option_error("evaluation: the window must hold at least 2 tokens, got " +
                       std::to_string(w));
  if (w > context)
    throw option_error("evaluation: window " + std::to_string(w) + " exceeds the model's context " +
                       std::to_string(context));
  return w;
}

/// The rows of a window whose predictions are scored (row r predicts token r + 1): all of them
/// under the windows protocol, the second half under llama.cpp's.
inline model::row_range scored_rows(index_t window, const evaluation_options& options) {
  const index_t first = options.protocol == perplexity_protocol::llama_cpp_chunks ? window / 2 : 0;
  return {first, window - 1};
}

/// One line naming the protocol, the window and the scored positions, for every report.
inline std::string protocol_description(index_t window, const evaluation_options& options) {
  const auto rows = scored_rows(window, options);
  const std::string scored = "positions " + std::to_string(rows.begin + 1) + ".." +
                             std::to_string(rows.end) + " of each scored";
  if (options.protocol == perplexity_protocol::llama_cpp_chunks)
    return "llama.cpp chunks of " + std::to_string(window) + " tokens (" +
           (options.chunk_bos ? "BOS at each chunk start" : "no BOS inserted") + ", " + scored +
           ")";
  return "SparseGPT/Wanda windows of " + std::to_string(window) + " tokens (no BOS inserted, " +
         scored + ")";
}

/// Calls f(window_tokens) for each non-overlapping window of `window` tokens (the last partial
/// window dropped, at most options.max_windows), reporting progress; returns the window count.
/// Under llama.cpp's protocol with a chunk_bos, f sees a copy whose first token is that BOS.
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
  const bool replace_first =
      options.protocol == perplexity_protocol::llama_cpp_chunks && options.chunk_bos.has_value();
  std::vector<token_id> chunk;
  for (index_t w = 0; w < windows; ++w) {
    const auto seq =
        tokens.subspan(static_cast<std::size_t>(w * window), static_cast<std::size_t>(window));
    if (replace_first) {
      chunk.assign(seq.begin(), seq.end());
      chunk.front() = *options.chunk_bos;
      f(std::span<const token_id>(chunk));
    } else {
      f(seq);
    }
    if (options.progress) options.progress(w + 1, windows);
  }
  return windows;
}

}  // namespace pollard::evaluation
