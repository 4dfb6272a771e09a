#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "pollard/io/json.hpp"
#include "pollard/io/utf8.hpp"
#include "pollard/llm/model_file.hpp"
#include "support/random_bytes.hpp"
#include "support/smollm2.hpp"

namespace {

pollard::io::json_value read_fixture(const char* name) {
  const auto fixture = std::filesystem::path(__FILE__).parent_path() / "fixtures" / name;
  std::ifstream in(fixture);
  std::stringstream text;
  text << in.rdbuf();
  return pollard::io::parse_json(text.str(), fixture.string());
}

// A fixture case's "ids".
std::vector<std::int32_t> ids_of(const pollard::io::json_value& c) {
  std::vector<std::int32_t> ids;
  for (const auto& id : c.find("ids")->as_array("ids"))
    ids.push_back(static_cast<std::int32_t>(id.as_size("id")));
  return ids;
}

// The bytes a fixture case's "hex" spells.
std::string bytes_of_hex(const std::string& hex) {
  std::string bytes;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return bytes;
}

// The whole file at `path`, and such bytes as std::byte (what gguf_file::from_bytes views: it
// must outlive the gguf_file).
std::string file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
std::vector<std::byte> as_bytes(const std::string& bytes) {
  std::vector<std::byte> data(bytes.size());
  std::memcpy(data.data(), bytes.data(), bytes.size());
  return data;
}

}  // namespace

// tests/llm/fixtures/smollm2_tokens.json holds llama.cpp's own token ids for a varied text set
// (English, punctuation, digits, white-space runs, non-ASCII, emoji), made by
// tests/llm/fixtures/make_smollm2_tokens.py with llama-cpp-python.
TEST_CASE("SmolLM2's byte-level BPE encodes every fixture text exactly as llama.cpp does") {
  const auto path = pollard::test::smollm2_gguf();
  if (!path) return;
  const auto root = read_fixture("smollm2_tokens.json");
  const pollard::io::gguf_file file(*path);
  const auto tokenizer = pollard::llm::load_gguf_tokenizer(file);
  const auto& cases = root.find("cases")->as_array("cases");
  CHECK(cases.size() >= 20);
  for (const auto& c : cases) {
    const auto& input = c.find("text")->as_string("text");
    const auto expected = ids_of(c);
    CAPTURE(input);
    const auto ids = tokenizer.encode(input, false);
    CHECK(ids == expected);
    CHECK(tokenizer.decode(ids) == input);
  }
}

// The bytes of SmolLM2's vocabulary that have no token of their own (GPT-2's byte symbol of b
// is not a token): listed from the token strings, not by the tokenizer.
std::vector<bool> bytes_without_token(const pollard::llm::byte_level_bpe_tokenizer& t) {
  std::set<std::string> tokens;
  for (std::size_t i = 0; i < t.vocabulary_size(); ++i)
    tokens.insert(t.token(static_cast<std::int32_t>(i)));
  std::vector<bool> missing(256);
  for (int b = 0; b < 256; ++b)
    missing[static_cast<std::size_t>(b)] =
        tokens.count(pollard::llm::detail::byte_to_unicode()[static_cast<std::size_t>(b)]) == 0;
  return missing;
}

// What encoding `text` must do on SmolLM2: round-trip, or, when a byte has no token, fail
// naming the first such byte's offset (llama.cpp drops the byte).
void check_kept_or_refused(const pollard::llm::byte_level_bpe_tokenizer& t,
                           const std::vector<bool>& missing, const std::string& text) {
  CAPTURE(text);
  std::size_t first = text.size();
  for (std::size_t k = 0; k < text.size() && first == text.size(); ++k)
    if (missing[static_cast<unsigned char>(text[k])]) first = k;
  if (first == text.size()) {
    CHECK(t.decode(t.encode(text, false, pollard::llm::special_token_text::plain)) == text);
  } else {
    const std::string where = " at offset " + std::to_string(first) + " of the text";
    CHECK_THROWS_WITH_AS(t.encode(text, false, pollard::llm::special_token_text::plain),
                         doctest::Contains(where.c_str()), pollard::format_error);
  }
}

// tests/llm/fixtures/smollm2_bytes.json: llama.cpp's ids for text that is not valid UTF-8 or
// holds control characters, made by make_hf_tokenizer_fixture.py from llama.cpp's procedure,
// itself checked against smollm2_tokens.json. llama.cpp reads each invalid byte as U+FFFD and
// drops a byte whose symbol has no token (U+0004's): pollard keeps every byte instead, so only
// the well-formed texts whose bytes all have tokens must give llama.cpp's ids; the others
// round-trip, or are refused naming the first byte without a token.
TEST_CASE("SmolLM2's byte-level BPE matches llama.cpp on well-formed text and keeps every byte") {
  const auto path = pollard::test::smollm2_gguf();
  if (!path) return;
  const auto root = read_fixture("smollm2_bytes.json");
  const pollard::io::gguf_file file(*path);
  const auto tokenizer = pollard::llm::load_gguf_tokenizer(file);
  const auto missing = bytes_without_token(tokenizer);
  const auto& cases = root.find("cases")->as_array("cases");
  CHECK(cases.size() >= 10);
  int compared = 0;
  for (const auto& c : cases) {
    const auto& hex = c.find("hex")->as_string("hex");
    const std::string input = bytes_of_hex(hex);
    CAPTURE(hex);
    check_kept_or_refused(tokenizer, missing, input);
    const bool representable = std::none_of(
        input.begin(), input.end(), [&](char b) { return missing[static_cast<unsigned char>(b)]; });
    if (representable && pollard::io::valid_utf8(input) == input) {
      CHECK(tokenizer.encode(input, false) == ids_of(c));
      ++compared;
    }
  }
  CHECK(compared >= 3);
  // What the vocabulary lacks: the bytes UTF-8 never uses (C0, C1, F5-FF), and a few more.
  for (const int b : {0x04, 0xC0, 0xC1, 0xF5, 0xFF}) CHECK(missing[static_cast<std::size_t>(b)]);
  for (const int b : {0x00, 0x0A, 0x80, 0xE2, 0xF0, 0xF4})
    CHECK(!missing[static_cast<std::size_t>(b)]);
}

// The same fixture with the llama.cpp rule for text bytes: every case, well-formed or not,
// with bytes the vocabulary lacks or not, gives llama.cpp's ids.
TEST_CASE("SmolLM2 with text_bytes::llama_cpp gives llama.cpp's ids for every fixture text") {
  const auto path = pollard::test::smollm2_gguf();
  if (!path) return;
  const auto root = read_fixture("smollm2_bytes.json");
  const pollard::io::gguf_file file(*path);
  auto tokenizer = pollard::llm::load_gguf_tokenizer(file);
  tokenizer.set_bytes_rule(pollard::llm::text_bytes::llama_cpp);
  CHECK(tokenizer.bytes_rule() == pollard::llm::text_bytes::llama_cpp);
  const auto& cases = root.find("cases")->as_array("cases");
  REQUIRE(cases.size() >= 10);
  for (const auto& c : cases) {
    const auto& hex = c.find("hex")->as_string("hex");
    const std::string input = bytes_of_hex(hex);
    CAPTURE(hex);
    CHECK(tokenizer.encode(input, false) == ids_of(c));
  }
}

TEST_CASE(
    "SmolLM2: random byte strings round-trip, or are refused at their first byte without a token") {
  const auto path = pollard::test::smollm2_gguf();
  if (!path) return;
  const pollard::io::gguf_file file(*path);
  const auto tokenizer = pollard::llm::load_gguf_tokenizer(file);
  const auto missing = bytes_without_token(tokenizer);
  for (const auto& text : pollard::test::random_byte_strings(2000, 40, 11))
    check_kept_or_refused(tokenizer, missing, text);
  // Hand-picked: the ill-formed sequences of the brief, each with and without neighbours.
  for (const std::string text :
       {"\xC0\x80",
        "a\xE0\x80\x80"
        "b",
        "\xED\xA0\x80", "\xF5", "x \x80 y", "caf\xE2\x82", "\xF4\x90\x80\x80!", "lone \xC0 byte"})
    check_kept_or_refused(tokenizer, missing, text);
}

// tests/llm/fixtures/smollm2_default_pre_tokens.json: llama-tokenize's ids for the SmolLM2 GGUF
// with tokenizer.ggml.pre renamed away (llama.cpp then uses its 'default' pre-tokenizer), made
// by make_smollm2_default_pre_tokens.py; the same renaming is done here in memory.
TEST_CASE("a byte-level BPE GGUF without tokenizer.ggml.pre is split as llama.cpp's 'default'") {
  const auto path = pollard::test::smollm2_gguf();
  if (!path) return;
  const auto root = read_fixture("smollm2_default_pre_tokens.json");
  std::string bytes = file_bytes(*path);
  const std::string key = "tokenizer.ggml.pre";
  const auto at = bytes.find(key);
  REQUIRE(at != std::string::npos);
  REQUIRE(bytes.find(key, at + 1) == std::string::npos);
  bytes.replace(at, key.size(), root.find("renamed_key")->as_string("renamed_key"));
  const auto data = as_bytes(bytes);
  const auto file = pollard::io::gguf_file::from_bytes(data, "no_pre.gguf");
  REQUIRE_FALSE(file.metadata().contains(key));
  const auto tokenizer = pollard::llm::load_gguf_tokenizer(file);
  CHECK(tokenizer.pre_tokenizer() == "default");
  const auto& cases = root.find("cases")->as_array("cases");
  CHECK(cases.size() >= 10);
  for (const auto& c : cases) {
    const auto& input = c.find("text")->as_string("text");
    const auto expected = ids_of(c);
    CAPTURE(input);
    CHECK(tokenizer.encode(input, false) == expected);
  }
}

TEST_CASE("tokenizer.ggml.pre 'gpt2', which llama.cpp refuses, is refused naming 'gpt-2'") {
  // llama.cpp: "unknown pre-tokenizer type: 'gpt2'" (its GPT-2 name is "gpt-2").
  const auto path = pollard::test::smollm2_gguf();
  if (!path) return;
  std::string bytes = file_bytes(*path);
  const auto original = [&] {
    const auto data = as_bytes(bytes);
    return pollard::io::gguf_file::from_bytes(data).data_offset();
  }();
  // The key, its type (u32 8 = string), the value's u64 length 6 and "smollm": the value becomes
  // "gpt2" and two zero bytes go back into the padding before the (aligned) tensor data.
  const std::string key = "tokenizer.ggml.pre";
  const auto at = bytes.find(key);
  REQUIRE(at != std::string::npos);
  const auto value = at + key.size() + 4 + 8;
  REQUIRE(bytes.substr(value, 6) == "smollm");
  const std::uint64_t four = 4;
  std::memcpy(bytes.data() + value - 8, &four, 8);
  bytes.replace(value, 6, "gpt2");
  bytes.insert(original - 2, 2, '\0');
  const auto data = as_bytes(bytes);
  const auto file = pollard::io::gguf_file::from_bytes(data, "gpt2.gguf");
  REQUIRE(file.metadata().get<std::string>(key) == "gpt2");
  CHECK_THROWS_WITH_AS(pollard::llm::load_gguf_tokenizer(file),
                       "gpt2.gguf: tokenizer.ggml.pre 'gpt2' is not a llama.cpp pre-tokenizer "
                       "name (llama.cpp refuses it as an unknown pre-tokenizer type; GPT-2's is "
                       "'gpt-2')",
                       pollard::format_error);
}
