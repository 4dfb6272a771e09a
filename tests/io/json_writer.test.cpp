// The JSON writer: hand-worked literals, the commas of the streaming writer, and Python's json
// module and UTF-8 decoder as the independent judges of what it writes.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "pollard/io/json.hpp"
#include "pollard/io/json_writer.hpp"

namespace fs = std::filesystem;
using pollard::io::json_number;
using pollard::io::json_string;
using pollard::io::json_writer;

namespace {

bool have_python() { return std::system("python3 -c 'import json' > /dev/null 2>&1") == 0; }

fs::path fresh_dir(const char* name) {
  const auto dir = fs::temp_directory_path() / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

}  // namespace

TEST_CASE("json_string escapes quotes, backslashes and control characters") {
  CHECK(json_string("plain") == "\"plain\"");
  CHECK(json_string("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(json_string("\n\t\r\b\f") == "\"\\n\\t\\r\\b\\f\"");
  CHECK(json_string(std::string("\x01\x04\x1f\x7f", 4)) == "\"\\u0001\\u0004\\u001f\\u007f\"");
  CHECK(json_string(std::string("a\0b", 3)) == "\"a\\u0000b\"");
  // Well-formed UTF-8 is kept: é (2 bytes), ☕ (3 bytes), 🐕 (4 bytes).
  CHECK(json_string("\xc3\xa9\xe2\x98\x95\xf0\x9f\x90\x95") ==
        "\"\xc3\xa9\xe2\x98\x95\xf0\x9f\x90\x95\"");
}

TEST_CASE("json_string replaces each maximal ill-formed subpart by one U+FFFD") {
  // Worked by hand from Unicode Table 3-7: a lone continuation byte, a byte never valid (0xff),
  // an overlong lead (0xc0), a surrogate (ed a0 80), a truncated 4-byte sequence at the end.
  CHECK(json_string("\x80") == "\"\\ufffd\"");
  CHECK(json_string("a\xff"
                    "b") == "\"a\\ufffdb\"");
  CHECK(json_string("\xc0\xaf") == "\"\\ufffd\\ufffd\"");
  CHECK(json_string("\xed\xa0\x80") == "\"\\ufffd\\ufffd\\ufffd\"");
  CHECK(json_string("x\xf0\x9f\x90") == "\"x\\ufffd\"");
  CHECK(json_string("\xe2\x98"
                    "a") == "\"\\ufffda\"");
}

TEST_CASE("json_number is the shortest round-trip text, null when not finite") {
  CHECK(json_number(0.5) == "0.5");
  CHECK(json_number(-3.0) == "-3");
  CHECK(json_number(1e-300) == "1e-300");
  CHECK(json_number(std::nan("")) == "null");
  CHECK(json_number(-HUGE_VAL) == "null");
  CHECK(pollard::io::parse_json(json_number(0.1)).as_number("x") == 0.1);
}

TEST_CASE("json_writer places commas and refuses documents out of order") {
  json_writer w;
  w.begin_object()
      .key("name")
      .value("W.npy")
      .key("shape")
      .begin_array()
      .value(std::int64_t{4})
      .value(std::int64_t{8})
      .end_array()
      .key("ok")
      .value(true)
      .key("err")
      .value(0.25)
      .key("none")
      .null()
      .key("inner")
      .begin_object()
      .end_object()
      .end_object();
  CHECK(w.str() ==
        "{\"name\":\"W.npy\",\"shape\":[4,8],\"ok\":true,\"err\":0.25,\"none\":null,\"inner\":{}}");
  json_writer bad;
  bad.begin_object();
  CHECK_THROWS_AS(bad.value(1.0), pollard::error);  // a value needs a key in an object
  CHECK_THROWS_AS(bad.str(), pollard::error);       // not closed
  CHECK_THROWS_AS(bad.end_array(), pollard::error);
  json_writer arr;
  CHECK_THROWS_AS(arr.key("k"), pollard::error);
}

TEST_CASE("python's UTF-8 decoder with errors='replace' agrees with json_string on random bytes") {
  if (!have_python()) {
    std::printf("SKIPPED: no python3\n");
    return;
  }
  const auto dir = fresh_dir("pollard-json-writer-test");
  // Bytes biased towards UTF-8 lead and continuation bytes so that every branch is hit.
  std::mt19937 rng(20261130);
  const unsigned char alphabet[] = {'a',  '"',  '\\', 0x00, 0x1f, 0x7f, 0x80, 0xbf, 0xc0,
                                    0xc2, 0xdf, 0xe0, 0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xf5,
                                    0xff, 0x9f, 0xa0, 0x8f, 0x90, 0x98, 0x95};
  std::uniform_int_distribution<std::size_t> pick(0, sizeof alphabet - 1), length(0, 12);
  json_writer strings, hexes;
  strings.begin_array();
  hexes.begin_array();
  for (int n = 0; n < 2000; ++n) {
    std::string s, hex;
    const std::size_t len = length(rng);
    for (std::size_t k = 0; k < len; ++k) {
      const unsigned char c = alphabet[pick(rng)];
      s += static_cast<char>(c);
      char buf[3];
      std::snprintf(buf, sizeof buf, "%02x", c);
      hex += buf;
    }
    strings.value(s);
    hexes.value(hex);
  }
  strings.end_array();
  hexes.end_array();
  write_text(dir / "strings.json", strings.str());
  write_text(dir / "hex.json", hexes.str());
  const std::string command =
      "python3 -c 'import json,sys; s=json.load(open(sys.argv[1],encoding=\"utf-8\")); "
      "h=json.load(open(sys.argv[2])); "
      "bad=[i for i,(a,b) in enumerate(zip(s,h)) if "
      "a!=bytes.fromhex(b).decode(\"utf-8\",\"replace\")]; "
      "print(bad[:5]); sys.exit(1 if bad or len(s)!=len(h) else 0)' " +
      (dir / "strings.json").string() + " " + (dir / "hex.json").string();
  CHECK(std::system(command.c_str()) == 0);
}

TEST_CASE("a JSON report naming a file whose name is not UTF-8 parses with python's json") {
  if (!have_python()) {
    std::printf("SKIPPED: no python3\n");
    return;
  }
  const auto dir = fresh_dir("pollard-json-writer-name-test");
  const fs::path weights = dir / std::string("W\xff\xfe-\x01.npy");
  write_text(weights, "x");  // the name is a real file name on this file system
  json_writer w;
  w.begin_object().key("weights").value(weights.string()).key("error").value(0.5).end_object();
  write_text(dir / "report.json", w.str());
  const std::string command =
      "python3 -c 'import json,sys; d=json.load(open(sys.argv[1],encoding=\"utf-8\")); "
      "sys.exit(0 if d[\"weights\"].endswith(\"W\\ufffd\\ufffd-\\x01.npy\") and d[\"error\"]==0.5 "
      "else 1)' " +
      (dir / "report.json").string();
  CHECK(std::system(command.c_str()) == 0);
}
