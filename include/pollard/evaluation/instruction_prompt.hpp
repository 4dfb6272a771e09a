// pollard — the prompt of an instruction example and its tokens with the reference response.
#pragma once

#include <string>
#include <vector>

#include "pollard/core/config.hpp"
#include "pollard/core/token_id.hpp"
#include "pollard/evaluation/text_tokenizer.hpp"
#include "pollard/io/instruction_example.hpp"

namespace pollard::evaluation {

/// Prompt text of an instruction example: "{instruction} {input}" (just the instruction when the
/// input is empty), followed by a space before the response.
inline std::string instruction_prompt(const io::instruction_example& e) {
  return e.input.empty() ? e.instruction : e.instruction + " " + e.input;
}

/// Tokens of prompt + reference response, and where the response starts.
struct instruction_tokens {
  std::vector<token_id> tokens;
  index_t response_begin = 0;
};

/// The prompt (BOS first when the tokenizer adds one) and " " + the reference response, cut to
/// at most max_tokens.
template <text_tokenizer Tokenizer>
instruction_tokens tokenize_instruction(const Tokenizer& tok, const io::instruction_example& e,
                                        index_t max_tokens) {
  instruction_tokens t;
  t.tokens = tok.encode(instruction_prompt(e), tok.adds_bos());
  t.response_begin = static_cast<index_t>(t.tokens.size());
  const std::vector<token_id> response = tok.encode(" " + e.output, false);
  t.tokens.insert(t.tokens.end(), response.begin(), response.end());
  if (static_cast<index_t>(t.tokens.size()) > max_tokens)
    t.tokens.resize(static_cast<std::size_t>(max_tokens));
  return t;
}

}  // namespace pollard::evaluation
