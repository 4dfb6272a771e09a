// llama2.c's tokenizer on the real tok512 vocabulary against ids made by
// tests/llm/make_tok512_fixture.py (sentencepiece and a Python transcription of run.c).
#include <doctest/doctest.h>

#include "llm/tok512_fixture.hpp"
#include "pollard/llm/llama2c_tokenizer.hpp"
#include "support/data.hpp"

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
