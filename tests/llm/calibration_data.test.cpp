// Calibration files as pollard prune reads them: every layout, the C4 protocol on the real C4
// sample with the stories260K tokenizer, and the errors for missing, empty or short data.
#include <doctest/doctest.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "pollard/llm/calibration_data.hpp"
#include "pollard/llm/model_file.hpp"
#include "support/data.hpp"

namespace fs = std::filesystem;
using namespace pollard;

namespace {

fs::path write_file(const std::string& name, const std::string& content) {
  const fs::path p = fs::temp_directory_path() / ("pollard-calibration-" + name);
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

}  // namespace

TEST_CASE("calibration documents are read from JSON lines, JSON lists and plain text") {
  const auto jsonl =
      write_file("a.jsonl", "{\"text\": \"one\", \"x\": 1}\n\n{\"text\": \"two\"}\n");
  CHECK(llm::read_calibration_documents(jsonl) == std::vector<std::string>{"one", "two"});
  const auto custom = write_file("b.jsonl", "{\"body\": \"alpha\"}\n{\"body\": \" \"}\n");
  CHECK(llm::read_calibration_documents(custom, "body") == std::vector<std::string>{"alpha"});
  CHECK_THROWS_WITH_AS(llm::read_calibration_documents(custom),
                       "pollard-calibration-b.jsonl line 1: no \"text\" field",
                       pollard::format_error);
  const auto list = write_file("c.json", "[\"first\", {\"text\": \"second\"}]");
  CHECK(llm::read_calibration_documents(list) == std::vector<std::string>{"first", "second"});
  const auto text = write_file("d.txt", "Para one.\nstill one.\n\nPara two.\n");
  CHECK(llm::read_calibration_documents(text) ==
        std::vector<std::string>{"Para one.\nstill one.", "Para two."});
  const auto empty = write_file("e.txt", "\n\n  \n");
  CHECK_THROWS_WITH_AS(llm::read_calibration_documents(empty),
                       "pollard-calibration-e.txt: no calibration text in the file",
                       pollard::format_error);
  CHECK_THROWS_AS(llm::read_calibration_documents("/nonexistent/c4.json.gz"), pollard::io_error);
  // A gzip-compressed JSON list reads as the list does.
  const auto gz = fs::temp_directory_path() / "pollard-calibration-f.json.gz";
  gzFile f = gzopen(gz.c_str(), "wb");
  const std::string content = "[\"first\", {\"text\": \"second\"}]";
  gzwrite(f, content.data(), static_cast<unsigned>(content.size()));
  gzclose(f);
  CHECK(llm::read_calibration_documents(gz) == std::vector<std::string>{"first", "second"});
  for (const auto& p : {jsonl, custom, list, text, empty, gz}) fs::remove(p);
}

TEST_CASE("calibration from real data: C4 documents, a WikiText-2 stream and Alpaca, mixed") {
  const auto model = test::data_file("models/stories260K/stories260K.bin");
  const auto c4 = test::data_file("text/c4/c4-sample.00000-of-00001.json.gz");
  const auto wiki = test::data_file("text/wikitext2_raw/valid.rows.jsonl");
  const auto alpaca = test::data_file("text/alpaca/alpaca_5000.json");
  if (!model || !c4 || !wiki || !alpaca) return;
  const auto m = llm::open_model(*model);
  const auto& tok = *m.tokenizer;
  llm::calibration_options o;
  o.samples = 6;
  o.length = 64;
  const auto one = llm::draw_calibration({parse_calibration_spec("c4:" + c4->string())}, tok, o);
  one.validate();
  CHECK(one.n_sequences == 6);
  CHECK(one.length == 64);
  CHECK(llm::draw_calibration({parse_calibration_spec("c4:" + c4->string())}, tok, o).tokens ==
        one.tokens);
  o.seed = 1;
  CHECK(llm::draw_calibration({parse_calibration_spec("c4:" + c4->string())}, tok, o).tokens !=
        one.tokens);
  o.responses_only = true;
  const auto mixed = llm::draw_calibration({parse_calibration_spec("c4:" + c4->string() + "@2"),
                                            parse_calibration_spec("wikitext:" + wiki->string()),
                                            parse_calibration_spec("alpaca:" + alpaca->string())},
                                           tok, o);
  mixed.validate();
  CHECK(mixed.origin[0] == "c4:c4-sample.00000-of-00001.json.gz");
  CHECK(mixed.origin[3] == "wikitext:valid.rows.jsonl");
  CHECK(mixed.origin[5] == "alpaca:alpaca_5000.json");
  CHECK(mixed.counted_tokens() < mixed.token_count());
  CHECK(mixed.counted_tokens() > 64 * 4);
  o.length = 100000;
  CHECK_THROWS_AS(llm::draw_calibration({parse_calibration_spec("c4:" + c4->string())}, tok, o),
                  pollard::option_error);
}
