// pollard — the options of the streaming evaluations (perplexity and divergence on windows and on
// instruction data) and the progress callback they report through.
#pragma once

#include <functional>
#include <optional>

#include "pollard/core/config.hpp"
#include "pollard/core/token_id.hpp"

namespace pollard::evaluation {

/// How a token stream is cut into windows and which positions are scored: published perplexities
/// differ by protocol, so every report names the one it used.
enum class perplexity_protocol {
  /// SparseGPT's and Wanda's evaluation: non-overlapping windows of the tokens as they are, the
  /// model predicting positions 1..L-1 of each window.
  windows,
  /// llama.cpp's llama-perplexity: non-overlapping chunks of L tokens, the first token of each
  /// chunk replaced by BOS (evaluation_options::chunk_bos, when the vocabulary adds one), only
  /// the second half scored: positions L/2 + 1 .. L-1.
  llama_cpp_chunks,
};

/// Called as work advances: done units out of total.
using progress_callback = std::function<void(index_t done, index_t total)>;

struct evaluation_options {
  /// Window length in tokens; 0 means min(2048, the model's context), the references' choice.
  index_t window = 0;
  /// Evaluate at most this many windows (0: all of them).
  index_t max_windows = 0;
  /// Logits are computed for this many positions at a time, so a whole window's
  /// [window x vocabulary] logits never exist at once.
  index_t logits_rows = 128;
  progress_callback progress;
  perplexity_protocol protocol = perplexity_protocol::windows;
  /// llama_cpp_chunks: the token that replaces each chunk's first token (llama.cpp does so when
  /// the vocabulary's add_bos_token is set); std::nullopt leaves the chunk as it is.
  std::optional<token_id> chunk_bos;
};

}  // namespace pollard::evaluation
