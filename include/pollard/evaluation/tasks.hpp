// pollard — task metrics on instruction data: greedy answers of an incremental_lm to
// "{instruction} {input}" scored against the reference output by exact match, token F1 and
// ROUGE-1 F.
#pragma once

#include <algorithm>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/token_id.hpp"
#include "pollard/evaluation/evaluation_options.hpp"
#include "pollard/evaluation/generate.hpp"
#include "pollard/evaluation/instruction_prompt.hpp"
#include "pollard/evaluation/text_tokenizer.hpp"
#include "pollard/io/instruction_example.hpp"
#include "pollard/metrics/perplexity.hpp"
#include "pollard/metrics/task_metrics.hpp"
#include "pollard/model/causal_lm.hpp"

namespace pollard::evaluation {

/// Mean ± standard error of one task metric over the examples.
using task_metric_summary = mean_with_error;

struct task_evaluation {
  index_t examples = 0;
  task_metric_summary exact_match, token_f1, rouge1;
};

struct task_options {
  index_t max_new_tokens = 64;
  progress_callback progress;
  /// Called with each example's greedy answer (e.g. to print or store them).
  std::function<void(const io::instruction_example&, const std::string& answer)> on_answer;
};

/// Greedy-decodes an answer to each example's prompt (instruction_prompt, BOS first when the
/// model expects it; the prompt keeps its last tokens when it would not leave room for the
/// answer in the context), stops at the tokenizer's stop tokens, and scores the trimmed answer
/// against the reference output.
template <model::incremental_lm M, text_tokenizer Tokenizer>
task_evaluation evaluate_instruction_tasks(M& lm, const Tokenizer& tok,
                                           std::span<const io::instruction_example> examples,
                                           const task_options& options = {}) {
  const index_t context = model::context_length(lm);
  if (options.max_new_tokens < 1 || options.max_new_tokens >= context)
    throw option_error("task evaluation: max_new_tokens must be in [1, " +
                       std::to_string(context - 1) + "], got " +
                       std::to_string(options.max_new_tokens));
  if (examples.empty()) throw option_error("task evaluation: no examples");
  generate_options g;
  g.max_new_tokens = options.max_new_tokens;
  g.sampling.temperature = 0.0f;
  g.stop_tokens = tok.stop_tokens();
  pollard::detail::metric_moments em, f1, rouge;
  index_t done = 0;
  for (const auto& e : examples) {
    std::vector<token_id> prompt = tok.encode(instruction_prompt(e), tok.adds_bos());
    const auto room = static_cast<std::size_t>(context - options.max_new_tokens);
    if (prompt.size() > room)
      prompt.erase(prompt.begin(), prompt.end() - static_cast<std::ptrdiff_t>(room));
    if (prompt.empty() && tok.bos()) prompt.push_back(*tok.bos());
    std::vector<token_id> answer = generate(lm, prompt, g);
    if (!answer.empty() &&
        std::find(g.stop_tokens.begin(), g.stop_tokens.end(), answer.back()) != g.stop_tokens.end())
      answer.pop_back();
    std::string text = tok.decode(answer, prompt.back());
    const auto first = text.find_first_not_of(" \t\r\n");
    const auto last = text.find_last_not_of(" \t\r\n");
    text = first == std::string::npos ? std::string() : text.substr(first, last - first + 1);
    em.add(exact_match(text, e.output));
    f1.add(token_f1(text, e.output));
    rouge.add(rouge1_f(text, e.output));
    if (options.on_answer) options.on_answer(e, text);
    if (options.progress) options.progress(++done, static_cast<index_t>(examples.size()));
  }
  const auto summary = [](const pollard::detail::metric_moments& m) { return m.summary(); };
  return {static_cast<index_t>(examples.size()), summary(em), summary(f1), summary(rouge)};
}

}  // namespace pollard::evaluation
