// pollard — what a tokenizer makes of text that spells one of its special tokens.
#pragma once

#include <string>
#include <string_view>

#include "pollard/core/error.hpp"

namespace pollard::llm {

/// How text that spells a special token (<|im_start|>, <s>, a tokenizer.json added token) is
/// encoded. Tokens added as not special (llama.cpp's USER_DEFINED) are matched either way, as
/// both transformers and llama.cpp do.
enum class special_token_text {
  /// The spelled token becomes that one token: transformers' `tokenizer(text)` and
  /// llama-tokenize (llama.cpp's parse_special = true).
  parse,
  /// The spelling is ordinary text: llama-perplexity (parse_special = false), transformers'
  /// split_special_tokens=True.
  plain,
};

inline std::string_view name_of(special_token_text mode) {
  return mode == special_token_text::parse ? "parse" : "plain";
}

/// "parse" or "plain"; option_error naming `what` otherwise.
inline special_token_text parse_special_token_text(std::string_view name, std::string_view what) {
  if (name == "parse") return special_token_text::parse;
  if (name == "plain") return special_token_text::plain;
  throw option_error(std::string(what) + ": '" + std::string(name) +
                     "' is not a special-token mode (parse or plain)");
}

}  // namespace pollard::llm
