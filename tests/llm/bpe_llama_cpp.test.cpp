#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "pollard/io/json.hpp"
#include "pollard/llm/model_file.hpp"
#include "support/smollm2.hpp"

// tests/llm/fixtures/smollm2_tokens.json holds llama.cpp's own token ids for a varied text set
// (English, punctuation, digits, white-space runs, non-ASCII, emoji), made by
// tests/llm/fixtures/make_smollm2_tokens.py with llama-cpp-python.
TEST_CASE("SmolLM2's byte-level BPE encodes every fixture text exactly as llama.cpp does") {
  const auto path = pollard::test::smollm2_gguf();
  if (!path) return;
  const auto fixture =
      std::filesystem::path(__FILE__).parent_path() / "fixtures" / "smollm2_tokens.json";
  std::ifstream in(fixture);
  std::stringstream text;
  text << in.rdbuf();
  const auto root = pollard::io::parse_json(text.str(), fixture.string());
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
