// pollard — the tokenizer of llama2.c (tokenizer.bin: a sentencepiece BPE vocabulary with
// scores), encoding and decoding exactly as llama2.c's run.c does.
//
// File layout (little-endian): int32 max_token_length, then per token: float32 score,
// int32 length, `length` bytes. The token count is not stored; it is the model's vocab_size.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/core/token_id.hpp"
#include "pollard/io/byte_reader.hpp"
#include "pollard/io/mapped_file.hpp"
#include "pollard/llm/adjacent_merge.hpp"
#include "pollard/llm/byte_fallback_piece.hpp"

namespace pollard::llm {

using pollard::token_id;

/// llama2.c's BPE tokenizer: token 1 is BOS, 2 is EOS, byte b falls back to token b + 3.
class llama2c_tokenizer {
 public:
  static constexpr token_id bos = 1;
  static constexpr token_id eos = 2;
  static constexpr token_id byte_offset = 3;

  /// Parses tokenizer.bin bytes holding exactly `vocab_size` tokens (trailing bytes are an
  /// error). Throws format_error for a truncated file, a non-positive max_token_length or a
  /// token length that is negative or above max_token_length.
  static llama2c_tokenizer parse(std::span<const std::byte> bytes, std::int64_t vocab_size,
                                 const std::string& what = "llama2.c tokenizer") {
    io::byte_reader r(bytes, what);
    if (vocab_size <= 0)
      throw format_error(what + ": vocab_size must be positive, got " + std::to_string(vocab_size));
    llama2c_tokenizer t;
    const auto max_len = r.read<std::int32_t>("max_token_length");
    if (max_len <= 0) r.fail("max_token_length must be positive, got " + std::to_string(max_len));
    t.max_token_length_ = max_len;
    // Each token needs at least 8 bytes, so the count is bounded by the file before allocating.
    if (static_cast<std::uint64_t>(vocab_size) > r.remaining() / 8)
      r.fail(std::to_string(vocab_size) + " tokens need at least " +
             std::to_string(static_cast<std::uint64_t>(vocab_size) * 8) + " bytes but only " +
             std::to_string(r.remaining()) + " remain");
    const auto n = static_cast<std::size_t>(vocab_size);
    t.pieces_.reserve(n);
    t.scores_.reserve(n);
    t.lookup_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      const std::string field = "token " + std::to_string(i);
      const auto score = r.read<float>(field + " score");
      const auto len = r.read<std::int32_t>(field + " length");
      if (len < 0 || len > max_len)
        r.fail(field + " length " + std::to_string(len) + " is outside [0, max_token_length " +
               std::to_string(max_len) + "]");
      t.pieces_.push_back(r.read_string(static_cast<std::size_t>(len), field + " bytes"));
      t.scores_.push_back(score);
      // The first of duplicate pieces wins (run.c's bsearch leaves the choice unspecified).
      t.lookup_.emplace(t.pieces_.back(), static_cast<token_id>(i));
    }
    if (r.remaining() != 0)
      r.fail(std::to_string(r.remaining()) + " trailing bytes after " + std::to_string(n) +
             " tokens");
    return t;
  }

  static llama2c_tokenizer read(const std::filesystem::path& path, std::int64_t vocab_size) {
    io::mapped_file file(path);
    return parse(file.bytes(), vocab_size, path.string());
  }

  std::int64_t vocab_size() const noexcept { return static_cast<std::int64_t>(pieces_.size()); }
  std::int32_t max_token_length() const noexcept { return max_token_length_; }
  const std::string& piece(token_id id) const { return pieces_.at(checked(id)); }
  float score(token_id id) const { return scores_.at(checked(id)); }
  /// The id of a piece, or -1.
  token_id find(std::string_view piece) const {
    auto it = lookup_.find(std::string(piece));
    return it == lookup_.end() ? -1 : it->second;
  }

  /// run.c's encode(): optional BOS; a dummy-prefix token " " when text is non-empty; one token
  /// per UTF-8 codepoint (run.c's grouping: a lead byte plus at most 3 continuation bytes) or,
  /// when the codepoint is not in the vocabulary, one byte-fallback token per byte; then
  /// repeatedly merge the adjacent pair whose concatenation is in the vocabulary with the
  /// highest score (the leftmost on ties; scores <= -1e10 never merge); optional EOS.
  /// Unlike run.c, a NUL byte does not end the text, and a vocabulary without " " uses the
  /// byte-fallback token of 0x20 for the prefix. Every byte of the text is encoded.
  /// Throws format_error, naming the byte's offset, when a byte needs a fallback token beyond
  /// the vocabulary.
  std::vector<token_id> encode(std::string_view text, bool add_bos = true,
                               bool add_eos = false) const {
    std::vector<token_id> tokens;
    tokens.reserve(text.size() + 3);
    if (add_bos) tokens.push_back(bos);
    if (!text.empty()) {
      const token_id space = find(" ");
      tokens.push_back(space >= 0 ? space : byte_token(0x20, "the dummy prefix"));
    }
    std::size_t start = 0;
    while (start < text.size()) {
      std::size_t end = start + 1;
      while (end < text.size() && end - start < 4 &&
             (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
        ++end;
      const std::string_view unit = text.substr(start, end - start);
      const token_id id = find(unit);
      if (id >= 0) {
        tokens.push_back(id);
      } else {
        for (std::size_t k = 0; k < unit.size(); ++k)
          tokens.push_back(byte_token(static_cast<unsigned char>(unit[k]),
                                      "offset " + std::to_string(start + k) + " of the text"));
      }
      start = end;
    }
    merge_best_pairs(tokens);
    if (add_eos) tokens.push_back(eos);
    return tokens;
  }

  /// run.c's decode(prev, token): the piece, without its leading space right after BOS, and a
  /// "<0xHH>" piece as the raw byte HH.
  std::string decode_piece(token_id prev, token_id token) const {
    std::string_view p = piece(token);
    if (prev == bos && !p.empty() && p.front() == ' ') p.remove_prefix(1);
    if (const auto byte = byte_fallback_value(p)) return std::string(1, static_cast<char>(*byte));
    return std::string(p);
  }

  /// The text of a token sequence: decode_piece(previous, token) for each token, where BOS and
  /// EOS contribute no text (they still act as `previous`). decode(encode(x)) == x.
  std::string decode(std::span<const token_id> tokens) const {
    std::string out;
    token_id prev = -1;
    for (token_id t : tokens) {
      if (t != bos && t != eos) out += decode_piece(prev, t);
      prev = t;
    }
    return out;
  }

 private:
  // run.c's merge loop: the pair whose concatenation is the piece of the highest score
  // (> -1e10) first, the leftmost on ties (detail::merge_adjacent_best_first, O(n log n)).
  void merge_best_pairs(std::vector<token_id>& tokens) const {
    std::string pair;
    const auto joined = [&](std::size_t left, std::size_t right) {
      pair.assign(pieces_[static_cast<std::size_t>(tokens[left])]);
      pair.append(pieces_[static_cast<std::size_t>(tokens[right])]);
      return find(pair);
    };
    const auto offer = [&](std::size_t left, std::size_t right) -> std::optional<float> {
      const token_id id = joined(left, right);
      if (id < 0 || !(scores_[static_cast<std::size_t>(id)] > -1e10f)) return std::nullopt;
      return -scores_[static_cast<std::size_t>(id)];  // the highest score is the smallest
    };
    const auto merge = [&](std::size_t left, std::size_t right) {
      tokens[left] = joined(left, right);
    };
    const auto next = detail::merge_adjacent_best_first<float>(tokens.size(), offer, merge);
    std::size_t out = 0;
    for (std::size_t i = 0; i < tokens.size(); i = next[i]) tokens[out++] = tokens[i];
    tokens.resize(out);
  }

  std::size_t checked(token_id id) const {
    if (id < 0 || static_cast<std::size_t>(id) >= pieces_.size())
      throw option_error("llama2c_tokenizer: token " + std::to_string(id) +
                         " is outside the vocabulary of " + std::to_string(pieces_.size()));
    return static_cast<std::size_t>(id);
  }
  // The byte-fallback token of `byte`, found at `where` (for the error message).
  token_id byte_token(unsigned byte, const std::string& where) const {
    const auto id = static_cast<token_id>(byte) + byte_offset;
    if (static_cast<std::size_t>(id) >= pieces_.size())
      throw format_error("llama2c_tokenizer: no byte-fallback token for byte " +
                         std::to_string(byte) + " at " + where + " in a vocabulary of " +
                         std::to_string(pieces_.size()));
    return id;
  }

  std::int32_t max_token_length_ = 0;
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::unordered_map<std::string, token_id> lookup_;
};

}  // namespace pollard::llm
