// pollard — the SentencePiece BPE tokenizer of GGUF files whose tokenizer.ggml.model is "llama"
// (Llama 1/2, TinyLlama, llama2.c models converted by llama.cpp), encoding and decoding as
// llama.cpp's SPM vocabulary does (src/llama-vocab.cpp: llm_tokenizer_spm_session, the SPM case
// of llama_vocab::impl::tokenize and token_to_piece).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/core/token_id.hpp"
#include "pollard/io/utf8.hpp"
#include "pollard/llm/adjacent_merge.hpp"
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
/// `add_space_prefix`, every ' ' replaced by "▁", the text split into characters as llama.cpp
/// reads UTF-8 (io::lenient_utf8_at: a lead byte takes the continuation bytes it announces, and
/// any other byte is a character of its own, never joined to the byte after it), adjacent
/// symbols merged while their concatenation is a piece, highest score first (the leftmost on
/// ties), and every final symbol that is not a piece written as its bytes' "<0xHH>" pieces.
/// A "▁" written in the text itself is never merged and is written as its three byte pieces, so
/// that it decodes to itself and not to a space: decode(encode(text)) == text for any bytes
/// when the vocabulary has "▁" and the 256 byte pieces (and no special token is matched).
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
  /// has one. Throws format_error, naming the byte's offset, when a byte that has to be written
  /// as a byte piece has no "<0xHH>" piece (nor a piece of the byte itself).
  std::vector<token_id> encode(std::string_view text, bool add_bos,
                               special_token_text special = special_token_text::parse) const {
    std::vector<token_id> out;
    if (add_bos && s_.bos) out.push_back(*s_.bos);
    bool after_special = true;
    specials_.split(
        text, special,
        [&](std::string_view plain) {
          merge_and_emit(plain, s_.add_space_prefix && after_special,
                         static_cast<std::size_t>(plain.data() - text.data()), out);
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
    std::size_t origin;   // offset in encode()'s text of the character this symbol began as
    bool space;           // "▁" standing for a space (or the space prefix): one byte of text
    bool literal_escape;  // "▁" written in the text: never merged, emitted as byte pieces
  };

  // llm_tokenizer_spm_session::tokenize over `plain` (at offset `origin` in encode()'s text),
  // with "▁" for every space and first when `prefix`: symbols of one character, merged highest
  // score first, the leftmost on ties (detail::merge_adjacent_best_first), then each final
  // symbol emitted as its piece or, when none, resegmented along the merge that formed it,
  // down to bytes.
  void merge_and_emit(std::string_view plain, bool prefix, std::size_t origin,
                      std::vector<token_id>& out) const {
    std::string text;
    text.reserve(plain.size() + 8);
    std::vector<symbol> symbols;
    symbols.reserve(plain.size() + 1);
    const auto add = [&](std::string_view bytes, std::size_t at, bool space, bool literal) {
      symbols.push_back({text.size(), bytes.size(), at, space, literal});
      text += bytes;
    };
    if (prefix) add(space_symbol, origin, true, false);
    for (std::size_t k = 0; k < plain.size();) {
      const std::size_t length = io::lenient_utf8_at(plain, k).length;
      const std::string_view character = plain.substr(k, length);
      if (character == " ")
        add(space_symbol, origin + k, true, false);
      else
        add(character, origin + k, false, character == space_symbol);
      k += length;
    }
    std::unordered_map<std::string, std::pair<std::size_t, std::size_t>> formed_by;
    const auto offer = [&](std::size_t left, std::size_t right) -> std::optional<float> {
      const auto& l = symbols[left];
      const auto& r = symbols[right];
      if (l.literal_escape || r.literal_escape) return std::nullopt;
      std::string joined = text.substr(l.begin, l.size + r.size);
      const token_id id = find(joined);
      if (id < 0) return std::nullopt;
      formed_by[std::move(joined)] = {left, right};
      return -scores_[static_cast<std::size_t>(id)];  // the highest score is the smallest
    };
    const auto merge = [&](std::size_t left, std::size_t right) {
      symbols[left].size += symbols[right].size;
      symbols[right].size = 0;
    };
    const auto next = detail::merge_adjacent_best_first<float>(symbols.size(), offer, merge);
    // Where in encode()'s text the byte at text[at] came from (for error messages).
    const auto origin_of = [&](std::size_t at) {
      const auto it = std::upper_bound(
          symbols.begin(), symbols.end(), at,
          [](std::size_t position, const symbol& s) { return position < s.begin; });
      const symbol& s = *std::prev(it);
      return s.space ? s.origin : s.origin + (at - s.begin);
    };
    const auto emit_bytes = [&](std::size_t begin, std::size_t size) {
      for (std::size_t at = begin; at < begin + size; ++at)
        out.push_back(byte_token(static_cast<unsigned char>(text[at]), origin_of(at)));
    };
    const auto emit = [&](const auto& self, const symbol& s) -> void {
      if (s.literal_escape) return emit_bytes(s.begin, s.size);
      const std::string piece_text = text.substr(s.begin, s.size);
      if (const token_id id = find(piece_text); id >= 0) {
        out.push_back(id);
        return;
      }
      if (const auto it = formed_by.find(piece_text); it != formed_by.end()) {
        self(self, symbols[it->second.first]);
        self(self, symbols[it->second.second]);
        return;
      }
      emit_bytes(s.begin, s.size);
    };
    for (std::size_t i = 0; i < symbols.size(); i = next[i]) emit(emit, symbols[i]);
  }

  // The byte piece of `byte`, which is at offset `at` of encode()'s text.
  token_id byte_token(unsigned byte, std::size_t at) const {
    static constexpr char hex[] = "0123456789ABCDEF";
    const char name[7] = {'<', '0', 'x', hex[byte >> 4], hex[byte & 15], '>', 0};
    if (const token_id id = find(name); id >= 0) return id;
    // llama.cpp then tries the byte itself as a piece.
    if (const token_id id = find(std::string(1, static_cast<char>(byte))); id >= 0) return id;
    throw format_error("SentencePiece vocabulary has no byte-fallback piece " + std::string(name) +
                       " for the byte at offset " + std::to_string(at) + " of the text");
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
