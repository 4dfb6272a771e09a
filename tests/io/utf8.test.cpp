#include "pollard/io/utf8.hpp"

#include <doctest/doctest.h>

#include <string_view>

using pollard::io::utf8_sequence_at;

// Hand-worked cases from Unicode Table 3-7 and the "maximal subpart" rule (Unicode 15, §3.9,
// U+FFFD substitution), as Python's bytes.decode("utf-8", errors="replace") applies it.
TEST_CASE("utf8_sequence_at gives the length of a well-formed character and the maximal subpart") {
  const std::string_view text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";  // a, é, €, 😀
  CHECK(utf8_sequence_at(text, 0).length == 1);
  CHECK(utf8_sequence_at(text, 1).length == 2);
  CHECK(utf8_sequence_at(text, 3).length == 3);
  CHECK(utf8_sequence_at(text, 6).length == 4);

  const auto overlong = utf8_sequence_at("\xC0\xAF", 0);  // C0 never starts a character
  CHECK(overlong.length == 0);
  CHECK(overlong.valid_prefix == 1);
  CHECK_FALSE(overlong.truncated);
  const auto surrogate = utf8_sequence_at("\xED\xA0\x80", 0);  // ED A0: U+D800, a surrogate
  CHECK(surrogate.length == 0);
  CHECK(surrogate.valid_prefix == 1);
  const auto above = utf8_sequence_at("\xF4\x90\x80\x80", 0);  // above U+10FFFF
  CHECK(above.length == 0);
  CHECK(above.valid_prefix == 1);
  const auto broken = utf8_sequence_at(
      "\xE2\x82"
      "A",
      0);  // E2 82 is a valid start, then 'A'
  CHECK(broken.length == 0);
  CHECK(broken.valid_prefix == 2);
  CHECK_FALSE(broken.truncated);
  const auto cut = utf8_sequence_at("\xF0\x9F\x98", 0);  // three of four bytes, then the end
  CHECK(cut.length == 0);
  CHECK(cut.valid_prefix == 3);
  CHECK(cut.truncated);
}

TEST_CASE("valid_utf8 replaces each maximal ill-formed subpart by U+FFFD, as Python does") {
  // Python: b"a\xffb\xe2\x82".decode("utf-8", errors="replace") == "a\ufffdb\ufffd";
  // b"\xed\xa0\x80x".decode(..., "replace") == "\ufffd\ufffd\ufffdx" (a surrogate: 3 subparts).
  CHECK(pollard::io::valid_utf8("a\xff"
                                "b\xe2\x82") ==
        "a\xef\xbf\xbd"
        "b\xef\xbf\xbd");
  CHECK(pollard::io::valid_utf8("\xed\xa0\x80x") == "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx");
  CHECK(pollard::io::valid_utf8("caf\xc3\xa9 \xe2\x98\x95") == "caf\xc3\xa9 \xe2\x98\x95");
}

TEST_CASE("lenient_utf8_at reads a character as llama.cpp's unicode_cpt_from_utf8 does") {
  using pollard::io::lenient_utf8_at;
  struct expected {
    std::string_view bytes;
    std::size_t length;
    char32_t code_point;
    bool well_formed;
  };
  // By hand from the bit patterns: the lead byte says the length, continuation bytes give 6
  // bits each, nothing else is checked; a byte that cannot start one is U+FFFD on its own.
  for (const auto& e : {
           expected{"\xC3\xA9", 2, 0xE9, true},               // é
           expected{"\xC0\x80", 2, 0x0, false},               // overlong U+0000
           expected{"\xC1\x81", 2, 0x41, false},              // overlong 'A'
           expected{"\xE0\x80\x80", 3, 0x0, false},           // overlong U+0000
           expected{"\xED\xA0\x80", 3, 0xD800, false},        // a surrogate
           expected{"\xF4\x90\x80\x80", 4, 0x110000, false},  // above U+10FFFF
           expected{"\xF5\x80\x80\x80", 4, 0x140000, false},  // lead F5, still 4 bytes
           expected{"\xF0\x9F\x99\x82", 4, 0x1F642, true},    // 🙂
           expected{"\xF5", 1, 0xFFFD, false},                // cut short
           expected{"\xF8\x80\x80\x80", 1, 0xFFFD, false},    // F8-FF start nothing
           expected{"\xFF", 1, 0xFFFD, false},                //
           expected{"\x80", 1, 0xFFFD, false},                // a lone continuation byte
           expected{"\xE2\x82", 1, 0xFFFD, false},            // truncated by the end
           expected{"\xE2\x82"
                    "a",
                    1, 0xFFFD, false},           // broken by 'a'
           expected{"\xC0 ", 1, 0xFFFD, false},  // C0 never takes the space
       }) {
    CAPTURE(e.bytes);
    const auto c = lenient_utf8_at(e.bytes, 0);
    CHECK(c.length == e.length);
    CHECK(c.code_point == e.code_point);
    CHECK(c.well_formed == e.well_formed);
  }
}
