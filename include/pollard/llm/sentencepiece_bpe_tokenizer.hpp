// pollard — the SentencePiece BPE tokenizer of GGUF files whose tokenizer.ggml.model is "llama"
// (Llama 1/2, TinyLlama, llama2.c models converted by llama.cpp), encoding and decoding as
// llama.cpp's SPM vocabulary does (src/llama-vocab.cpp: llm_tokenizer_spm_session, the SPM case
// of llama_vocab::impl::tokenize and token_to_piece).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <queue>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/core/token_id.hpp"
#include "pollard/llm/byte_fallback_piece.hpp"
#include "pollard/llm/special_token_matcher.hpp"

namespace pollard::llm {

using pollard::token_id;

/// Token types as GGUF's tokenizer.ggml.token_type stores them (llama.cpp's llama_token_type).
enum class sentencepiece_token_type : std::int32_t {
  undefined = 0,
  normal = 1,
  unknown = 2,
  control = 3,
  user_defined = 4,
  unused = 5,
  byte = 6,
};

/// A SentencePiece BPE vocabulary: pieces with "▁" (U+2581) for a space, one score per piece
/// (higher merges first), byte-fallback pieces "<0xHH>".
///
/// encode(text, add_bos): BOS when asked; then, for non-empty text, " " prepended when
/// `add_space_prefix`, every ' ' replaced by "▁", the text split into UTF-8 characters (the
/// length read from each lead byte, as llama.cpp's unicode_len_utf8), adjacent symbols merged
/// while their concatenation is a piece, highest score first (the leftmost on ties), and every
/// final symbol that is not a piece written as its bytes' "<0xHH>" pieces.
/// Text spelling a control or unknown token (<s>, <unk>) becomes that token with
/// special_token_text::parse, a user-defined token's text always does (special_token_matcher),
/// and each stretch of text after such a token gets the space prefix again, as llama.cpp's
/// SentencePiece tokenizer does.
class sentencepiece_bpe_tokenizer {
 public:
  struct settings {
    std::optional<token_id> bos, eos;
    bool add_bos = true;           ///< tokenizer.ggml.add_bos_token (llama.cpp's SPM default)
    bool add_space_prefix = true;  ///< tokenizer.ggml.add_space_prefix (SPM default)
  };

  /// Throws format_error when the three arrays differ in length, the vocabulary is empty, a
  /// type is outside [0, 6], or BOS/EOS lie outside the vocabulary.
  sentencepiece_bpe_tokenizer(std::vector<std::string> pieces, std::vector<float> scores,
                              std::vector<sentencepiece_token_type> types, settings s)
      : pieces_(std::move(pieces)), scores_(std::move(scores)), types_(std::move(types)), s_(s) {
    if (pieces_.empty()) throw format_error("SentencePiece vocabulary is empty");
    if (scores_.size() != pieces_.size() || types_.size() != pieces_.size())
      throw format_error("SentencePiece vocabulary has " + std::to_string(pieces_.size()) +
                         " pieces, " + std::to_string(scores_.size()) + " scores and " +
                         std::to_string(types_.size()) + " token types");
    for (std::size_t i = 0; i < types_.size(); ++i)
      if (static_cast<std::int32_t>(types_[i]) < 0 || static_cast<std::int32_t>(types_[i]) > 6)
        throw format_error("SentencePiece token " + std::to_string(i) + " has type " +
                           std::to_string(static_cast<std::int32_t>(types_[i])) +
                           ", outside [0, 6]");
    for (const auto& [name, id] : {std::pair{"BOS", s_.bos}, std::pair{"EOS", s_.eos}})
      if (id && (*id < 0 || static_cast<std::size_t>(*id) >= pieces_.size()))
        throw format_error(std::string("SentencePiece ") + name + " id " + std::to_string(*id) +
                           " is outside the vocabulary of " + std::to_string(pieces_.size()));
    if (s_.add_bos && !s_.bos)
      throw format_error("the SentencePiece vocabulary adds BOS but has no BOS id");
    lookup_.reserve(pieces_.size());
    // llama.cpp's token_to_id keeps the first id of a duplicated piece.
    for (std::size_t i = 0; i < pieces_.size(); ++i)
      lookup_.emplace(pieces_[i], static_cast<token_id>(i));
    for (std::size_t i = 0; i < pieces_.size(); ++i) {
      const auto type = types_[i];
      if (type == sentencepiece_token_type::control || type == sentencepiece_token_type::unknown)
        specials_.add(pieces_[i], static_cast<token_id>(i), false);
      else if (type == sentencepiece_token_type::user_defined)
        specials_.add(unescaped(pieces_[i]), static_cast<token_id>(i), true);
    }
  }

  std::int64_t vocab_size() const noexcept { return static_cast<std::int64_t>(pieces_.size()); }
  const std::string& piece(token_id id) const { return pieces_.at(checked(id)); }
  float score(token_id id) const { return scores_.at(checked(id)); }
  std::optional<token_id> bos() const noexcept { return s_.bos; }
  std::optional<token_id> eos() const noexcept { return s_.eos; }
  bool adds_bos() const noexcept { return s_.add_bos; }

  /// The id of a piece (in its stored, "▁"-escaped form), or -1.
  token_id find(std::string_view piece) const {
    const auto it = lookup_.find(std::string(piece));
    return it == lookup_.end() ? -1 : it->second;
  }

  /// Token ids of `text` (see the class comment); BOS first when `add_bos` and the vocabulary
  /// has one. Throws format_error when a byte has no "<0xHH>" piece.
  std::vector<token_id> encode(std::string_view text, bool add_bos,
                               special_token_text special = special_token_text::parse) const {
    std::vector<token_id> out;
    if (add_bos && s_.bos) out.push_back(*s_.bos);
    bool after_special = true;
    specials_.split(
        text, special,
        [&](std::string_view plain) {
          std::string escaped;
          escaped.reserve(plain.size() + 8);
          if (s_.add_space_prefix && after_special) escaped += space_symbol;
          for (char c : plain) {
            if (c == ' ')
              escaped += space_symbol;
            else
              escaped += c;
          }
          merge_and_emit(escaped, out);
          after_special = false;
        },
        [&](token_id id) {
          out.push_back(id);
          after_special = true;
        });
    return out;
  }

  /// The text of one token: "▁" as ' ', a byte piece as its byte, control tokens as nothing,
  /// and the space of the first piece after BOS (or at the start) removed when the vocabulary
  /// adds a space prefix.
  std::string decode_piece(std::optional<token_id> previous, token_id token) const {
    const auto type = types_[checked(token)];
    const std::string& p = pieces_[static_cast<std::size_t>(token)];
    if (type == sentencepiece_token_type::control) return {};
    if (type == sentencepiece_token_type::byte) {
      if (const auto b = byte_fallback_value(p)) return std::string(1, static_cast<char>(*b));
    }
    std::string out = unescaped(p);
    const bool first = !previous || (s_.bos && *previous == *s_.bos);
    if (first && s_.add_space_prefix && !out.empty() && out.front() == ' ') out.erase(0, 1);
    return out;
  }

  /// The text of a token sequence; `previous` is the token before tokens.front(), if any.
  std::string decode(std::span<const token_id> tokens,
                     std::optional<token_id> previous = std::nullopt) const {
    std::string out;
    for (const token_id t : tokens) {
      out += decode_piece(previous, t);
      previous = t;
    }
    return out;
  }

 private:
  static constexpr std::string_view space_symbol = "\xE2\x96\x81";  // U+2581

  // A piece's text: every "▁" a space.
  static std::string unescaped(std::string_view piece) {
    std::string out;
    out.reserve(piece.size());
    for (std::size_t i = 0; i < piece.size();) {
      if (piece.compare(i, space_symbol.size(), space_symbol) == 0) {
        out += ' ';
        i += space_symbol.size();
      } else {
        out += piece[i++];
      }
    }
    return out;
  }

  struct symbol {
    std::size_t begin, size;
    std::ptrdiff_t prev, next;
  };
  struct bigram {
    float score;
    std::ptrdiff_t left, right;
    std::size_t size;
  };

  // llm_tokenizer_spm_session::tokenize: symbols of one UTF-8 character, merged highest score
  // first (leftmost on ties; a bigram is stale once its symbols' sizes no longer add up), then
  // each final symbol emitted as its piece or, when none, resegmented along the merge that
  // formed it, down to bytes.
  void merge_and_emit(const std::string& text, std::vector<token_id>& out) const {
    static constexpr std::size_t utf8_length[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    std::vector<symbol> symbols;
    symbols.reserve(text.size());
    for (std::size_t offset = 0; offset < text.size();) {
      const std::size_t len = std::min(utf8_length[static_cast<unsigned char>(text[offset]) >> 4],
                                       text.size() - offset);
      const auto index = static_cast<std::ptrdiff_t>(symbols.size());
      symbols.push_back({offset, len, index - 1, offset + len == text.size() ? -1 : index + 1});
      offset += len;
    }
    const auto lower = [](const bigram& l, const bigram& r) {
      return l.score < r.score || (l.score == r.score && l.left > r.left);
    };
    std::priority_queue<bigram, std::vector<bigram>, decltype(lower)> queue(lower);
    std::unordered_map<std::string, std::pair<std::ptrdiff_t, std::ptrdiff_t>> formed_by;
    const auto try_bigram = [&](std::ptrdiff_t left, std::ptrdiff_t right) {
      if (left < 0 || right < 0) return;
      const auto& l = symbols[static_cast<std::size_t>(left)];
      const auto& r = symbols[static_cast<std::size_t>(right)];
      std::string joined = text.substr(l.begin, l.size + r.size);
      const token_id id = find(joined);
      if (id < 0) return;
      queue.push({scores_[static_cast<std::size_t>(id)], left, right, joined.size()});
      formed_by[std::move(joined)] = {left, right};
    };
    for (std::size_t i = 1; i < symbols.size(); ++i)
      try_bigram(static_cast<std::ptrdiff_t>(i) - 1, static_cast<std::ptrdiff_t>(i));
    while (!queue.empty()) {
      const bigram b = queue.top();
      queue.pop();
      auto& l = symbols[static_cast<std::size_t>(b.left)];
      auto& r = symbols[static_cast<std::size_t>(b.right)];
      if (l.size == 0 || r.size == 0 || l.size + r.size != b.size) continue;
      l.size += r.size;
      r.size = 0;
      l.next = r.next;
      if (r.next >= 0) symbols[static_cast<std::size_t>(r.next)].prev = b.left;
      try_bigram(l.prev, b.left);
      try_bigram(b.left, l.next);
    }
    const auto emit = [&](const auto& self, const symbol& s) -> void {
      const std::string piece_text = text.substr(s.begin, s.size);
      if (const token_id id = find(piece_text); id >= 0) {
        out.push_back(id);
        return;
      }
      if (const auto it = formed_by.find(piece_text); it != formed_by.end()) {
        self(self, symbols[static_cast<std::size_t>(it->second.first)]);
        self(self, symbols[static_cast<std::size_t>(it->second.second)]);
        return;
      }
      for (const char c : piece_text) out.push_back(byte_token(static_cast<unsigned char>(c)));
    };
    if (!symbols.empty())
      for (std::ptrdiff_t i = 0; i != -1; i = symbols[static_cast<std::size_t>(i)].next)
        emit(emit, symbols[static_cast<std::size_t>(i)]);
  }

  token_id byte_token(unsigned byte) const {
    static constexpr char hex[] = "0123456789ABCDEF";
    const char name[7] = {'<', '0', 'x', hex[byte >> 4], hex[byte & 15], '>', 0};
    if (const token_id id = find(name); id >= 0) return id;
    // llama.cpp then tries the byte itself as a piece.
    if (const token_id id = find(std::string(1, static_cast<char>(byte))); id >= 0) return id;
    throw format_error("SentencePiece vocabulary has no byte-fallback piece " + std::string(name) +
                       " for a byte of the text");
  }

  std::size_t checked(token_id id) const {
    if (id < 0 || static_cast<std::size_t>(id) >= pieces_.size())
      throw option_error("token " + std::to_string(id) + " is outside the vocabulary of " +
                         std::to_string(pieces_.size()));
    return static_cast<std::size_t>(id);
  }

  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::vector<sentencepiece_token_type> types_;
  settings s_;
  std::unordered_map<std::string, token_id> lookup_;
  special_token_matcher specials_;
};

}  // namespace pollard::llm
