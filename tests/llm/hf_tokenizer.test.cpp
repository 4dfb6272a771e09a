#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "pollard/io/json.hpp"
#include "pollard/llm/hf_tokenizer.hpp"
#include "pollard/llm/model_file.hpp"

// tests/llm/fixtures/hf_tokenizer/: a byte-level BPE tokenizer.json trained and saved by
// Hugging Face's `tokenizers` library, with that library's ids for a text set
// (tests/llm/fixtures/make_hf_tokenizer_fixture.py).

using namespace pollard;
using namespace pollard::llm;
namespace fs = std::filesystem;

namespace {

const fs::path fixtures = fs::path(__FILE__).parent_path() / "fixtures";

io::json_value expected_cases() {
  std::ifstream in(fixtures / "hf_tokenizer" / "expected.json");
  std::stringstream text;
  text << in.rdbuf();
  return io::parse_json(text.str());
}

std::vector<token_id> ids_of(const io::json_value& c, const char* key) {
  std::vector<token_id> ids;
  for (const auto& id : c.find(key)->as_array(key))
    ids.push_back(static_cast<token_id>(id.as_size("id")));
  return ids;
}

// Each case in both modes: "ids" as `tokenizers` encodes (added tokens split out first, the
// default), "plain_ids" without that pass (special_token_text::plain).
void check_fixture_ids(text_tokenizer& tok) {
  const auto root = expected_cases();
  const auto& cases = root.find("cases")->as_array("cases");
  CHECK(cases.size() >= 9);
  int with_special = 0;
  for (const auto& c : cases) {
    const auto& input = c.find("text")->as_string("text");
    CAPTURE(input);
    tok.set_special_token_text(special_token_text::parse);
    const auto ids = tok.encode(input, false);
    CHECK(ids == ids_of(c, "ids"));
    CHECK(tok.decode(ids) == input);
    tok.set_special_token_text(special_token_text::plain);
    CHECK(tok.encode(input, false) == ids_of(c, "plain_ids"));
    with_special += ids_of(c, "ids") != ids_of(c, "plain_ids") ? 1 : 0;
  }
  CHECK(with_special == 2);
}

}  // namespace

TEST_CASE("a tokenizer.json saved by the tokenizers library encodes as that library does") {
  text_tokenizer tok(read_hf_tokenizer(fixtures / "hf_tokenizer" / "tokenizer.json"));
  check_fixture_ids(tok);
}

TEST_CASE("open_model honours a tokenizer for a Hugging Face folder, given or beside config.json") {
  auto given = open_model(fixtures / "rope" / "hf_llama3_bias",
                          fixtures / "hf_tokenizer" / "tokenizer.json");
  REQUIRE(given.tokenizer);
  CHECK(given.tokenizer->bos() == 1);  // config.json's bos_token_id
  CHECK(given.tokenizer->eos() == 2);  // the first of its eos_token_id list
  CHECK_FALSE(given.tokenizer->adds_bos());
  check_fixture_ids(*given.tokenizer);

  CHECK_FALSE(open_model(fixtures / "rope" / "hf_llama3_bias").tokenizer);
  const auto dir = fs::temp_directory_path() / "pollard-hf-tokenizer-beside";
  fs::remove_all(dir);
  fs::copy(fixtures / "rope" / "hf_llama3_bias", dir, fs::copy_options::recursive);
  fs::copy_file(fixtures / "hf_tokenizer" / "tokenizer.json", dir / "tokenizer.json");
  auto beside = open_model(dir);
  REQUIRE(beside.tokenizer);
  check_fixture_ids(*beside.tokenizer);
  fs::remove_all(dir);
}

TEST_CASE("a tokenizer file given for a GGUF is refused, saying the GGUF carries its own") {
  CHECK_THROWS_WITH_AS(
      open_model(fixtures / "rope" / "base.gguf", fixtures / "hf_tokenizer" / "tokenizer.json"),
      doctest::Contains("a GGUF model carries its own tokenizer"), option_error);
  CHECK_THROWS_WITH_AS(open_model(fixtures / "rope" / "base.gguf", fixtures / "missing.json"),
                       doctest::Contains("cannot open tokenizer"), io_error);
}

TEST_CASE("tokenizer.json features the byte-level BPE does not implement are refused by name") {
  std::ifstream in(fixtures / "hf_tokenizer" / "tokenizer.json");
  std::stringstream text;
  text << in.rdbuf();
  const std::string original = text.str();
  const auto path = fs::temp_directory_path() / "pollard-hf-tokenizer-edited.json";
  const auto error_with = [&](const std::string& from, const std::string& to) {
    std::string edited = original;
    const auto at = edited.find(from);
    REQUIRE(at != std::string::npos);
    edited.replace(at, from.size(), to);
    std::ofstream(path, std::ios::binary) << edited;
    try {
      (void)read_hf_tokenizer(path);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("(read)");
  };
  CHECK(error_with("\"byte_fallback\": false", "\"byte_fallback\": true")
            .find("model.byte_fallback") != std::string::npos);
  CHECK(error_with("\"ignore_merges\": false", "\"ignore_merges\": true")
            .find("model.ignore_merges") != std::string::npos);
  CHECK(error_with("\"normalizer\": null", "\"normalizer\": {\"type\": \"NFC\"}")
            .find("normalizer") != std::string::npos);
  CHECK(error_with("\"individual_digits\": true", "\"individual_digits\": false")
            .find("pre_tokenizer") != std::string::npos);
  // An added token that transformers would match with its surrounding whitespace stripped, or
  // as a whole word only: pollard matches exact text, so it refuses such a token by name.
  for (const char* key : {"lstrip", "rstrip", "single_word"})
    CHECK(error_with("\"" + std::string(key) + "\": false", "\"" + std::string(key) + "\": true") ==
          "pollard-hf-tokenizer-edited.json: added token '<|endoftext|>' has " + std::string(key) +
              " true, which pollard does not support");
  CHECK(error_with("\"id\": 0,", "") ==
        "pollard-hf-tokenizer-edited.json: an added token has no \"id\" or no \"content\"");
  fs::remove(path);
}
