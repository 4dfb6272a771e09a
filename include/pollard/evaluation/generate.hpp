// pollard — autoregressive generation with any incremental_lm: prompt tokens in, new tokens out.
#pragma once

#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/token_id.hpp"
#include "pollard/evaluation/sampler.hpp"
#include "pollard/model/causal_lm.hpp"

namespace pollard::evaluation {

struct generate_options {
  index_t max_new_tokens = 256;
  /// Generation ends after one of these is produced (none by default: a tokenizer's
  /// stop_tokens() are the usual choice; llama2.c's runner stops on BOS, id 1).
  std::vector<token_id> stop_tokens = {};
  sampler_options sampling = {};
};

/// Feeds `prompt` (non-empty; include BOS yourself) through the model in one pass, then samples
/// up to max_new_tokens tokens one at a time; returns the new tokens, ending with the stop token
/// when one was produced. The repetition penalty sees the prompt and every new token.
template <model::incremental_lm M>
std::vector<token_id> generate(M& lm, std::span<const token_id> prompt,
                               const generate_options& options) {
  if (prompt.empty()) throw option_error("generate: the prompt is empty (start it with BOS)");
  if (options.max_new_tokens < 0)
    throw option_error("generate: max_new_tokens must be >= 0, got " +
                       std::to_string(options.max_new_tokens));
  std::vector<token_id> out;
  if (options.max_new_tokens == 0) return out;
  sampler pick(options.sampling);
  const auto prompt_len = static_cast<index_t>(prompt.size());
  auto state = model::start_sequence(lm, prompt_len + options.max_new_tokens - 1);
  std::vector<token_id> history(prompt.begin(), prompt.end());
  std::span<const float> logits = model::extend(lm, state, prompt);
  out.reserve(static_cast<std::size_t>(options.max_new_tokens));
  for (;;) {
    const token_id next = pick.sample(logits, history);
    out.push_back(next);
    history.push_back(next);
    if (std::find(options.stop_tokens.begin(), options.stop_tokens.end(), next) !=
            options.stop_tokens.end() ||
        static_cast<index_t>(out.size()) == options.max_new_tokens)
      break;
    logits = model::extend(lm, state, std::span<const token_id>(&next, 1));
  }
  return out;
}

}  // namespace pollard::evaluation
