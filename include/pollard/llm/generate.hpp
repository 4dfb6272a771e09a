// pollard — autoregressive generation with a KV cache: prompt tokens in, new tokens out.
#pragma once

#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/llm/kv_cache.hpp"
#include "pollard/llm/llama2c_tokenizer.hpp"
#include "pollard/llm/llama_forward.hpp"
#include "pollard/llm/sampler.hpp"

namespace pollard::llm {

struct generate_options {
  index_t max_new_tokens = 256;
  /// Generation ends after one of these is produced (llama2.c's runner stops on BOS, id 1).
  std::vector<token_id> stop_tokens = {llama2c_tokenizer::eos};
  sampler_options sampling = {};
};

/// Feeds `prompt` (non-empty; include BOS yourself) through the model in one pass, then samples
/// up to max_new_tokens tokens one at a time; returns the new tokens, ending with the stop token
/// when one was produced. The repetition penalty sees the prompt and every new token.
inline std::vector<token_id> generate(llama_forward& model, std::span<const token_id> prompt,
                                      const generate_options& options) {
  if (prompt.empty()) throw option_error("generate: the prompt is empty (start it with BOS)");
  if (options.max_new_tokens < 0)
    throw option_error("generate: max_new_tokens must be >= 0, got " +
                       std::to_string(options.max_new_tokens));
  std::vector<token_id> out;
  if (options.max_new_tokens == 0) return out;
  sampler pick(options.sampling);
  const auto prompt_len = static_cast<index_t>(prompt.size());
  kv_cache cache(model.config(), prompt_len + options.max_new_tokens - 1);
  std::vector<token_id> history(prompt.begin(), prompt.end());
  row_matrix prompt_logits = model.extend(cache, prompt);
  Eigen::VectorXf logits = prompt_logits.row(prompt_len - 1).transpose();
  out.reserve(static_cast<std::size_t>(options.max_new_tokens));
  for (;;) {
    const token_id next = pick.sample(
        std::span<const float>(logits.data(), static_cast<std::size_t>(logits.size())), history);
    out.push_back(next);
    history.push_back(next);
    if (std::find(options.stop_tokens.begin(), options.stop_tokens.end(), next) !=
            options.stop_tokens.end() ||
        static_cast<index_t>(out.size()) == options.max_new_tokens)
      break;
    logits = model.decode_step(cache, next);
  }
  return out;
}

}  // namespace pollard::llm
