// pollard — what a byte-level BPE tokenizer makes of text that is not UTF-8, and of bytes its
// vocabulary has no token for.
#pragma once

#include <string>
#include <string_view>

#include "pollard/core/error.hpp"

namespace pollard::llm {

/// How byte-level BPE encodes text that is not well-formed UTF-8, or that holds a byte whose
/// symbol has no token (SmolLM2's vocabulary lacks 04, 06, 13, 14, 16, 1D, C0, C1, F1, F2 and
/// F5-FF).
enum class text_bytes {
  /// Every byte is kept: decode(encode(text)) == text; a byte without a token is an error
  /// naming it and its offset.
  keep,
  /// As llama.cpp tokenizes (src/unicode.cpp: unicode_cpts_from_utf8, unicode_regex_split;
  /// llm_tokenizer_bpe_session): each word is re-encoded from the code points llama.cpp reads,
  /// so an ill-formed byte becomes U+FFFD and an overlong form its shortest one, and a byte whose
  /// symbol has no token is dropped. A code point above U+10FFFF (F4 90 80 80, F5 80 80 80),
  /// which llama.cpp's unicode_cpt_to_utf8 throws on, is an error naming its offset.
  llama_cpp,
};

inline std::string_view name_of(text_bytes rule) {
  return rule == text_bytes::keep ? "keep" : "llama.cpp";
}

/// "keep" or "llama.cpp"; option_error naming `what` otherwise.
inline text_bytes parse_text_bytes(std::string_view name, std::string_view what) {
  if (name == "keep") return text_bytes::keep;
  if (name == "llama.cpp") return text_bytes::llama_cpp;
  throw option_error(std::string(what) + ": '" + std::string(name) +
                     "' is not a rule for text bytes (keep or llama.cpp)");
}

}  // namespace pollard::llm
