#include <doctest/doctest.h>

#include "pollard/io/text_datasets.hpp"
#include "support/data.hpp"

TEST_CASE("the shared data sets load with the sizes their README states") {
  const auto wiki = pollard::test::data_file("text/wikitext2_raw/test.rows.jsonl");
  const auto c4 = pollard::test::data_file("text/c4/c4-sample.00000-of-00001.json.gz");
  const auto alpaca = pollard::test::data_file("text/alpaca/alpaca_5000.json");
  if (!wiki || !c4 || !alpaca) return;
  CHECK(pollard::io::read_json_lines_text(*wiki).size() == 4358);
  const auto docs = pollard::io::read_gzip_json_lines_text(*c4);
  CHECK(docs.size() == 1000);
  std::size_t chars = 0;
  for (const auto& d : docs) chars += d.size();
  CHECK(chars > 2'000'000);  // 2.16 M characters (more bytes in UTF-8)
  CHECK(pollard::io::read_instruction_examples(*alpaca).size() == 5000);
}
