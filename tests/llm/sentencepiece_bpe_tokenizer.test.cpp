#include <doctest/doctest.h>

#include <cstdio>
#include <initializer_list>
#include <string>
#include <vector>

#include "pollard/llm/sentencepiece_bpe_tokenizer.hpp"
#include "support/random_bytes.hpp"

using namespace pollard;
using namespace pollard::llm;

namespace {

// A vocabulary worked by hand: <unk>, <s>, </s>, the 256 byte pieces <0x00>..<0xFF> (ids 3..258),
// then a few pieces with scores.
constexpr token_id space = 259, a = 260, b = 261, ab = 262, space_a = 263, space_ab = 264, xy = 265,
                   yz = 266, my_tag = 267;
constexpr token_id byte_id(unsigned byte) { return static_cast<token_id>(byte) + 3; }

sentencepiece_bpe_tokenizer hand_vocabulary(bool add_space_prefix = true) {
  std::vector<std::string> pieces = {"<unk>", "<s>", "</s>"};
  std::vector<float> scores = {0, 0, 0};
  std::vector<sentencepiece_token_type> types = {sentencepiece_token_type::unknown,
                                                 sentencepiece_token_type::control,
                                                 sentencepiece_token_type::control};
  for (unsigned byte = 0; byte < 256; ++byte) {
    char name[7];
    std::snprintf(name, sizeof name, "<0x%02X>", byte);
    pieces.emplace_back(name);
    scores.push_back(0);
    types.push_back(sentencepiece_token_type::byte);
  }
  const std::vector<std::pair<std::string, float>> normal = {{"\xE2\x96\x81", -1.0f},
                                                             {"a", -2.0f},
                                                             {"b", -3.0f},
                                                             {"ab", -0.5f},
                                                             {"\xE2\x96\x81"
                                                              "a",
                                                              -0.2f},
                                                             {"\xE2\x96\x81"
                                                              "ab",
                                                              -0.1f},
                                                             {"xy", -4.0f},
                                                             {"yz", -4.0f}};
  for (const auto& [piece, score] : normal) {
    pieces.push_back(piece);
    scores.push_back(score);
    types.push_back(sentencepiece_token_type::normal);
  }
  pieces.emplace_back("<my\xE2\x96\x81tag>");  // user-defined, id 267: text "<my tag>"
  scores.push_back(0);
  types.push_back(sentencepiece_token_type::user_defined);
  sentencepiece_bpe_tokenizer::settings s;
  s.bos = 1;
  s.eos = 2;
  s.add_space_prefix = add_space_prefix;
  return sentencepiece_bpe_tokenizer(pieces, scores, types, s);
}

}  // namespace

TEST_CASE("SentencePiece BPE merges the highest-scoring pair first, by hand") {
  const auto t = hand_vocabulary();
  // "▁ab": the candidates are "▁a" (-0.2) and "ab" (-0.5); "▁a" wins, then "▁a"+"b" = "▁ab".
  CHECK(t.encode("ab", true) == std::vector<token_id>{1, space_ab});
  CHECK(t.encode("ab", false) == std::vector<token_id>{space_ab});
  // "▁ba▁c": no adjacent pair is a piece; 'c' has no piece and falls back to its byte.
  CHECK(t.encode("ba c", false) == std::vector<token_id>{space, b, a, space, byte_id('c')});
  // "▁xyz": "xy" and "yz" score the same, so the leftmost merges; 'z' then stands alone.
  CHECK(t.encode("xyz", false) == std::vector<token_id>{space, xy, byte_id('z')});
  // A character without a piece becomes one byte piece per UTF-8 byte.
  CHECK(t.encode("\xC3\xA9", false) == std::vector<token_id>{space, byte_id(0xC3), byte_id(0xA9)});
  // Empty text: BOS only, and no space prefix.
  CHECK(t.encode("", true) == std::vector<token_id>{1});
  CHECK(t.encode("", false).empty());
}

TEST_CASE("SentencePiece BPE without a space prefix starts at the text") {
  const auto t = hand_vocabulary(false);
  CHECK(t.encode("ab", false) == std::vector<token_id>{ab});
  CHECK(t.encode("b ab", false) == std::vector<token_id>{b, space_ab});
  // The piece's space is kept in the decoded text when no prefix was added.
  CHECK(t.decode(std::vector<token_id>{space_ab}) == " ab");
}

TEST_CASE("SentencePiece BPE decodes spaces, bytes and control pieces") {
  const auto t = hand_vocabulary();
  // The space prefix is removed at the start and right after BOS, nowhere else.
  CHECK(t.decode(std::vector<token_id>{1, space_ab, space_a, 2}) == "ab a");
  CHECK(t.decode(std::vector<token_id>{space_a}) == "a");
  CHECK(t.decode(std::vector<token_id>{space_a}, token_id{a}) == " a");
  CHECK(t.decode(std::vector<token_id>{byte_id(0xC3), byte_id(0xA9)}) == "\xC3\xA9");
  for (const char* text : {"ab", "ba c", "xyz", "\xC3\xA9 ab  b", "a\tb\n"})
    CHECK(t.decode(t.encode(text, true)) == text);
}

TEST_CASE("SentencePiece BPE: special-token text, and the space prefix after each match") {
  const auto t = hand_vocabulary();
  const auto parse = special_token_text::parse, plain = special_token_text::plain;
  // Parsed, "<s>" is BOS; each stretch after it is prefixed with a space again (llama.cpp's
  // is_prev_special): "a" -> "▁a", then <s>, then "b" -> "▁b" = ▁ + b, by hand.
  CHECK(t.encode("a<s>b", false, parse) == std::vector<token_id>{space_a, 1, space, b});
  CHECK(t.encode("a<s>b", false) == t.encode("a<s>b", false, parse));
  CHECK(t.encode("<unk></s>", false, parse) == std::vector<token_id>{0, 2});
  // Plain, "<s>" is three characters without pieces: their byte pieces.
  CHECK(t.encode("a<s>b", false, plain) ==
        std::vector<token_id>{space_a, byte_id('<'), byte_id('s'), byte_id('>'), b});
  // A user-defined token is matched either way, spelled with a space where its piece has "▁".
  for (const auto mode : {parse, plain})
    CHECK(t.encode("ab<my tag>b", true, mode) ==
          std::vector<token_id>{1, space_ab, my_tag, space, b});
}

TEST_CASE("SentencePiece BPE refuses inconsistent vocabularies by name") {
  using T = sentencepiece_token_type;
  sentencepiece_bpe_tokenizer::settings s;
  s.bos = 1;
  CHECK_THROWS_WITH_AS(sentencepiece_bpe_tokenizer({"a", "b"}, {0.0f}, {T::normal, T::normal}, s),
                       doctest::Contains("2 pieces, 1 scores and 2 token types"), format_error);
  s.bos = 5;
  CHECK_THROWS_WITH_AS(sentencepiece_bpe_tokenizer({"a", "b"}, {0, 0}, {T::normal, T::normal}, s),
                       doctest::Contains("BOS id 5 is outside the vocabulary of 2"), format_error);
  s.bos = 1;
  CHECK_THROWS_WITH_AS(
      sentencepiece_bpe_tokenizer({"a", "b"}, {0, 0}, {T::normal, static_cast<T>(9)}, s),
      doctest::Contains("type 9"), format_error);
  // A byte without a "<0xHH>" piece (nor a piece of the byte itself) cannot be encoded.
  const sentencepiece_bpe_tokenizer small({"<s>", "\xE2\x96\x81", "a"}, {0, 0, 0},
                                          {T::control, T::normal, T::normal}, {0, std::nullopt});
  CHECK(small.encode("a a", true) == std::vector<token_id>{0, 1, 2, 1, 2});
  CHECK_THROWS_WITH_AS(small.encode("q", false), doctest::Contains("<0x71>"), format_error);
  CHECK_THROWS_WITH_AS(small.encode("a q", false),
                       "SentencePiece vocabulary has no byte-fallback piece <0x71> for the byte at "
                       "offset 2 of the text",
                       format_error);
}

TEST_CASE("SentencePiece BPE reads ill-formed UTF-8 as llama.cpp does and keeps every byte") {
  const auto t = hand_vocabulary();
  const auto bytes = [](std::initializer_list<unsigned> list) {
    std::vector<token_id> ids = {space};  // the space prefix
    for (const unsigned b : list) ids.push_back(byte_id(b));
    return ids;
  };
  // One character each as llama.cpp reads them (overlong, surrogate, above U+10FFFF): no piece,
  // so their bytes' pieces.
  CHECK(t.encode("\xC0\x80", false) == bytes({0xC0, 0x80}));
  CHECK(t.encode("\xE0\x80\x80", false) == bytes({0xE0, 0x80, 0x80}));
  CHECK(t.encode("\xED\xA0\x80", false) == bytes({0xED, 0xA0, 0x80}));
  CHECK(t.encode("\xF4\x90\x80\x80", false) == bytes({0xF4, 0x90, 0x80, 0x80}));
  CHECK(t.encode("\xF5", false) == bytes({0xF5}));
  CHECK(t.encode("\x80", false) == bytes({0x80}));
  CHECK(t.encode("\xE2\x82", false) == bytes({0xE2, 0x82}));
  // A lead byte whose continuation bytes are missing is one byte: C0 does not swallow the
  // "▁" of the space after it, which still merges with "a": ▁ | C0 | ▁a.
  CHECK(t.encode("\xC0 a", false) == std::vector<token_id>{space, byte_id(0xC0), space_a});
  // ▁ | E2 | 82 | ▁ | a | b: "▁a" (-0.2) beats "ab" (-0.5), then "▁ab" (-0.1).
  CHECK(t.encode("\xE2\x82 ab", false) ==
        std::vector<token_id>{space, byte_id(0xE2), byte_id(0x82), space_ab});
  // A "▁" written in the text is not a space: its bytes, never merged with "a" or "b".
  CHECK(t.encode("a\xE2\x96\x81"
                 "b",
                 false) ==
        std::vector<token_id>{space_a, byte_id(0xE2), byte_id(0x96), byte_id(0x81), b});
  for (const std::string text : {"\xC0\x80", "\xC0 a", "\xE2\x82 ab", "a\xE2\x96\x81 b", " \xF5"}) {
    CAPTURE(text);
    CHECK(t.decode(t.encode(text, true)) == text);
  }
}

TEST_CASE("SentencePiece BPE: decode(encode(bytes)) == bytes for random byte strings (seeded)") {
  for (const bool prefix : {true, false}) {
    const auto t = hand_vocabulary(prefix);
    for (const auto& text : test::random_byte_strings(3000, 48, 5)) {
      CAPTURE(text);
      CHECK(t.decode(t.encode(text, true, special_token_text::plain)) == text);
      CHECK(t.decode(t.encode(text, false, special_token_text::plain)) == text);
    }
  }
}
