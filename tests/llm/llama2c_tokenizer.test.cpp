// llama2.c's tokenizer on a hand-built vocabulary: hand-worked merges, byte fallback, decoding
// rules and rejection of malformed tokenizer files.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "pollard/llm/llama2c_tokenizer.hpp"
#include "support/naive_tokenizers.hpp"
#include "support/random_bytes.hpp"

using namespace pollard;
using namespace pollard::llm;

namespace {

struct entry {
  std::string piece;
  float score;
};

std::vector<std::byte> tokenizer_bytes(const std::vector<entry>& vocab, std::int32_t max_len) {
  std::vector<std::byte> b;
  auto put = [&](const void* p, std::size_t n) {
    const auto* c = static_cast<const std::byte*>(p);
    b.insert(b.end(), c, c + n);
  };
  put(&max_len, 4);
  for (const auto& e : vocab) {
    const auto len = static_cast<std::int32_t>(e.piece.size());
    put(&e.score, 4);
    put(&len, 4);
    put(e.piece.data(), e.piece.size());
  }
  return b;
}

// ids 0-2 specials, 3-258 bytes, then the pieces below.
std::vector<entry> small_vocab() {
  std::vector<entry> v = {{"<unk>", 0}, {"\n<s>\n", 0}, {"\n</s>\n", 0}};
  char buf[8];
  for (int i = 0; i < 256; ++i) {
    std::snprintf(buf, sizeof buf, "<0x%02X>", i);
    v.push_back({buf, 0});
  }
  v.push_back({" ", -1});         // 259
  v.push_back({"a", -2});         // 260
  v.push_back({"b", -3});         // 261
  v.push_back({"ab", 5});         // 262
  v.push_back({" a", 3});         // 263
  v.push_back({" ab", 10});       // 264
  v.push_back({"aa", 4});         // 265
  v.push_back({"\xc3\xa9", -4});  // 266 "é"
  v.push_back({"b ", 7});         // 267
  return v;
}

llama2c_tokenizer small() {
  const auto v = small_vocab();
  return llama2c_tokenizer::parse(tokenizer_bytes(v, 6), static_cast<std::int64_t>(v.size()));
}

}  // namespace

TEST_CASE("encode merges the best-scoring adjacent pair first (hand-worked)") {
  const auto t = small();
  // [BOS, " ", a, b]: " a" (3) vs "ab" (5) -> [" ", ab]; then " ab" (10) -> [" ab"].
  CHECK(t.encode("ab") == std::vector<token_id>{1, 264});
  // [" ", a, a, a]: "aa" (4) beats " a" (3), the leftmost "aa" wins the tie -> [" ", aa, a].
  CHECK(t.encode("aaa") == std::vector<token_id>{1, 259, 265, 260});
  // [" ", b, " ", a]: "b " (7) first -> [" ", "b ", a]; nothing else merges.
  CHECK(t.encode("b a", false, true) == std::vector<token_id>{259, 267, 260, 2});
  CHECK(t.encode("") == std::vector<token_id>{1});
  CHECK(t.encode("", false, false).empty());
}

TEST_CASE(
    "codepoints missing from the vocabulary fall back to one token per byte (id = byte + 3)") {
  const auto t = small();
  // "é" is a piece; "c" and the 4-byte emoji are not.
  CHECK(t.encode("\xc3\xa9", false) == std::vector<token_id>{259, 266});
  CHECK(t.encode("c\xf0\x9f\x98\x80", false) ==
        std::vector<token_id>{259, 'c' + 3, 0xF0 + 3, 0x9F + 3, 0x98 + 3, 0x80 + 3});
}

TEST_CASE("decode strips the space after BOS, turns <0xHH> into the byte and inverts encode") {
  const auto t = small();
  CHECK(t.decode_piece(1, 264) == "ab");
  CHECK(t.decode_piece(260, 264) == " ab");
  CHECK(t.decode_piece(260, 0x41 + 3) == "A");
  CHECK(t.decode_piece(260, 0x0A + 3) == "\n");
  for (std::string text :
       {"ab", "aaa b", "c\xf0\x9f\x98\x80 \xc3\xa9!", "  two  spaces ", "\n\t~"}) {
    CAPTURE(text);
    CHECK(t.decode(t.encode(text)) == text);
    CHECK(t.decode(t.encode(text, false, true)) == " " + text);
  }
}

TEST_CASE("malformed tokenizer files are format errors naming the problem") {
  auto v = small_vocab();
  const auto n = static_cast<std::int64_t>(v.size());
  auto good = tokenizer_bytes(v, 6);
  const std::string truncated =
      "tok.bin: token 267 bytes needs 2 bytes but only 1 remain (truncated file?) (at byte " +
      std::to_string(good.size() - 2) + ")";
  CHECK_THROWS_WITH_AS(
      llama2c_tokenizer::parse(std::span(good).first(good.size() - 1), n, "tok.bin"),
      truncated.c_str(), format_error);
  const std::string trailing = "tok.bin: 10 trailing bytes after 267 tokens (at byte " +
                               std::to_string(good.size() - 10) + ")";
  CHECK_THROWS_WITH_AS(llama2c_tokenizer::parse(good, n - 1, "tok.bin"), trailing.c_str(),
                       format_error);
  CHECK_THROWS_WITH_AS(llama2c_tokenizer::parse(tokenizer_bytes(v, 0), n, "tok.bin"),
                       "tok.bin: max_token_length must be positive, got 0 (at byte 4)",
                       format_error);
  CHECK_THROWS_WITH_AS(llama2c_tokenizer::parse(tokenizer_bytes(v, 3), n, "tok.bin"),
                       "tok.bin: token 0 length 5 is outside [0, max_token_length 3] (at byte 12)",
                       format_error);
  CHECK_THROWS_WITH_AS(llama2c_tokenizer::parse(good, 1'000'000'000, "tok.bin"),
                       doctest::Contains("1000000000 tokens need at least 8000000000 bytes"),
                       format_error);
  std::int32_t negative = -1;
  std::memcpy(good.data() + 8, &negative, 4);
  CHECK_THROWS_WITH_AS(llama2c_tokenizer::parse(good, n, "tok.bin"),
                       "tok.bin: token 0 length -1 is outside [0, max_token_length 6] (at byte 12)",
                       format_error);
}

TEST_CASE("a vocabulary without byte tokens cannot encode unknown bytes") {
  const std::vector<entry> v = {{"<unk>", 0}, {"\n<s>\n", 0}, {"\n</s>\n", 0}, {" ", 0}};
  const auto t = llama2c_tokenizer::parse(tokenizer_bytes(v, 6), 4);
  CHECK(t.encode(" ", false) == std::vector<token_id>{3, 3});
  CHECK_THROWS_WITH_AS(
      t.encode("  z"),
      "llama2c_tokenizer: no byte-fallback token for byte 122 at offset 2 of the text in a "
      "vocabulary of 4",
      format_error);
}

TEST_CASE("every byte is kept: decode(encode(bytes)) == bytes for random byte strings (seeded)") {
  // run.c groups a byte with the continuation bytes after it (at most 4 in all); a group that
  // is not a piece falls back to one token per byte, so ill-formed UTF-8 (C0 80, ED A0 80, a
  // lone 80, a truncated E2 82) comes back byte for byte.
  const auto t = small();
  CHECK(t.encode("\xC0\x80", false) == std::vector<token_id>{259, 0xC0 + 3, 0x80 + 3});
  CHECK(t.encode("\xE2\x82", false) == std::vector<token_id>{259, 0xE2 + 3, 0x82 + 3});
  for (const auto& text : pollard::test::random_byte_strings(3000, 48, 9)) {
    CAPTURE(text);
    CHECK(t.decode(t.encode(text)) == text);
  }
}

namespace {

// ids 0-2 specials, 3-258 bytes, 259 " ", then every string of 2 to 4 letters over {a, b}
// (and " a", " b"), each scored from {-1, 0, 1} by a seeded draw: many equal scores, so the
// leftmost-on-ties rule decides often.
llama2c_tokenizer tied_vocab(std::uint64_t seed) {
  std::vector<entry> v = small_vocab();
  v.resize(259);
  v.push_back({" ", -5});
  v.push_back({"a", -5});
  v.push_back({"b", -5});
  std::mt19937_64 rng(seed);
  std::vector<std::string> words = {"a", "b"};
  for (std::size_t length = 2; length <= 4; ++length) {
    std::vector<std::string> longer;
    for (const auto& w : words)
      if (w.size() == length - 1)
        for (const char c : {'a', 'b'}) longer.push_back(w + c);
    for (const auto& w : longer) {
      v.push_back({w, static_cast<float>(static_cast<int>(rng() % 3) - 1)});
      words.push_back(w);
    }
  }
  v.push_back({" a", 0});
  v.push_back({" b", 0});
  return llama2c_tokenizer::parse(tokenizer_bytes(v, 6), static_cast<std::int64_t>(v.size()));
}

}  // namespace

TEST_CASE("encode equals run.c's quadratic merge loop on random strings over {a, b, ' '}") {
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    const auto t = tied_vocab(seed);
    std::mt19937_64 rng(seed + 100);
    for (int trial = 0; trial < 200; ++trial) {
      std::string text;
      for (auto n = rng() % 80; n > 0; --n) text += "aab "[rng() % 4];
      CAPTURE(seed);
      CAPTURE(text);
      CHECK(t.encode(text) == test::naive_llama2c_encode(t, text));
    }
  }
}

TEST_CASE("a run of 200,000 equal letters encodes in well under a second, as run.c would") {
  // small(): "aa" (score 4) beats " a" (3) and merges leftmost first, and nothing longer than
  // "aa" is a piece, so a run of 2n letters becomes n "aa" (by hand). run.c's quadratic loop
  // agrees on 2001 letters.
  const auto t = small();
  const token_id aa = 265, a = 260, space = 259;
  CHECK(t.encode(std::string(2001, 'a')) == test::naive_llama2c_encode(t, std::string(2001, 'a')));
  const std::string run(200000, 'a');
  // Processor time, not wall time, so that a busy machine cannot fail the test (the quadratic
  // loop needs minutes here; this takes 0.05 s, 0.3 s under ASan+UBSan).
  const std::clock_t start = std::clock();
  const auto ids = t.encode(run);
  const std::chrono::duration<double> took(static_cast<double>(std::clock() - start) /
                                           CLOCKS_PER_SEC);
  MESSAGE("200,000 letters: " << took.count() << " s of processor time");
  CHECK(took.count() < 1.0);
  std::vector<token_id> expected = {1, space};
  expected.insert(expected.end(), 100000, aa);
  CHECK(ids == expected);
  // One more letter: the last one has no partner.
  expected.push_back(a);
  CHECK(t.encode(run + "a") == expected);
}
