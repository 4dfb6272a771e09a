#include <doctest/doctest.h>

#include <string>

#include "pollard/io/json.hpp"

using pollard::io::parse_json;

TEST_CASE("parse_json reads nested values, escapes and surrogate pairs") {
  const auto v =
      parse_json(R"( {"a": [1, -2.5e2, true, null], "b": {"c": "x\"\u00e9\ud83d\ude00"}} )");
  const auto& a = v.find("a")->as_array("a");
  REQUIRE(a.size() == 4);
  CHECK(a[0].as_size("a0") == 1);
  CHECK(a[1].as_number("a1") == -250.0);
  CHECK(a[2].as_bool("a2"));
  CHECK(a[3].is_null());
  CHECK(v.find("b")->find("c")->as_string("c") == "x\"\xc3\xa9\xf0\x9f\x98\x80");
  CHECK(v.find("missing") == nullptr);
}

TEST_CASE("parse_json rejects malformed documents with the offset") {
  CHECK_THROWS_WITH_AS(parse_json("{\"a\": 1,}", "hdr"),
                       "hdr: invalid JSON: expected a key string at offset 8",
                       pollard::format_error);
  // A key given twice is named, at the offset of its second appearance.
  CHECK_THROWS_WITH_AS(parse_json("{\"a\": 1, \"a\": 2}", "hdr"),
                       "hdr: invalid JSON: duplicate key \"a\" at offset 9", pollard::format_error);
  CHECK_THROWS_AS(parse_json("[1, 2"), pollard::format_error);
  CHECK_THROWS_AS(parse_json("\"\\ud800\""), pollard::format_error);
  CHECK_THROWS_AS(parse_json("01"), pollard::format_error);
  CHECK_THROWS_AS(parse_json("1e999"), pollard::format_error);
  CHECK_THROWS_AS(parse_json("\"tab\there\""), pollard::format_error);
  CHECK_THROWS_WITH_AS(parse_json(std::string(100, '['), "deep", 64),
                       "deep: invalid JSON: nesting deeper than 64 at offset 65",
                       pollard::format_error);
  CHECK_THROWS_WITH_AS(parse_json("[1.5]").as_array("v")[0].as_size("count"),
                       "count must be a non-negative integer, got 1.5", pollard::format_error);
  // A count past 2^53 is a non-negative integer, too large to be read exactly: said so.
  CHECK_THROWS_WITH_AS(parse_json("[4611686018427387904]").as_array("v")[0].as_size("count"),
                       "count must be a non-negative integer of at most 2^53 = 9007199254740992, "
                       "got 4611686018427387904",
                       pollard::format_error);
  CHECK(parse_json("[9007199254740992]").as_array("v")[0].as_size("n") == 9007199254740992u);
  CHECK_THROWS_WITH_AS(parse_json("{}").as_array("root"), "root must be an array",
                       pollard::format_error);
}

TEST_CASE("a UTF-8 byte-order mark before a JSON document is ignored (RFC 8259 section 8.1)") {
  const auto v = parse_json("\xEF\xBB\xBF{\"text\": \"x\"}");
  CHECK(v.find("text")->as_string("text") == "x");
  // Only before the document: one inside a string is content, one elsewhere is an error.
  CHECK(parse_json("\"\xEF\xBB\xBF\"").as_string("s") == "\xEF\xBB\xBF");
  CHECK_THROWS_AS(parse_json("[1, \xEF\xBB\xBF 2]"), pollard::format_error);
}

TEST_CASE("JSON error offsets are file offsets, a skipped byte-order mark counted") {
  const std::string bom = "\xEF\xBB\xBF";
  CHECK_THROWS_WITH_AS(parse_json(bom + "{\"a\": 1,}", "f"),
                       "f: invalid JSON: expected a key string at offset 11",
                       pollard::format_error);
  // A second mark is not at the start of the file: named as a byte-order mark, at its offset.
  CHECK_THROWS_WITH_AS(parse_json(bom + bom + "{}", "f"),
                       "f: invalid JSON: a UTF-8 byte-order mark (U+FEFF), which belongs only at "
                       "the very start of a file, at offset 3",
                       pollard::format_error);
  CHECK_THROWS_WITH_AS(parse_json("[1, " + bom + "2]", "f"),
                       "f: invalid JSON: a UTF-8 byte-order mark (U+FEFF), which belongs only at "
                       "the very start of a file, at offset 4",
                       pollard::format_error);
  // A part of a file (a JSON Lines line at byte 100): offsets are the file's, and a mark at
  // its start is not the file's start.
  CHECK_THROWS_WITH_AS(pollard::io::parse_json_at("{\"a\" 1}", 100, "l"),
                       "l: invalid JSON: expected ':' at offset 105", pollard::format_error);
  CHECK_THROWS_WITH_AS(pollard::io::parse_json_at(bom + "{}", 100, "l"),
                       "l: invalid JSON: a UTF-8 byte-order mark (U+FEFF), which belongs only at "
                       "the very start of a file, at offset 100",
                       pollard::format_error);
  CHECK(pollard::io::parse_json_at("{\"a\": 2}", 7, "l").find("a")->as_size("a") == 2);
}

TEST_CASE(
    "an error in a whole JSON file of several lines names its line, as JSON Lines errors do") {
  // An Alpaca list with a mark before its second record: the line was not named.
  const std::string bom = "\xEF\xBB\xBF";
  CHECK_THROWS_WITH_AS(parse_json("[{\"a\": 1},\n" + bom + "{\"a\": 2}]", "al.json"),
                       "al.json line 2: invalid JSON: a UTF-8 byte-order mark (U+FEFF), which "
                       "belongs only at the very start of a file, at offset 11",
                       pollard::format_error);
  CHECK_THROWS_WITH_AS(parse_json("{\n  \"a\": 1,\n  \"b\" 2\n}", "config.json"),
                       "config.json line 3: invalid JSON: expected ':' at offset 18",
                       pollard::format_error);
  // One line: no line named (nothing to choose between).
  CHECK_THROWS_WITH_AS(parse_json("[1,]", "f"), "f: invalid JSON: expected a value at offset 3",
                       pollard::format_error);
}
