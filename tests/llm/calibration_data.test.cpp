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
                       (custom.string() + " line 1: no \"text\" field").c_str(),
                       pollard::format_error);
  const auto list = write_file("c.json", "[\"first\", {\"text\": \"second\"}]");
  CHECK(llm::read_calibration_documents(list) == std::vector<std::string>{"first", "second"});
  const auto text = write_file("d.txt", "Para one.\nstill one.\n\nPara two.\n");
  CHECK(llm::read_calibration_documents(text) ==
        std::vector<std::string>{"Para one.\nstill one.", "Para two."});
  const auto empty = write_file("e.txt", "\n\n  \n");
  CHECK_THROWS_WITH_AS(llm::read_calibration_documents(empty),
                       (empty.string() + ": no calibration text in the file").c_str(),
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

namespace {

fs::path write_gzip_file(const std::string& name, const std::string& content) {
  const fs::path p = fs::temp_directory_path() / ("pollard-calibration-" + name);
  gzFile f = gzopen(p.c_str(), "wb");
  gzwrite(f, content.data(), static_cast<unsigned>(content.size()));
  gzclose(f);
  return p;
}

}  // namespace

TEST_CASE("a gzip calibration file reads as the file it decompresses to") {
  const std::string text = "{Braces} start this story.\r\n\r\nA second one.\n";
  const std::string lines = "{\"text\": \"one\"}\n{\"text\": \"two\"}\n";
  const auto plain = write_file("g.txt", text);
  // Plain text keeps its paragraphs compressed, even when its first character is a brace: the
  // inner extension decides, as the extension does for the uncompressed file.
  for (const auto& gz : {write_gzip_file("g.txt.gz", text), write_gzip_file("g.md.gz", text)}) {
    CHECK(llm::read_calibration_documents(gz) == llm::read_calibration_documents(plain));
    CHECK(llm::read_calibration_documents(gz) ==
          std::vector<std::string>{"{Braces} start this story.", "A second one."});
    fs::remove(gz);
  }
  // No inner extension: JSON records when the text opens with '{' or '[', plain text otherwise.
  const auto bare_lines = write_gzip_file("h.gz", lines);
  const auto bare_list = write_gzip_file("i.gz", "[\"first\", \"second\"]");
  const auto bare_text = write_gzip_file("j.gz", "Para one.\n\nPara two.\n");
  CHECK(llm::read_calibration_documents(bare_lines) == std::vector<std::string>{"one", "two"});
  CHECK(llm::read_calibration_documents(bare_list) == std::vector<std::string>{"first", "second"});
  CHECK(llm::read_calibration_documents(bare_text) ==
        std::vector<std::string>{"Para one.", "Para two."});
  // A byte-order mark (as Windows editors save) before the records changes nothing.
  const auto bom_gz = write_gzip_file("l.gz", "\xEF\xBB\xBF" + lines);
  const auto bom_json = write_file("m.json", "\xEF\xBB\xBF[\"first\", \"second\"]");
  CHECK(llm::read_calibration_documents(bom_gz) == std::vector<std::string>{"one", "two"});
  CHECK(llm::read_calibration_documents(bom_json) == std::vector<std::string>{"first", "second"});
  fs::remove(bom_gz);
  fs::remove(bom_json);
  const auto jsonl_gz = write_gzip_file("k.jsonl.gz", lines);
  CHECK(llm::read_calibration_documents(jsonl_gz) == std::vector<std::string>{"one", "two"});
  for (const auto& p : {plain, bare_lines, bare_list, bare_text, jsonl_gz}) fs::remove(p);
}

TEST_CASE("a corpus stream joins every record, blank ones too, as get_wikitext2 joins its rows") {
  const auto rows = write_file("w.jsonl",
                               "{\"text\": \"\"}\n{\"text\": \" = A = \\n\"}\n{\"text\": \"\"}\n"
                               "{\"text\": \" b\"}\n");
  CHECK(llm::read_calibration_records(rows) == std::vector<std::string>{"", " = A = \n", "", " b"});
  CHECK(llm::read_calibration_documents(rows) == std::vector<std::string>{" = A = \n", " b"});
  fs::remove(rows);

  const auto model = test::data_file("models/stories260K/stories260K.bin");
  const auto wiki = test::data_file("text/wikitext2_raw/valid.rows.jsonl");
  if (!model || !wiki) return;
  const auto m = llm::open_model(*model);
  const auto& tok = *m.tokenizer;
  // `" ".join(rows)` over all 3760 rows, 1299 of them empty (the first among them).
  const auto all_rows = io::read_json_lines_text(*wiki);
  REQUIRE(all_rows.size() == 3760);
  std::string joined;
  for (std::size_t k = 0; k < all_rows.size(); ++k) joined += (k ? " " : "") + all_rows[k];
  REQUIRE(joined.rfind("  = Homarus gammarus = \n   Homarus", 0) == 0);
  llm::calibration_options o;
  o.samples = 5;
  o.length = 96;
  o.seed = 3;
  const auto expected = corpus_windows(tok.encode(joined, tok.adds_bos()), "x").draw(5, 96, 3);
  const auto drawn =
      llm::draw_calibration({parse_calibration_spec("wikitext:" + wiki->string())}, tok, o);
  CHECK(drawn.tokens == expected.tokens);
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
  CHECK(mixed.origin[0] == "c4:" + c4->string());
  CHECK(mixed.origin[3] == "wikitext:" + wiki->string());
  CHECK(mixed.origin[5] == "alpaca:" + alpaca->string());
  CHECK(mixed.counted_tokens() < mixed.token_count());
  CHECK(mixed.counted_tokens() > 64 * 4);
  // A source that would get no sequence (8 · 1/101 rounds to 0) is refused before any file is
  // read: these do not exist.
  o.samples = 8;
  CHECK_THROWS_WITH_AS(
      llm::draw_calibration({parse_calibration_spec("c4:/nonexistent/a.json.gz@1"),
                             parse_calibration_spec("text:/nonexistent/b.txt@100")},
                            tok, o),
      "calibration mixture: c4:/nonexistent/a.json.gz (weight 1 of 101 in all) would get 0 of "
      "the 8 sequences drawn; raise its weight, draw more sequences or leave it out",
      pollard::option_error);
  o.length = 100000;
  CHECK_THROWS_AS(llm::draw_calibration({parse_calibration_spec("c4:" + c4->string())}, tok, o),
                  pollard::option_error);
}
