// pollard — one tokenizer type over the formats pollard reads (llama2.c BPE with scores,
// GPT-2 byte-level BPE and SentencePiece BPE from GGUF), so evaluation and generation need not
// know which: it is an evaluation::text_tokenizer.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "pollard/llm/byte_level_bpe_tokenizer.hpp"
#include "pollard/llm/llama2c_tokenizer.hpp"
#include "pollard/llm/sentencepiece_bpe_tokenizer.hpp"
#include "pollard/llm/special_token_text.hpp"
#include "pollard/llm/text_bytes.hpp"

namespace pollard::llm {

/// Encodes and decodes text for a model, whichever tokenizer format it came with.
class text_tokenizer {
 public:
  /// llama2.c's encoder reads special-token text as ordinary text (plain).
  explicit text_tokenizer(llama2c_tokenizer t)
      : t_(std::move(t)), special_(llm::special_token_text::plain) {}
  explicit text_tokenizer(byte_level_bpe_tokenizer t) : t_(std::move(t)) {}
  explicit text_tokenizer(sentencepiece_bpe_tokenizer t) : t_(std::move(t)) {}

  /// Token ids of `text`, with BOS first when `add_bos` (and the vocabulary has one). Text
  /// spelling a special token is read as special_token_text() says (llama2.c's tokenizer has
  /// none: its <s> and </s> are never matched in text, as in llama2.c's run.c).
  std::vector<token_id> encode(std::string_view text, bool add_bos) const {
    if (const auto* s = std::get_if<llama2c_tokenizer>(&t_)) return s->encode(text, add_bos);
    if (const auto* s = std::get_if<sentencepiece_bpe_tokenizer>(&t_))
      return s->encode(text, add_bos, special_);
    return std::get<byte_level_bpe_tokenizer>(t_).encode(text, add_bos, special_);
  }

  /// What encode() makes of text spelling a special token: parse (the default, as
  /// transformers' tokenizer(text) does) or plain; always plain for llama2.c's tokenizer.
  llm::special_token_text special_token_text() const noexcept { return special_; }
  /// Throws option_error for parse on llama2.c's tokenizer, which never matches special-token
  /// text (as llama2.c's run.c: <s> and </s> are only the BOS and EOS ids).
  void set_special_token_text(llm::special_token_text mode) {
    if (mode == llm::special_token_text::parse && std::holds_alternative<llama2c_tokenizer>(t_))
      throw option_error(
          "special-token text: llama2.c's tokenizer never reads special-token text (<s> and "
          "</s> are only the BOS and EOS ids, as in llama2.c's run.c); it cannot parse it");
    special_ = mode;
  }

  /// What encode() makes of text that is not UTF-8 and of bytes without a token (text_bytes):
  /// keep (every byte kept; the only rule of SentencePiece and llama2.c tokenizers, whose byte
  /// pieces take any byte) or llama_cpp (byte-level BPE as llama.cpp tokenizes).
  text_bytes bytes_rule() const noexcept {
    const auto* s = std::get_if<byte_level_bpe_tokenizer>(&t_);
    return s != nullptr ? s->bytes_rule() : text_bytes::keep;
  }
  /// Throws option_error for llama_cpp on a tokenizer that is not byte-level BPE.
  void set_bytes_rule(text_bytes rule) {
    if (auto* s = std::get_if<byte_level_bpe_tokenizer>(&t_)) {
      s->set_bytes_rule(rule);
      return;
    }
    if (rule == text_bytes::llama_cpp)
      throw option_error("text bytes: the llama.cpp rule is for byte-level BPE tokenizers; " +
                         std::string(kind()) +
                         " keeps every byte through its byte pieces (keep is its only rule)");
  }

  /// The text of a continuation; `previous` is the token before tokens.front() (llama2.c drops
  /// the space that follows BOS), or nothing.
  std::string decode(std::span<const token_id> tokens,
                     std::optional<token_id> previous = std::nullopt) const {
    if (const auto* s = std::get_if<llama2c_tokenizer>(&t_)) {
      std::string out;
      token_id prev = previous.value_or(-1);
      for (const auto t : tokens) {
        if (t != llama2c_tokenizer::bos && t != llama2c_tokenizer::eos)
          out += s->decode_piece(prev, t);
        prev = t;
      }
      return out;
    }
    if (const auto* s = std::get_if<sentencepiece_bpe_tokenizer>(&t_))
      return s->decode(tokens, previous);
    return std::get<byte_level_bpe_tokenizer>(t_).decode(
        std::vector<token_id>(tokens.begin(), tokens.end()));
  }

  std::optional<token_id> bos() const {
    if (std::holds_alternative<llama2c_tokenizer>(t_)) return llama2c_tokenizer::bos;
    if (const auto* s = std::get_if<sentencepiece_bpe_tokenizer>(&t_)) return s->bos();
    return std::get<byte_level_bpe_tokenizer>(t_).bos();
  }
  std::optional<token_id> eos() const {
    if (std::holds_alternative<llama2c_tokenizer>(t_)) return llama2c_tokenizer::eos;
    if (const auto* s = std::get_if<sentencepiece_bpe_tokenizer>(&t_)) return s->eos();
    return std::get<byte_level_bpe_tokenizer>(t_).eos();
  }
  /// Whether the model expects BOS at the start of a text (llama2.c: always; GGUF: its
  /// tokenizer.ggml.add_bos_token, by default true for SentencePiece and false for GPT-2 BPE).
  bool adds_bos() const {
    if (std::holds_alternative<llama2c_tokenizer>(t_)) return true;
    if (const auto* s = std::get_if<sentencepiece_bpe_tokenizer>(&t_)) return s->adds_bos();
    return std::get<byte_level_bpe_tokenizer>(t_).adds_bos();
  }
  /// The tokens that end a generated text: EOS (when the vocabulary has one) and, for llama2.c
  /// BPE, BOS as well (llama2.c's run.c stops there).
  std::vector<token_id> stop_tokens() const {
    std::vector<token_id> out;
    if (eos()) out.push_back(*eos());
    if (std::holds_alternative<llama2c_tokenizer>(t_)) out.push_back(llama2c_tokenizer::bos);
    return out;
  }
  /// Tokens in the vocabulary: ids 0 .. vocabulary_size() - 1.
  std::size_t vocabulary_size() const {
    return std::visit(
        [](const auto& t) -> std::size_t {
          using tokenizer = std::decay_t<decltype(t)>;
          if constexpr (std::is_same_v<tokenizer, byte_level_bpe_tokenizer>)
            return t.vocabulary_size();
          else
            return static_cast<std::size_t>(t.vocab_size());
        },
        t_);
  }
  /// Token `id` as the tokenizer file stores it: a llama2.c or SentencePiece piece, a
  /// byte-level BPE token in GPT-2's byte-to-unicode spelling.
  std::string_view piece(token_id id) const {
    if (const auto* s = std::get_if<llama2c_tokenizer>(&t_)) return s->piece(id);
    if (const auto* s = std::get_if<sentencepiece_bpe_tokenizer>(&t_)) return s->piece(id);
    return std::get<byte_level_bpe_tokenizer>(t_).token(id);
  }
  /// The merge score of token `id` (llama2.c, SentencePiece); 0 for byte-level BPE, which ranks
  /// merges instead (merge_ranks_equal).
  float score(token_id id) const {
    if (const auto* s = std::get_if<llama2c_tokenizer>(&t_)) return s->score(id);
    if (const auto* s = std::get_if<sentencepiece_bpe_tokenizer>(&t_)) return s->score(id);
    return 0.0f;
  }
  /// Whether both tokenizers merge alike: the same merge ranks for byte-level BPE (the scores
  /// decide for the other kinds, so true there when both are of the same kind).
  bool merge_ranks_equal(const text_tokenizer& other) const {
    const auto* a = std::get_if<byte_level_bpe_tokenizer>(&t_);
    const auto* b = std::get_if<byte_level_bpe_tokenizer>(&other.t_);
    if (a == nullptr || b == nullptr) return a == b && kind() == other.kind();
    return a->merge_ranks() == b->merge_ranks();
  }
  /// The byte-level BPE pre-tokenizer's name (byte_level_bpe_tokenizer::pre_tokenizer()), or
  /// nothing for the other kinds, which have none to choose.
  std::optional<std::string> pre_tokenizer() const {
    if (const auto* t = std::get_if<byte_level_bpe_tokenizer>(&t_)) return t->pre_tokenizer();
    return std::nullopt;
  }
  std::string_view kind() const {
    if (std::holds_alternative<llama2c_tokenizer>(t_)) return "llama2.c BPE";
    if (std::holds_alternative<sentencepiece_bpe_tokenizer>(t_)) return "SentencePiece BPE";
    return "byte-level BPE";
  }

 private:
  std::variant<llama2c_tokenizer, byte_level_bpe_tokenizer, sentencepiece_bpe_tokenizer> t_;
  llm::special_token_text special_ = llm::special_token_text::parse;
};

}  // namespace pollard::llm
