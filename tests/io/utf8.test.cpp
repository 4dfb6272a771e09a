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
