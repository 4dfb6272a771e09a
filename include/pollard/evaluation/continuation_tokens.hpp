// pollard — the text_encoder concept and the tokens of a (context, continuation) pair as
// EleutherAI's lm-evaluation-harness forms them for log-likelihood requests.
#pragma once

#include <concepts>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/core/token_id.hpp"

namespace pollard::evaluation {

// The text_encoder concept — what a tokenizer type T must provide, for t a const T&:
//   t.encode(text, add_bos) -> std::vector<token_id>  (text a std::string_view, add_bos a bool)
// Contract the compiler cannot check: encoding is deterministic, and every id lies in the
// vocabulary of the model it is used with.
template <class T>
concept text_encoder = requires(const T& t, std::string_view text, bool add_bos) {
  { t.encode(text, add_bos) } -> std::convertible_to<std::vector<token_id>>;
};

/// The context's tokens and the continuation's tokens that follow them.
struct continuation_tokens {
  std::vector<token_id> context;
  std::vector<token_id> continuation;
};

/// The harness's pair encoding (lm_eval/api/model.py, TemplateLM._encode_pair): whitespace at the
/// end of the context moves to the front of the continuation; the continuation's tokens are those
/// of enc(context + continuation) past the first |enc(context)|, so a token that merges across
/// the boundary is scored as part of the continuation. "Whitespace" is Python's str.rstrip set
/// restricted to ASCII (space, \t, \n, \v, \f, \r).
template <text_encoder Encoder>
continuation_tokens encode_continuation(const Encoder& encoder, std::string_view context,
                                        std::string_view continuation, bool add_bos) {
  if (context.empty())
    throw option_error(
        "encode_continuation: the context is empty (the harness scores an empty "
        "context after a prefix token, which zero-shot tasks never need)");
  std::size_t kept = context.size();
  while (kept > 0 &&
         std::string_view(" \t\n\v\f\r").find(context[kept - 1]) != std::string_view::npos)
    --kept;
  const std::string moved_context(context.substr(0, kept));
  const std::string whole =
      moved_context + std::string(context.substr(kept)) + std::string(continuation);
  continuation_tokens out;
  out.context = encoder.encode(moved_context, add_bos);
  std::vector<token_id> all = encoder.encode(whole, add_bos);
  if (all.size() <= out.context.size())
    throw format_error("encode_continuation: the continuation \"" + std::string(continuation) +
                       "\" adds no token past its context's " + std::to_string(out.context.size()));
  out.continuation.assign(all.begin() + static_cast<std::ptrdiff_t>(out.context.size()), all.end());
  return out;
}

}  // namespace pollard::evaluation
