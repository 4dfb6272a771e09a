#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "pollard/llm/llama2c_tokenizer.hpp"
#include "pollard/llm/utf8_stream.hpp"
#include "support/data.hpp"

using namespace pollard;
using namespace pollard::llm;

TEST_CASE("utf8_stream holds a character back until its last byte arrives") {
  utf8_stream s;
  const std::string coffee = "\xE2\x98\x95", dog = "\xF0\x9F\x90\x95";  // U+2615, U+1F415
  CHECK(s.push("a") == "a");
  CHECK(s.push(coffee.substr(0, 1)).empty());
  CHECK(s.push(coffee.substr(1, 1)).empty());
  CHECK(s.pending() == 2);
  CHECK(s.push(coffee.substr(2, 1)) == coffee);
  CHECK(s.push(dog.substr(0, 3)).empty());
  CHECK(s.push(dog.substr(3) + " b") == dog + " b");
  CHECK(s.pending() == 0);
}

TEST_CASE("utf8_stream releases bytes that cannot form a character as U+FFFD") {
  const std::string fffd = "\xEF\xBF\xBD";
  utf8_stream s;
  CHECK(s.push("\xFF") == fffd);                        // never valid in UTF-8
  CHECK(s.push("\x80x") == fffd + "x");                 // a continuation byte alone
  CHECK(s.push("\xE2\x41") == fffd + "A");              // a lead byte followed by ASCII
  CHECK(s.push("\xC0\xAF") == fffd + fffd);             // overlong '/'
  CHECK(s.push("\xED\xA0\x80") == fffd + fffd + fffd);  // a UTF-16 surrogate
  CHECK(s.push("\xF0\x9F").empty());
  CHECK(s.finish() == fffd + fffd);  // the stream ended inside a character
  CHECK(s.pending() == 0);
}

TEST_CASE("stories260K's byte-fallback pieces of a prompt with emoji print as the emoji") {
  const auto tok_path = test::data_file("models/stories260K/tok512.bin");
  if (!tok_path) return;
  const auto tok = llama2c_tokenizer::read(*tok_path, 512);
  const std::string text = "The cat saw \xE2\x98\x95 and a \xF0\x9F\x90\x95.";
  const auto ids = tok.encode(text, true);
  // The 512-token vocabulary has no piece for either emoji: they arrive one byte per token.
  std::size_t byte_tokens = 0;
  utf8_stream s;
  std::string shown;
  for (std::size_t i = 1; i < ids.size(); ++i) {
    const std::string piece = tok.decode_piece(ids[i - 1], ids[i]);
    byte_tokens += piece.size() == 1 && static_cast<unsigned char>(piece[0]) >= 0x80;
    shown += s.push(piece);
  }
  shown += s.finish();
  CHECK(byte_tokens == 7);
  CHECK(shown == text);
}
