#include <doctest/doctest.h>

#include <string>

#include "pollard/io/plain_text.hpp"

TEST_CASE(
    "plain text loses the byte-order mark at its start; one elsewhere is named by line and "
    "offset, of the decompressed text when it was compressed") {
  using pollard::io::offsets_in;
  using pollard::io::plain_text_of;
  const std::string bom = "\xEF\xBB\xBF";
  CHECK(plain_text_of(bom + "one\ntwo\n", "f") == "one\ntwo\n");
  CHECK(plain_text_of("one\n", "f") == "one\n");
  CHECK(plain_text_of(bom, "f").empty());
  const std::string joined = bom + "one\n" + bom + "two\n";
  const std::string says =
      ": a UTF-8 byte-order mark (U+FEFF), which belongs only at the very "
      "start of a file (were files joined?)";
  CHECK_THROWS_WITH_AS(plain_text_of(joined, "a/f.txt"),
                       ("a/f.txt line 2 (byte offset 7)" + says).c_str(), pollard::format_error);
  CHECK_THROWS_WITH_AS(
      plain_text_of(joined, "a/f.txt.gz", offsets_in::decompressed_text),
      ("a/f.txt.gz line 2 (byte offset 7 of the decompressed text)" + says).c_str(),
      pollard::format_error);
  // A second mark right after the first is not at the start.
  CHECK_THROWS_WITH_AS(plain_text_of(bom + bom + "x", "f"),
                       ("f line 1 (byte offset 3)" + says).c_str(), pollard::format_error);
}
