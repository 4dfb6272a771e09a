// pollard — the text_tokenizer concept: what evaluation and generation need of a tokenizer, so
// they do not depend on any tokenizer format.
#pragma once

#include <concepts>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pollard/core/token_id.hpp"

namespace pollard::evaluation {

// A type T is a text_tokenizer when, for t a const T&:
//   t.encode(text, add_bos) -> std::vector<token_id>   the ids of text, BOS first when add_bos
//                                                      (and the vocabulary has one)
//   t.decode(tokens, previous) -> std::string          the text of a continuation; previous is
//                                                      the token before tokens.front(), or nothing
//   t.bos(), t.eos() -> std::optional<token_id>
//   t.adds_bos() -> bool                               whether the model expects BOS first
//   t.stop_tokens() -> std::vector<token_id>           the tokens that end a generated text
// decode(encode(s, false), nothing) gives s back for text the vocabulary covers.
template <class T>
concept text_tokenizer = requires(const T& t, std::string_view text, bool add_bos,
                                  std::span<const token_id> tokens,
                                  std::optional<token_id> previous) {
  { t.encode(text, add_bos) } -> std::convertible_to<std::vector<token_id>>;
  { t.decode(tokens, previous) } -> std::convertible_to<std::string>;
  { t.bos() } -> std::convertible_to<std::optional<token_id>>;
  { t.eos() } -> std::convertible_to<std::optional<token_id>>;
  { t.adds_bos() } -> std::convertible_to<bool>;
  { t.stop_tokens() } -> std::convertible_to<std::vector<token_id>>;
};

}  // namespace pollard::evaluation
