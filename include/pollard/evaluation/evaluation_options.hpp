// pollard — the options of the streaming evaluations (perplexity and divergence on windows and on
// instruction data) and the progress callback they report through.
#pragma once

#include <functional>

#include "pollard/core/config.hpp"

namespace pollard::evaluation {

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
};

}  // namespace pollard::evaluation
