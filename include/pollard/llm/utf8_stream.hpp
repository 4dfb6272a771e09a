// pollard — turns decoded token pieces into printable UTF-8 text as they arrive: a character
// split over several tokens (byte-fallback tokens <0xE2><0x98><0x95>, or byte-level BPE tokens
// holding part of an emoji) is held back until its last byte arrives.
#pragma once

#include <string>
#include <string_view>

#include "pollard/io/utf8.hpp"

namespace pollard::llm {

/// Accumulates bytes and releases the longest prefix made of complete UTF-8 characters. A byte
/// that cannot start or continue a well-formed character (RFC 3629: no overlong forms, no
/// surrogates, nothing above U+10FFFF) is released as U+FFFD, so the output is always valid
/// UTF-8 in which every complete character of the input appears unchanged.
class utf8_stream {
 public:
  /// The text that `bytes` completes (possibly empty).
  std::string push(std::string_view bytes) {
    pending_.append(bytes);
    std::string out;
    std::size_t i = 0;
    while (i < pending_.size()) {
      const std::size_t n = character_length(i);
      if (n == incomplete) break;
      if (n == invalid) {
        out += replacement;
        ++i;
      } else {
        out.append(pending_, i, n);
        i += n;
      }
    }
    pending_.erase(0, i);
    return out;
  }

  /// What is still held (an unfinished character at the end of the stream), as one U+FFFD per
  /// byte; the stream is empty afterwards.
  std::string finish() {
    std::string out;
    for (std::size_t i = 0; i < pending_.size(); ++i) out += replacement;
    pending_.clear();
    return out;
  }

  /// Bytes held back, waiting for the rest of a character.
  std::size_t pending() const noexcept { return pending_.size(); }

 private:
  static constexpr std::size_t invalid = 0, incomplete = static_cast<std::size_t>(-1);
  static constexpr const char* replacement = "\xEF\xBF\xBD";

  /// Length of the well-formed character at `i`, `invalid` when the byte at i cannot start
  /// one, or `incomplete` when the bytes so far are a valid but unfinished prefix.
  std::size_t character_length(std::size_t i) const {
    const io::utf8_sequence sequence = io::utf8_sequence_at(pending_, i);
    if (sequence.truncated) return incomplete;
    return sequence.length == 0 ? invalid : sequence.length;
  }

  std::string pending_;
};

}  // namespace pollard::llm
