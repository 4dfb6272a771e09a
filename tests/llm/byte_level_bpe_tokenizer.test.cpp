#include <doctest/doctest.h>

#include <algorithm>
#include <initializer_list>
#include <string>
#include <vector>

#include "pollard/llm/byte_level_bpe_tokenizer.hpp"
#include "support/random_bytes.hpp"

using pollard::llm::byte_level_bpe_tokenizer;

namespace {

// A vocabulary of every byte symbol, plus merged tokens; the space byte maps to "Ġ" (U+0120).
byte_level_bpe_tokenizer tiny(const std::string& pre = "gpt2") {
  const auto& table = pollard::llm::detail::byte_to_unicode();
  std::vector<std::string> tokens = {"<|endoftext|>"};
  for (const auto& s : table) tokens.push_back(s);
  for (const char* t : {"lo", "low", "Ġlo", "Ġlow", "er", "Ġlower", "12"}) tokens.push_back(t);
  const std::vector<std::string> merges = {"l o", "Ġ lo", "lo w", "Ġlo w", "e r", "Ġlow er", "1 2"};
  tokens.push_back("<tag>");   // a user-defined (added, not special) token
  tokens.push_back("<tag>x");  // a longer one starting at the same place
  std::vector<std::int32_t> types(tokens.size(), 1);
  types[0] = 3;                  // control
  types[tokens.size() - 2] = 4;  // user-defined
  types[tokens.size() - 1] = 4;
  return byte_level_bpe_tokenizer(tokens, merges, types, pre, 0, 0);
}

int id_of(const byte_level_bpe_tokenizer& t, const std::string& bytes) {
  for (std::int32_t i = 0; i < static_cast<std::int32_t>(t.vocabulary_size()); ++i)
    if (t.token_bytes(i) == bytes) return i;
  return -1;
}

}  // namespace

TEST_CASE("GPT-2 byte map: printable ASCII maps to itself, space to U+0120, newline to U+010A") {
  const auto& table = pollard::llm::detail::byte_to_unicode();
  CHECK(table['a'] == "a");
  CHECK(table[' '] == "\xc4\xa0");
  CHECK(table['\n'] == "\xc4\x8a");
  CHECK(table[0xad] == "\xc5\x83");  // soft hyphen: the 68th remapped byte, U+0143
}

TEST_CASE("merges apply lowest rank first within each pre-tokenized piece") {
  const auto t = tiny();
  // "lower low": pieces "lower", " low"; "lower" -> lo, w, er -> "low" + "er"
  const auto ids = t.encode("lower low");
  const std::vector<std::int32_t> expected = {id_of(t, "low"), id_of(t, "er"), id_of(t, " low")};
  CHECK(ids == expected);
  CHECK(t.encode(" lower") == std::vector<std::int32_t>{id_of(t, " lower")});
  CHECK(t.decode(ids) == "lower low");
}

TEST_CASE("the smollm pre-tokenizer splits digits one by one before the GPT-2 rules") {
  const auto gpt2 = tiny("gpt2");
  const auto smollm = tiny("smollm");
  CHECK(gpt2.encode("12") == std::vector<std::int32_t>{id_of(gpt2, "12")});
  CHECK(smollm.encode("12") == std::vector<std::int32_t>{id_of(smollm, "1"), id_of(smollm, "2")});
}

TEST_CASE("llama.cpp's default pre-tokenizer cuts digit runs into threes after the GPT-2 rules") {
  // llama.cpp's LLAMA_VOCAB_PRE_TYPE_DEFAULT regexes, applied by hand: "1212" is one \p{N}+
  // piece, which [0-9][0-9][0-9] cuts into "121" and "2"; merges then give 12, 1, 2. GPT-2's
  // rules keep "1212" whole: 12, 12.
  const auto gpt2 = tiny("gpt2");
  const auto fallback = tiny("default");
  CHECK(gpt2.encode("1212") == std::vector<std::int32_t>{id_of(gpt2, "12"), id_of(gpt2, "12")});
  CHECK(fallback.encode("1212") == std::vector<std::int32_t>{id_of(fallback, "12"),
                                                             id_of(fallback, "1"),
                                                             id_of(fallback, "2")});
  CHECK(fallback.pre_tokenizer() == "default");
  CHECK(fallback.decode(fallback.encode("x 1234567, (lower)")) == "x 1234567, (lower)");
}

TEST_CASE("white-space runs keep their last space for the next word, and bytes round-trip") {
  const auto t = tiny();
  const auto ids = t.encode("a   low");  // "a", "  ", " low"
  const std::vector<std::int32_t> expected = {id_of(t, "a"), id_of(t, " "), id_of(t, " "),
                                              id_of(t, " low")};
  CHECK(ids == expected);
  for (const std::string text : {"héllo wörld 🙂\n\n\t x", "it's 3.14!"})
    CHECK(t.decode(t.encode(text)) == text);
  // Bytes that are not UTF-8 are kept: each is its byte symbol's token.
  CHECK(t.decode(t.encode("\xff\xfe invalid utf8")) == "\xff\xfe invalid utf8");
  CHECK(t.encode("\xff\xfe", false) ==
        std::vector<std::int32_t>{id_of(t, "\xff"), id_of(t, "\xfe")});
}

TEST_CASE("a long piece merges as a short one does, merge by merge") {
  // One pre-tokenized piece of 3000 letters: "l o" then "lo w" make each "low" one token; a
  // trailing "lo" stays "lo" (no "lo w" partner), "l" alone stays a byte symbol.
  const auto t = tiny();
  std::string text;
  for (int k = 0; k < 1000; ++k) text += "low";
  const int low = id_of(t, "low"), lo = id_of(t, "lo"), l = id_of(t, "l");
  std::vector<std::int32_t> expected(1000, low);
  CHECK(t.encode(text, false) == expected);
  expected.push_back(lo);
  CHECK(t.encode(text + "lo", false) == expected);
  expected.back() = l;
  CHECK(t.encode(text + "l", false) == expected);
}

TEST_CASE("control tokens are matched only when parsed; user-defined tokens always") {
  using pollard::llm::special_token_text;
  const auto t = tiny();
  const auto parse = special_token_text::parse, plain = special_token_text::plain;
  const int low = id_of(t, "low"), space_low = id_of(t, " low");
  const int tag = id_of(t, "<tag>"), tag_x = id_of(t, "<tag>x");
  CHECK(t.encode("<|endoftext|>", false, parse) == std::vector<std::int32_t>{0});
  CHECK(t.encode("<|endoftext|>", false) == std::vector<std::int32_t>{0});  // parse by default
  // Plain: the spelling is ordinary text, byte symbols and merges: no token 0 anywhere.
  const auto spelled = t.encode("<|endoftext|>", false, plain);
  CHECK(spelled.size() > 1);
  CHECK(std::find(spelled.begin(), spelled.end(), 0) == spelled.end());
  CHECK(t.decode(spelled) == "<|endoftext|>");
  CHECK(t.encode("low", true) == std::vector<std::int32_t>{0, low});
  // Between matches the text is tokenized as it would be alone, pieces split by the
  // pre-tokenizer inside each stretch only: "low" then " low" around the control token.
  CHECK(t.encode("low<|endoftext|> low", false, parse) ==
        std::vector<std::int32_t>{low, 0, space_low});
  CHECK(t.encode("<|endoftext|><|endoftext|>", false, parse) == std::vector<std::int32_t>{0, 0});
  // User-defined tokens are matched in both modes; at one position the longest wins.
  for (const auto mode : {parse, plain}) {
    CHECK(t.encode("low<tag> low", false, mode) == std::vector<std::int32_t>{low, tag, space_low});
    CHECK(t.encode("<tag>x<tag>", false, mode) == std::vector<std::int32_t>{tag_x, tag});
  }
  CHECK(t.decode(std::vector<std::int32_t>{low, tag, space_low}) == "low<tag> low");
}

TEST_CASE("bad vocabularies and ids are rejected with a message") {
  CHECK_THROWS_WITH_AS(byte_level_bpe_tokenizer({"a"}, {"ab"}, {}, "gpt2"),
                       "byte-level BPE: merge 0 'ab' is not two symbols separated by a space",
                       pollard::format_error);
  CHECK_THROWS_WITH_AS(byte_level_bpe_tokenizer({"a"}, {}, {}, "gpt2", 5),
                       "byte-level BPE: special token id 5 is outside the vocabulary",
                       pollard::format_error);
  CHECK_THROWS_AS(byte_level_bpe_tokenizer({"a"}, {}, {}, "unknown-pre"), pollard::option_error);
  CHECK_THROWS_WITH_AS(tiny().token_bytes(100000),
                       "byte-level BPE: token id 100000 is outside the 266-token vocabulary",
                       pollard::option_error);
  // A byte symbol missing from the vocabulary is refused, naming the byte and where it is
  // (llama.cpp drops it: "bab" would give the one token "a").
  CHECK_THROWS_WITH_AS(byte_level_bpe_tokenizer({"a"}, {}, {}, "gpt2").encode("ab"),
                       "byte-level BPE: byte 0x62 at offset 1 of the text has no token in the "
                       "vocabulary (its symbol 'b'), so it cannot be encoded without losing it",
                       pollard::format_error);
  CHECK_THROWS_WITH_AS(byte_level_bpe_tokenizer({"a", "\xc3\x80"}, {}, {}, "gpt2")
                           .encode("a\xc0\x80 a", false, pollard::llm::special_token_text::plain),
                       doctest::Contains("byte 0x80 at offset 2 of the text"),
                       pollard::format_error);
}

TEST_CASE("ill-formed UTF-8 is split as llama.cpp reads it, and every byte is kept (by hand)") {
  const auto t = tiny();
  const auto bytes = [&](std::initializer_list<unsigned> list) {
    std::vector<std::int32_t> ids;
    for (const unsigned b : list) ids.push_back(id_of(t, std::string(1, static_cast<char>(b))));
    return ids;
  };
  // No merge involves these bytes, so each is its byte token; what matters is that none is
  // lost or changed (llama.cpp turns C0 80 into the byte 00, and a lone byte into U+FFFD).
  CHECK(t.encode("\xC0\x80", false) == bytes({0xC0, 0x80}));            // overlong U+0000
  CHECK(t.encode("\xE0\x80\x80", false) == bytes({0xE0, 0x80, 0x80}));  // overlong U+0000
  CHECK(t.encode("\xED\xA0\x80", false) == bytes({0xED, 0xA0, 0x80}));  // surrogate U+D800
  CHECK(t.encode("\xF4\x90\x80\x80", false) == bytes({0xF4, 0x90, 0x80, 0x80}));
  CHECK(t.encode("\xF5", false) == bytes({0xF5}));
  CHECK(t.encode("\x80", false) == bytes({0x80}));
  CHECK(t.encode("\xE2\x82", false) == bytes({0xE2, 0x82}));  // truncated
}

TEST_CASE(
    "with text_bytes::llama_cpp, ill-formed UTF-8 is merged as llama.cpp writes it (by hand)") {
  // A vocabulary without the symbols of 04 and FF: llama.cpp drops such a byte. An ill-formed
  // byte is read as U+FFFD (EF BF BD) and an overlong form as its shortest one (C0 80 as 00); a
  // surrogate is written back as its three bytes; above U+10FFFF llama.cpp throws.
  const auto& table = pollard::llm::detail::byte_to_unicode();
  std::vector<std::string> tokens = {"<|endoftext|>"};
  for (int b = 0; b < 256; ++b)
    if (b != 0x04 && b != 0xFF) tokens.push_back(table[static_cast<std::size_t>(b)]);
  byte_level_bpe_tokenizer t(tokens, {}, {}, "gpt2");
  CHECK(t.bytes_rule() == pollard::llm::text_bytes::keep);
  CHECK_THROWS_WITH_AS(t.encode("a\x04"), doctest::Contains("byte 0x04 at offset 1"),
                       pollard::format_error);
  t.set_bytes_rule(pollard::llm::text_bytes::llama_cpp);
  const auto bytes = [&](std::initializer_list<unsigned> list) {
    std::vector<std::int32_t> ids;
    for (const unsigned b : list) ids.push_back(id_of(t, std::string(1, static_cast<char>(b))));
    return ids;
  };
  CHECK(t.encode("a\x04"
                 "b") == bytes({'a', 'b'}));
  CHECK(t.encode("\xFF") == bytes({0xEF, 0xBF, 0xBD}));
  CHECK(t.encode("\x80!") == bytes({0xEF, 0xBF, 0xBD, '!'}));
  CHECK(t.encode("\xC0\x80") == bytes({0x00}));
  CHECK(t.encode("\xE0\x80\x80") == bytes({0x00}));
  CHECK(t.encode("\xE2\x82") == bytes({0xEF, 0xBF, 0xBD, 0xEF, 0xBF, 0xBD}));
  CHECK(t.encode("\xF0\x8D\xA0\x80") == bytes({0xED, 0xA0, 0x80}));  // overlong surrogate
  CHECK(t.encode("\xED\xA0\x80") == bytes({0xED, 0xA0, 0x80}));
  CHECK_THROWS_WITH_AS(t.encode("ok \xF4\x90\x80\x80"),
                       doctest::Contains("bytes at offset 3 of the text decode to a code point "
                                         "above U+10FFFF"),
                       pollard::format_error);
  // Well-formed text is unchanged by the rule.
  CHECK(t.encode("caf\xC3\xA9") == bytes({'c', 'a', 'f', 0xC3, 0xA9}));
}

TEST_CASE("the pre-tokenizer splits ill-formed UTF-8 where llama.cpp does (by hand)") {
  // Every byte symbol, plus "b" merged with the symbols of C1 and of C0. llama.cpp reads
  // C1 81 as an overlong 'A' (a letter), so "b" + C1 81 is one \p{L}+ piece and "b" merges with
  // C1's symbol; it reads C0 80 as U+0000 (not a letter, so its own piece) and E2 82 as two
  // U+FFFD (symbols), so "b" stays apart from those.
  const auto& table = pollard::llm::detail::byte_to_unicode();
  std::vector<std::string> tokens = {"<|endoftext|>"};
  for (const auto& symbol : table) tokens.push_back(symbol);
  tokens.push_back("b" + table[0xC1]);
  tokens.push_back("b" + table[0xC0]);
  tokens.push_back("b" + table[0xE2]);
  const byte_level_bpe_tokenizer t(
      tokens, {"b " + table[0xC1], "b " + table[0xC0], "b " + table[0xE2]}, {}, "gpt2");
  const auto byte = [](unsigned b) { return static_cast<std::int32_t>(b) + 1; };
  const auto b_c1 = static_cast<std::int32_t>(tokens.size()) - 3;
  CHECK(t.encode("b\xC1\x81") == std::vector<std::int32_t>{b_c1, byte(0x81)});
  CHECK(t.encode("b\xC0\x80") == std::vector<std::int32_t>{byte('b'), byte(0xC0), byte(0x80)});
  CHECK(t.encode("b\xE2\x82") == std::vector<std::int32_t>{byte('b'), byte(0xE2), byte(0x82)});
  // Well-formed, "b" and U+2082 (subscript two, E2 82 82: a number) are two pieces as well.
  CHECK(t.encode("b\xE2\x82\x82") ==
        std::vector<std::int32_t>{byte('b'), byte(0xE2), byte(0x82), byte(0x82)});
}

TEST_CASE("decode(encode(bytes)) == bytes for random byte strings, UTF-8 or not (seeded)") {
  const auto t = tiny();
  for (const auto mode :
       {pollard::llm::special_token_text::parse, pollard::llm::special_token_text::plain})
    for (const auto& text : pollard::test::random_byte_strings(3000, 48, 7)) {
      CAPTURE(text);
      CHECK(t.decode(t.encode(text, false, mode)) == text);
    }
}
