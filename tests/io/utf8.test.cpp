#include "pollard/io/utf8.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <iterator>
#include <string>
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

TEST_CASE("white_space_length_at finds exactly the characters of Unicode's White_Space property") {
  using pollard::io::white_space_length_at;
  // Python: [c for c in map(chr, range(0x110000)) if c.isspace()] adds U+001C..U+001F, which
  // are not White_Space; PropList.txt lists these 25.
  const char32_t white[] = {0x09,   0x0a,   0x0b,   0x0c,   0x0d,   0x20,   0x85,   0xa0,   0x1680,
                            0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008,
                            0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000};
  const auto utf8 = [](char32_t c) {
    std::string s;
    if (c < 0x80) {
      s += static_cast<char>(c);
    } else if (c < 0x800) {
      s += static_cast<char>(0xc0 | (c >> 6));
      s += static_cast<char>(0x80 | (c & 0x3f));
    } else {
      s += static_cast<char>(0xe0 | (c >> 12));
      s += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
      s += static_cast<char>(0x80 | (c & 0x3f));
    }
    return s;
  };
  std::size_t found = 0;
  for (char32_t c = 1; c < 0x10000; ++c) {
    if (c >= 0xd800 && c < 0xe000) continue;
    const std::string s = utf8(c);
    const std::size_t n = white_space_length_at(s, 0);
    const bool listed = std::find(std::begin(white), std::end(white), c) != std::end(white);
    CHECK(n == (listed ? s.size() : 0));
    found += n != 0;
  }
  CHECK(found == 25);
  CHECK(white_space_length_at("\xe2\x80", 0) == 0);  // cut off: not white space
}

TEST_CASE("trim_white_space drops Unicode white space at both ends only") {
  using pollard::io::trim_white_space;
  CHECK(trim_white_space("\xc2\xa0 a\xc2\xa0"
                         "b\t\xe3\x80\x80") ==
        "a\xc2\xa0"
        "b");
  CHECK(trim_white_space(" \xe2\x80\xaf ").empty());
  CHECK(trim_white_space("caf\xc3\xa9\xe2\x80\x89") == "caf\xc3\xa9");
  CHECK(trim_white_space("\xff\xc2") == "\xff\xc2");
  CHECK(trim_white_space("") == "");
}
