// pollard — GPT-2-style byte-level BPE (tokens + ranked merges, as GGUF's "gpt2" tokenizer model
// stores them), with the pre-tokenizer split done by PCRE2 as llama.cpp defines it per model.
#pragma once

#include <pcre2.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/io/utf8.hpp"
#include "pollard/llm/adjacent_merge.hpp"
#include "pollard/llm/special_token_matcher.hpp"
#include "pollard/llm/text_bytes.hpp"

namespace pollard::llm {

namespace detail {

/// One compiled PCRE2 pattern (UTF, Unicode properties, invalid UTF tolerated).
class pcre2_pattern {
 public:
  explicit pcre2_pattern(const std::string& pattern) {
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                          PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error_code,
                          &error_offset, nullptr);
    if (code_ == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error_code, message, sizeof message);
      throw option_error("pre-tokenizer pattern '" + pattern +
                         "' does not compile: " + reinterpret_cast<const char*>(message));
    }
    // Compiled to machine code where PCRE2 has a JIT for the platform (pcre2_match then runs it,
    // tens of times faster than the interpreter on these patterns); interpreted otherwise.
    (void)pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);
    match_ = pcre2_match_data_create_from_pattern(code_, nullptr);
  }
  pcre2_pattern(const pcre2_pattern&) = delete;
  pcre2_pattern& operator=(const pcre2_pattern&) = delete;
  ~pcre2_pattern() {
    pcre2_match_data_free(match_);
    pcre2_code_free(code_);
  }

  /// Splits `text` into pieces: every match, and every run of text between matches.
  void split(std::string_view text, std::vector<std::string_view>& out) const {
    std::size_t start = 0, gap = 0;
    while (start < text.size()) {
      const int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(),
                                 start, 0, match_, nullptr);
      if (rc < 0) break;
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match_);
      if (ov[1] == ov[0]) {  // empty match: move on by one code point
        ++start;
        while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xc0) == 0x80)
          ++start;
        continue;
      }
      if (ov[0] > gap) out.push_back(text.substr(gap, ov[0] - gap));
      out.push_back(text.substr(ov[0], ov[1] - ov[0]));
      start = gap = ov[1];
    }
    if (gap < text.size()) out.push_back(text.substr(gap));
  }

 private:
  pcre2_code* code_ = nullptr;
  pcre2_match_data* match_ = nullptr;
};

/// GPT-2's reversible map from bytes to printable code points, as UTF-8 strings.
inline const std::vector<std::string>& byte_to_unicode() {
  static const std::vector<std::string> table = [] {
    std::vector<std::string> t(256);
    const auto utf8 = [](char32_t cp) {
      std::string s;
      io::append_utf8(s, cp);
      return s;
    };
    char32_t next = 256;
    for (char32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
      t[b] = utf8(printable ? b : next++);
    }
    return t;
  }();
  return table;
}

/// What the pre-tokenizer patterns see of text that is not well-formed UTF-8: each character
/// as llama.cpp reads it (io::lenient_utf8_at), written well-formed, so that it is split as
/// llama.cpp splits it: an overlong form as the character it decodes to (C0 80 as U+0000), every
/// other ill-formed character (a lone or broken byte, a surrogate, a value above U+10FFFF) as
/// U+FFFD. `origin[j]` is the offset in `text` of the character that starts at reading[j] (and
/// origin[reading.size()] == text.size()); other entries are unused.
///
/// `llama_bytes` is what llama.cpp merges, byte for byte aligned with `reading`: the same, except
/// that a surrogate is written as llama.cpp's unicode_cpt_to_utf8 writes it (three bytes, as
/// U+FFFD takes). `beyond_unicode` is the offset in `text` of the first character decoding above
/// U+10FFFF, which llama.cpp cannot write back (text.size() when there is none).
struct utf8_reading {
  std::string reading;
  std::string llama_bytes;
  std::vector<std::size_t> origin;
  std::size_t beyond_unicode;

  explicit utf8_reading(std::string_view text) : beyond_unicode(text.size()) {
    reading.reserve(text.size() + 8);
    origin.reserve(text.size() + 9);
    std::vector<std::pair<std::size_t, char32_t>> surrogates;
    for (std::size_t k = 0; k < text.size();) {
      const io::lenient_utf8_character c = io::lenient_utf8_at(text, k);
      const std::size_t at = reading.size();
      const bool surrogate = c.code_point >= 0xd800 && c.code_point <= 0xdfff;
      if (c.well_formed)
        reading.append(text.substr(k, c.length));
      else if (c.length > 1 && c.code_point <= 0x10ffff && !surrogate)
        io::append_utf8(reading, c.code_point);
      else
        reading += "\xEF\xBF\xBD";
      if (!c.well_formed && c.length > 1 && surrogate) surrogates.emplace_back(at, c.code_point);
      if (!c.well_formed && c.length > 1 && c.code_point > 0x10ffff &&
          beyond_unicode == text.size())
        beyond_unicode = k;
      origin.resize(reading.size() + 1);
      origin[at] = k;
      k += c.length;
    }
    origin.resize(reading.size() + 1);
    origin[reading.size()] = text.size();
    llama_bytes = reading;
    for (const auto& [at, cp] : surrogates) {
      llama_bytes[at] = static_cast<char>(0xe0 | (cp >> 12));
      llama_bytes[at + 1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      llama_bytes[at + 2] = static_cast<char>(0x80 | (cp & 0x3f));
    }
  }
};

/// Whether every character of `text` is well-formed UTF-8 (io::utf8_sequence_at).
inline bool is_well_formed_utf8(std::string_view text) noexcept {
  for (std::size_t k = 0; k < text.size();) {
    const std::size_t n = io::utf8_sequence_at(text, k).length;
    if (n == 0) return false;
    k += n;
  }
  return true;
}

}  // namespace detail

/// The pre-tokenizer regexes llama.cpp applies in sequence for a GGUF `tokenizer.ggml.pre` name.
inline std::vector<std::string> pre_tokenizer_patterns(std::string_view pre) {
  const std::string gpt2 =
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
  if (pre == "gpt2" || pre == "gpt-2" || pre == "mpt" || pre == "olmo") return {gpt2};
  // llama.cpp's LLAMA_VOCAB_PRE_TYPE_DEFAULT (src/llama-vocab.cpp), also what it uses for a GGUF
  // without tokenizer.ggml.pre: punctuation runs, the GPT-2 rules, digit runs, then groups of
  // three digits.
  if (pre == "default") return {"[\\p{P}\\$\\+<=>\\^~\\|]+", gpt2, "\\p{N}+", "[0-9][0-9][0-9]"};
  if (pre == "smollm" || pre == "starcoder" || pre == "refact" || pre == "command-r" ||
      pre == "codeshell" || pre == "exaone")
    return {"\\p{N}", gpt2};
  if (pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe")
    return {
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
        "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
  throw option_error("byte-level BPE: pre-tokenizer '" + std::string(pre) +
                     "' is not supported (supported: gpt2, smollm, starcoder, llama3, ...)");
}

/// Encodes text to token ids and back for a byte-level BPE vocabulary.
class byte_level_bpe_tokenizer {
 public:
  /// `token_types`: one per token (or none), as GGUF's tokenizer.ggml.token_type stores them
  /// (llama.cpp's llama_token_type): 3 marks a control token (<|im_start|>), matched in the text
  /// only with special_token_text::parse; 4 a user-defined one (a tokenizer.json added token not
  /// marked special), always matched; both stand for their text as it is, not byte-mapped.
  byte_level_bpe_tokenizer(std::vector<std::string> tokens, const std::vector<std::string>& merges,
                           std::vector<std::int32_t> token_types, std::string_view pre,
                           std::optional<std::int32_t> bos = std::nullopt,
                           std::optional<std::int32_t> eos = std::nullopt, bool add_bos = false)
      : tokens_(std::move(tokens)), pre_(pre), bos_(bos), eos_(eos), add_bos_(add_bos) {
    if (tokens_.empty()) throw format_error("byte-level BPE: empty vocabulary");
    if (tokens_.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
      throw format_error("byte-level BPE: vocabulary too large");
    if (!token_types.empty() && token_types.size() != tokens_.size())
      throw format_error("byte-level BPE: " + std::to_string(token_types.size()) +
                         " token types for " + std::to_string(tokens_.size()) + " tokens");
    verbatim_.resize(tokens_.size(), false);
    for (std::size_t i = 0; i < token_types.size(); ++i) {
      if (token_types[i] != control_type && token_types[i] != user_defined_type) continue;
      verbatim_[i] = true;
      specials_.add(tokens_[i], static_cast<std::int32_t>(i), token_types[i] == user_defined_type);
    }
    for (const auto id : {bos_, eos_})
      if (id && (*id < 0 || static_cast<std::size_t>(*id) >= tokens_.size()))
        throw format_error("byte-level BPE: special token id " + std::to_string(*id) +
                           " is outside the vocabulary");
    for (std::size_t i = 0; i < tokens_.size(); ++i)
      ids_.emplace(tokens_[i], static_cast<std::int32_t>(i));
    for (std::size_t r = 0; r < merges.size(); ++r) {
      const auto space = merges[r].find(' ', 1);
      if (space == std::string::npos)
        throw format_error("byte-level BPE: merge " + std::to_string(r) + " '" + merges[r] +
                           "' is not two symbols separated by a space");
      ranks_.emplace(merges[r], static_cast<int>(r));
    }
    for (const auto& p : pre_tokenizer_patterns(pre))
      patterns_.push_back(std::make_unique<detail::pcre2_pattern>(p));
    const auto& table = detail::byte_to_unicode();
    for (int b = 0; b < 256; ++b)
      unicode_to_byte_.emplace(table[static_cast<std::size_t>(b)], static_cast<char>(b));
  }

  std::size_t vocabulary_size() const noexcept { return tokens_.size(); }
  /// Token `id` as tokenizer.json spells it (bytes in GPT-2's byte-to-unicode map).
  const std::string& token(std::int32_t id) const {
    return tokens_.at(static_cast<std::size_t>(id));
  }
  /// Every merge ("left right") with its rank (0 = applied first).
  const std::unordered_map<std::string, int>& merge_ranks() const noexcept { return ranks_; }
  /// The pre-tokenizer's name, as given (pre_tokenizer_patterns()).
  const std::string& pre_tokenizer() const noexcept { return pre_; }
  std::optional<std::int32_t> bos() const noexcept { return bos_; }
  std::optional<std::int32_t> eos() const noexcept { return eos_; }
  bool adds_bos() const noexcept { return add_bos_; }

  /// Token ids of `text`; BOS first when the vocabulary asks for it (or `add_bos` overrides).
  /// Text spelling a control or user-defined token becomes that token as `special` says
  /// (special_token_matcher). The rest is split by the pre-tokenizer patterns, reading UTF-8 as
  /// llama.cpp does (detail::utf8_reading). With text_bytes::keep (the default) every piece is
  /// merged over its own bytes, so decode(encode(text)) == text for any bytes, well-formed UTF-8
  /// or not, and a byte whose symbol is not in the vocabulary (SmolLM2's lacks C0, C1, F1, F2,
  /// F5-FF and six control characters) is a format_error naming it and its offset. With
  /// text_bytes::llama_cpp the ids are llama.cpp's: ill-formed bytes are merged as the U+FFFD
  /// they are read as, and a byte without a token is dropped.
  std::vector<std::int32_t> encode(std::string_view text,
                                   std::optional<bool> add_bos = std::nullopt,
                                   special_token_text special = special_token_text::parse) const {
    std::vector<std::int32_t> out;
    if (add_bos.value_or(add_bos_) && bos_) out.push_back(*bos_);
    specials_.split(
        text, special, [&](std::string_view plain) { encode_plain(plain, text, out); },
        [&](token_id id) { out.push_back(id); });
    return out;
  }

  /// What encode() makes of text that is not UTF-8 and of bytes without a token (text_bytes).
  text_bytes bytes_rule() const noexcept { return bytes_; }
  void set_bytes_rule(text_bytes rule) noexcept { bytes_ = rule; }

  /// The bytes a token stands for (control and user-defined tokens: their text).
  std::string token_bytes(std::int32_t id) const {
    if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size())
      throw option_error("byte-level BPE: token id " + std::to_string(id) + " is outside the " +
                         std::to_string(tokens_.size()) + "-token vocabulary");
    const std::string& t = tokens_[static_cast<std::size_t>(id)];
    if (verbatim_[static_cast<std::size_t>(id)]) return t;
    std::string out;
    std::size_t i = 0;
    while (i < t.size()) {
      std::size_t n = 1;
      const auto c = static_cast<unsigned char>(t[i]);
      if (c >= 0xf0)
        n = 4;
      else if (c >= 0xe0)
        n = 3;
      else if (c >= 0xc0)
        n = 2;
      const auto it = unicode_to_byte_.find(t.substr(i, n));
      if (it != unicode_to_byte_.end())
        out += it->second;
      else
        out += t.substr(i, n);
      i += n;
    }
    return out;
  }

  std::string decode(const std::vector<std::int32_t>& ids) const {
    std::string out;
    for (const auto id : ids) out += token_bytes(id);
    return out;
  }

 private:
  // `text` lies within `whole` (what encode() was given), which error messages count offsets in.
  void encode_plain(std::string_view text, std::string_view whole,
                    std::vector<std::int32_t>& out) const {
    if (text.empty()) return;
    if (detail::is_well_formed_utf8(text)) {
      for (const auto piece : split(text)) encode_piece(piece, whole, out);
      return;
    }
    // Split what llama.cpp reads, then merge the bytes each piece of the reading came from
    // (keep), or what llama.cpp writes back for them (llama_cpp).
    const detail::utf8_reading r(text);
    const std::string_view reading = r.reading;
    if (bytes_ == text_bytes::llama_cpp) {
      if (r.beyond_unicode < text.size())
        throw format_error("byte-level BPE: the bytes at offset " +
                           std::to_string(static_cast<std::size_t>(text.data() - whole.data()) +
                                          r.beyond_unicode) +
                           " of the text decode to a code point above U+10FFFF, which llama.cpp "
                           "cannot tokenize (its unicode_cpt_to_utf8 throws)");
      const std::string_view llama = r.llama_bytes;
      for (const auto piece : split(reading)) {
        const auto begin = static_cast<std::size_t>(piece.data() - reading.data());
        encode_piece(llama.substr(begin, piece.size()), whole, out);
      }
      return;
    }
    for (const auto piece : split(reading)) {
      const auto begin = static_cast<std::size_t>(piece.data() - reading.data());
      const std::size_t from = r.origin[begin], to = r.origin[begin + piece.size()];
      encode_piece(text.substr(from, to - from), whole, out);
    }
  }

  // The pieces of `text` after every pre-tokenizer pattern, as views into `text`.
  std::vector<std::string_view> split(std::string_view text) const {
    std::vector<std::string_view> pieces{text}, next;
    for (const auto& p : patterns_) {
      next.clear();
      for (const auto piece : pieces) p->split(piece, next);
      pieces.swap(next);
    }
    return pieces;
  }

  // Ranked merging over the mapped characters of one piece (lowest rank first, leftmost on ties).
  void encode_piece(std::string_view piece, std::string_view whole,
                    std::vector<std::int32_t>& out) const {
    const auto& table = detail::byte_to_unicode();
    std::vector<std::string> symbols;
    symbols.reserve(piece.size());
    for (const char c : piece) symbols.push_back(table[static_cast<unsigned char>(c)]);
    // Lowest rank first, the leftmost on ties, as llama.cpp's llm_tokenizer_bpe_session does
    // (detail::merge_adjacent_best_first: O(n log n) where rescanning every pair was quadratic).
    std::string key;
    const auto offer = [&](std::size_t left, std::size_t right) -> std::optional<int> {
      key.assign(symbols[left]).append(" ").append(symbols[right]);
      const auto it = ranks_.find(key);
      if (it == ranks_.end()) return std::nullopt;
      return it->second;
    };
    const auto merge = [&](std::size_t left, std::size_t right) {
      symbols[left] += symbols[right];
      symbols[right].clear();
    };
    const std::size_t n = symbols.size();
    const auto next = detail::merge_adjacent_best_first<int>(n, offer, merge);
    for (std::size_t i = 0; i < n; i = next[i]) {
      const auto it = ids_.find(symbols[i]);
      if (it != ids_.end()) {
        out.push_back(it->second);
        continue;
      }
      // A merged symbol missing from the vocabulary: the tokens of its bytes' symbols, as
      // llama.cpp gives for ASCII ones (llm_tokenizer_bpe_session looks each byte of the
      // symbol's text up). A byte without a token is refused (keep) or dropped, as llama.cpp
      // drops it (llama_cpp).
      for (std::size_t k = i; k < next[i]; ++k) {
        const auto& byte_symbol = table[static_cast<unsigned char>(piece[k])];
        const auto byte_it = ids_.find(byte_symbol);
        if (byte_it == ids_.end() && bytes_ == text_bytes::llama_cpp) continue;
        if (byte_it == ids_.end()) {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(piece[k]));
          throw format_error(
              "byte-level BPE: byte " + std::string(hex) + " at offset " +
              std::to_string(static_cast<std::size_t>(piece.data() - whole.data()) + k) +
              " of the text has no token in the vocabulary (its symbol '" + byte_symbol +
              "'), so it cannot be encoded without losing it");
        }
        out.push_back(byte_it->second);
      }
    }
  }

  std::vector<std::string> tokens_;
  std::string pre_;
  static constexpr std::int32_t control_type = 3;       // LLAMA_TOKEN_TYPE_CONTROL
  static constexpr std::int32_t user_defined_type = 4;  // LLAMA_TOKEN_TYPE_USER_DEFINED
  std::vector<bool> verbatim_;  // control and user-defined tokens: their text as it is
  special_token_matcher specials_;
  std::optional<std::int32_t> bos_, eos_;
  bool add_bos_ = false;
  text_bytes bytes_ = text_bytes::keep;
  std::unordered_map<std::string, std::int32_t> ids_;
  std::unordered_map<std::string, int> ranks_;
  std::unordered_map<std::string, char> unicode_to_byte_;
  std::vector<std::unique_ptr<detail::pcre2_pattern>> patterns_;
};

}  // namespace pollard::llm
