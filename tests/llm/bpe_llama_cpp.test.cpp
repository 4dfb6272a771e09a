#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "pollard/io/json.hpp"
#include "pollard/llm/model_file.hpp"
#include "support/smollm2.hpp"

namespace {

pollard::io::json_value read_fixture(const char* name) {
  const auto fixture = std::filesystem::path(__FILE__).parent_path() / "fixtures" / name;
  std::ifstream in(fixture);
  std::stringstream text;
  text << in.rdbuf();
  return pollard::io::parse_json(text.str(), fixture.string());
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
    std::vector<std::int32_t> expected;
    for (const auto& id : c.find("ids")->as_array("ids"))
      expected.push_back(static_cast<std::int32_t>(id.as_size("id")));
    CAPTURE(input);
    const auto ids = tokenizer.encode(input, false);
    CHECK(ids == expected);
    CHECK(tokenizer.decode(ids) == input);
  }
}

// tests/llm/fixtures/smollm2_bytes.json: llama.cpp's ids for text that is not valid UTF-8 or
// holds control characters (each invalid byte read as U+FFFD; a byte symbol missing from the
// vocabulary, such as U+0004's, gives no token), made by make_hf_tokenizer_fixture.py from
// llama.cpp's procedure, itself checked against smollm2_tokens.json.
TEST_CASE("SmolLM2's byte-level BPE reads invalid UTF-8 and control characters as llama.cpp") {
  const auto path = pollard::test::smollm2_gguf();
  if (!path) return;
  const auto root = read_fixture("smollm2_bytes.json");
  const pollard::io::gguf_file file(*path);
  const auto tokenizer = pollard::llm::load_gguf_tokenizer(file);
  const auto& cases = root.find("cases")->as_array("cases");
  CHECK(cases.size() >= 10);
  for (const auto& c : cases) {
    const auto& hex = c.find("hex")->as_string("hex");
    std::string input;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
      input += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    std::vector<std::int32_t> expected;
    for (const auto& id : c.find("ids")->as_array("ids"))
      expected.push_back(static_cast<std::int32_t>(id.as_size("id")));
    CAPTURE(hex);
    CHECK(tokenizer.encode(input, false) == expected);
  }
}
