#include <doctest/doctest.h>

#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "pollard/io/text_datasets.hpp"

namespace {
std::filesystem::path write_temp(const std::string& name, const std::string& content) {
  const auto path = std::filesystem::temp_directory_path() / name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}
}  // namespace

TEST_CASE("JSON-lines rows keep empty rows and join with blank lines as the references do") {
  const auto path = write_temp(
      "pollard-rows.jsonl", "{\"text\": \"\"}\n{\"text\": \" = A = \\n\"}\n\n{\"text\": \"b\"}\n");
  const auto rows = pollard::io::read_json_lines_text(path);
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].empty());
  CHECK(pollard::io::join_rows(rows) == "\n\n = A = \n\n\nb");
  std::filesystem::remove(path);
}

TEST_CASE("a gzip JSON-lines corpus decompresses within its limit") {
  const auto path = std::filesystem::temp_directory_path() / "pollard-corpus.json.gz";
  gzFile f = gzopen(path.c_str(), "wb");
  const std::string content = "{\"text\":\"first doc\",\"url\":\"u\"}\n{\"text\":\"second\"}\n";
  gzwrite(f, content.data(), static_cast<unsigned>(content.size()));
  gzclose(f);
  const auto docs = pollard::io::read_gzip_json_lines_text(path);
  REQUIRE(docs.size() == 2);
  CHECK(docs[1] == "second");
  CHECK_THROWS_WITH_AS(pollard::io::read_gzip_json_lines_text(path, 10),
                       "pollard-corpus.json.gz: decompresses to more than 10 bytes",
                       pollard::format_error);
  std::filesystem::remove(path);
}

TEST_CASE("instruction examples need all three fields") {
  const auto good = write_temp("pollard-alpaca.json",
                               R"([{"instruction": "Add", "input": "1 2", "output": "3"}])");
  const auto examples = pollard::io::read_instruction_examples(good);
  REQUIRE(examples.size() == 1);
  CHECK(examples[0].output == "3");
  const auto bad =
      write_temp("pollard-alpaca-bad.json", R"([{"instruction": "Add", "input": ""}])");
  CHECK_THROWS_WITH_AS(pollard::io::read_instruction_examples(bad),
                       "pollard-alpaca-bad.json item 0: no \"output\" field",
                       pollard::format_error);
  const auto lines = write_temp("pollard-rows-bad.jsonl", "{\"text\": 1}\n");
  CHECK_THROWS_WITH_AS(pollard::io::read_json_lines_text(lines),
                       "pollard-rows-bad.jsonl line 1 text must be a string",
                       pollard::format_error);
  for (const auto& p : {good, bad, lines}) std::filesystem::remove(p);
}

namespace {
std::filesystem::path write_gzip(const std::string& name, const std::string& content) {
  const auto path = std::filesystem::temp_directory_path() / name;
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, content.data(), static_cast<unsigned>(content.size()));
  gzclose(f);
  return path;
}
}  // namespace

TEST_CASE("instruction examples read alike from a JSON list, JSON lines and gzip of either") {
  const std::string first = R"({"instruction": "Add", "input": "1 2", "output": "3"})";
  const std::string second = R"({"instruction": "Greet", "input": "", "output": "Hi"})";
  const std::string list = "[" + first + ",\n" + second + "]\n";
  const std::string lines = first + "\n\n" + second + "\n";
  const std::vector<std::filesystem::path> files{
      write_temp("pollard-alpaca-list.json", list), write_temp("pollard-alpaca-lines.jsonl", lines),
      write_gzip("pollard-alpaca-lines.jsonl.gz", lines),
      write_gzip("pollard-alpaca-list.json.gz", "  " + list)};
  for (const auto& path : files) {
    INFO(path.filename().string());
    const auto examples = pollard::io::read_instruction_examples(path);
    REQUIRE(examples.size() == 2);
    CHECK(examples[0].instruction == "Add");
    CHECK(examples[0].input == "1 2");
    CHECK(examples[0].output == "3");
    CHECK(examples[1].instruction == "Greet");
    CHECK(examples[1].input.empty());
    CHECK(examples[1].output == "Hi");
  }
  const auto bad =
      write_gzip("pollard-alpaca-bad.jsonl.gz", first + "\n{\"instruction\": \"x\"}\n");
  CHECK_THROWS_WITH_AS(pollard::io::read_instruction_examples(bad),
                       "pollard-alpaca-bad.jsonl.gz line 2: no \"input\" field",
                       pollard::format_error);
  const auto text = write_temp("pollard-alpaca.txt", "Add 1 and 2.\n\n3\n");
  CHECK_THROWS_WITH_AS(pollard::io::read_instruction_examples(text),
                       "pollard-alpaca.txt: instruction data is read from JSON records with "
                       "instruction, input and output fields: a JSON list (*.json), JSON lines "
                       "(*.jsonl), or either gzip-compressed (*.gz)",
                       pollard::format_error);
  for (const auto& p : files) std::filesystem::remove(p);
  std::filesystem::remove(bad);
  std::filesystem::remove(text);
}

TEST_CASE("paragraphs are split at blank lines") {
  const auto path = write_temp("pollard-paragraphs.txt", "One.\nTwo.\n\nThree.\n\n\n\nFour.\n");
  const auto p = pollard::io::read_paragraphs(path);
  REQUIRE(p.size() == 3);
  CHECK(p[0] == "One.\nTwo.");
  CHECK(p[2] == "Four.");
  std::filesystem::remove(path);
}

TEST_CASE("C4's reference string joins the first 1100 documents with one space (get_c4)") {
  // SparseGPT/Wanda datautils.py: ' '.join(valdata[:1100]['text']), first 256 * seqlen tokens.
  std::vector<std::string> docs;
  for (int i = 0; i < 1200; ++i) docs.push_back("doc" + std::to_string(i) + "\n\nbody");
  const std::string text = pollard::io::c4_reference_text(docs);
  std::string expected = docs[0];
  for (int i = 1; i < 1100; ++i) expected += " " + docs[static_cast<std::size_t>(i)];
  CHECK(text == expected);
  CHECK(text.find("doc1100") == std::string::npos);
  CHECK(pollard::io::c4_reference_windows == 256);
  CHECK(pollard::io::c4_reference_text({"a", "b"}) == "a b");  // fewer documents: all of them
}
