// llama2.c's tokenizer on the real tok512 vocabulary against ids made by
// tests/llm/make_tok512_fixture.py (sentencepiece and a Python transcription of run.c).
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "llm/tok512_fixture.hpp"
#include "pollard/llm/llama2c_tokenizer.hpp"
#include "support/data.hpp"
#include "support/naive_tokenizers.hpp"
#include "support/random_bytes.hpp"

using namespace pollard;
using namespace pollard::llm;

TEST_CASE("encode gives the fixture ids on tok512, and decode restores the text") {
  auto path = test::data_file("models/stories260K/tok512.bin");
  if (!path) return;
  const auto tok = llama2c_tokenizer::read(*path, 512);
  CHECK(tok.piece(llama2c_tokenizer::bos) == "\n<s>\n");
  for (const auto& c : test::tok512_cases) {
    CAPTURE(c.text);
    CAPTURE(c.sentencepiece_agrees);
    const auto ids = tok.encode(c.text);
    CHECK(std::vector<int>(ids.begin(), ids.end()) == c.ids);
    CHECK(tok.decode(ids) == c.text);
  }
}

TEST_CASE("decode(encode(x)) == x on tok512 for ASCII, accented text and emoji") {
  auto path = test::data_file("models/stories260K/tok512.bin");
  if (!path) return;
  const auto tok = llama2c_tokenizer::read(*path, 512);
  for (std::string text :
       {"Lily and Ben played in the park.\nThen they went home!", "na\xc3\xafve caf\xc3\xa9",
        "\xf0\x9f\x90\xb6\xf0\x9f\x8e\x88 emoji \xe2\x9c\xa8", "tabs\tand   spaces  ",
        "{}[]<>~^"}) {
    CAPTURE(text);
    CHECK(tok.decode(tok.encode(text, true, true)) == text);
  }
}

TEST_CASE("tok512 round-trips random byte strings, UTF-8 or not (seeded)") {
  auto path = test::data_file("models/stories260K/tok512.bin");
  if (!path) return;
  const auto tok = llama2c_tokenizer::read(*path, 512);
  for (const auto& text : test::random_byte_strings(2000, 48, 4)) {
    CAPTURE(text);
    CHECK(tok.decode(tok.encode(text)) == text);
  }
}

TEST_CASE("encode equals a literal transcription of run.c on random texts (tok512)") {
  auto path = test::data_file("models/stories260K/tok512.bin");
  if (!path) return;
  const auto tok = llama2c_tokenizer::read(*path, 512);
  const std::vector<std::string> parts = {"the",
                                          " ",
                                          "  ",
                                          "a",
                                          "Lily",
                                          "dog",
                                          ".",
                                          ",",
                                          "\n",
                                          "!",
                                          "ing",
                                          "ed",
                                          "\xc3\xa9",
                                          "\xf0\x9f\x98\x80",
                                          "\xe2\x9c\xa8",
                                          "Q",
                                          "zz",
                                          "'s",
                                          "\x80",
                                          "\xff",
                                          "\xf0\x9f\x98\x80\x80",
                                          "un",
                                          "play",
                                          "happ",
                                          "y"};
  std::mt19937_64 rng(12);
  for (int trial = 0; trial < 300; ++trial) {
    std::string text;
    const auto n = rng() % 40;
    for (std::uint64_t i = 0; i < n; ++i) text += parts[rng() % parts.size()];
    CAPTURE(text);
    CHECK(tok.encode(text) == test::naive_llama2c_encode(tok, text));
  }
}

// What README's calibration section states: the WikiText-2 corpus stream (rows joined with " ",
// so runs of spaces where rows start with one or are empty) is tokenized as llama2.c's run.c
// does, keeping every space, while the references' Hugging Face LlamaTokenizer (SentencePiece
// with remove_extra_whitespaces) collapses them: the two streams differ in length, and a seed's
// window starts fall on other tokens.
TEST_CASE("encode equals run.c's quadratic merge loop on random texts over a small alphabet") {
  // Few letters, so long runs of the same pairs and many candidate merges per position.
  auto path = test::data_file("models/stories260K/tok512.bin");
  if (!path) return;
  const auto tok = llama2c_tokenizer::read(*path, 512);
  std::mt19937_64 rng(21);
  for (int trial = 0; trial < 300; ++trial) {
    std::string text;
    for (auto n = rng() % 120; n > 0; --n) text += "aeht .\n"[rng() % 7];
    CAPTURE(text);
    CHECK(tok.encode(text) == test::naive_llama2c_encode(tok, text));
  }
  const std::string run(3000, 'a');
  CHECK(tok.encode(run) == test::naive_llama2c_encode(tok, run));
}

TEST_CASE("tok512 keeps the repeated spaces of joined WikiText-2 rows that SentencePiece drops") {
  auto path = test::data_file("models/stories260K/tok512.bin");
  if (!path) return;
  const auto tok = llama2c_tokenizer::read(*path, 512);
  const std::string joined = std::string("") + " " + " = Homarus gammarus = \n" + " " + "";
  const test::tok512_case* found = nullptr;
  for (const auto& c : test::tok512_cases)
    if (c.text == joined) found = &c;
  REQUIRE(found != nullptr);
  CHECK_FALSE(found->sentencepiece_agrees);
  const auto ids = tok.encode(joined);
  CHECK(std::vector<int>(ids.begin(), ids.end()) == found->ids);
  // sentencepiece.encode(joined) on tok512.model gives 17 ids (make_tok512_fixture.py prints
  // them); run.c gives BOS and 20.
  CHECK(ids.size() == 1 + 20);
}
