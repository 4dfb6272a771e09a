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
                       (path.string() + ": decompresses to more than 10 bytes").c_str(),
                       pollard::format_error);
  std::filesystem::remove(path);
}

namespace {
/// `content` deflated as one gzip member by zlib, with a Z_SYNC_FLUSH after its first
/// `flush_after` bytes; `flush_point` is set to the compressed size at that flush.
std::string gzip_with_flush(const std::string& content, std::size_t flush_after,
                            std::size_t& flush_point) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(content.size() + 1024, '\0');
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(content.data()));
  z.avail_in = static_cast<uInt>(flush_after);
  REQUIRE(deflate(&z, Z_SYNC_FLUSH) == Z_OK);
  flush_point = z.total_out;
  z.avail_in = static_cast<uInt>(content.size() - flush_after);
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}
}  // namespace

TEST_CASE("a gzip file cut anywhere before its trailer is refused as truncated, naming it") {
  const std::string first = "{\"text\":\"first doc\"}\n", second = "{\"text\":\"second\"}\n";
  std::size_t flush_point = 0;
  const std::string whole = gzip_with_flush(first + second, first.size(), flush_point);
  const auto path = std::filesystem::temp_directory_path() / "pollard-cut.json.gz";
  const auto write = [&](const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  };
  write(whole);
  CHECK(pollard::io::read_gzip_json_lines_text(path).size() == 2);
  // Two members concatenated read as one stream, as gzip -d reads them.
  write(whole + whole);
  CHECK(pollard::io::read_gzip_json_lines_text(path).size() == 4);
  // The 8-byte trailer (CRC-32, length) cut, in part or whole; the stream cut at the flush point
  // (everything before it decompresses: the first document is whole); cut mid-stream; the second
  // member of two cut.
  for (const std::size_t size :
       {whole.size() - 1, whole.size() - 8, flush_point, flush_point - 3, whole.size() / 2}) {
    CAPTURE(size);
    write(whole.substr(0, size));
    CHECK_THROWS_WITH_AS(pollard::io::read_gzip_json_lines_text(path),
                         doctest::Contains((path.string() + ": truncated gzip file").c_str()),
                         pollard::format_error);
  }
  write(whole + whole.substr(0, whole.size() - 4));
  CHECK_THROWS_WITH_AS(pollard::io::read_gzip_json_lines_text(path),
                       doctest::Contains((path.string() + ": truncated gzip file").c_str()),
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
                       (bad.string() + " item 0: no \"output\" field").c_str(),
                       pollard::format_error);
  const auto lines = write_temp("pollard-rows-bad.jsonl", "{\"text\": 1}\n");
  CHECK_THROWS_WITH_AS(pollard::io::read_json_lines_text(lines),
                       (lines.string() + " line 1 text must be a string").c_str(),
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
                       (bad.string() + " line 2: no \"output\" field").c_str(),
                       pollard::format_error);
  // Plain text holds no instruction records, compressed or not.
  const std::string words = "Add 1 and 2.\n\n3\n";
  for (const auto& text :
       {write_temp("pollard-alpaca.txt", words), write_gzip("pollard-alpaca.txt.gz", words)}) {
    CHECK_THROWS_WITH_AS(
        pollard::io::read_instruction_examples(text),
        (text.string() + ": instruction data is read from JSON records with instruction, input "
                         "and output fields: a JSON list (*.json), JSON lines (*.jsonl), or "
                         "either gzip-compressed (*.json.gz, *.jsonl.gz)")
            .c_str(),
        pollard::format_error);
    std::filesystem::remove(text);
  }
  for (const auto& p : files) std::filesystem::remove(p);
  std::filesystem::remove(bad);
}

TEST_CASE("an Alpaca record without \"input\" reads as one with an empty input") {
  // Stanford Alpaca's train.py: prompt_input if example.get("input", "") != "" else
  // prompt_no_input, so a missing input and an empty one give the same prompt.
  const auto path =
      write_temp("pollard-alpaca-noinput.jsonl",
                 "{\"instruction\": \"Greet\", \"output\": \"Hi\"}\n"
                 "{\"instruction\": \"Greet\", \"input\": \"\", \"output\": \"Hi\"}\n");
  const auto examples = pollard::io::read_instruction_examples(path);
  REQUIRE(examples.size() == 2);
  CHECK(examples[0].instruction == "Greet");
  CHECK(examples[0].input.empty());
  CHECK(examples[0].output == "Hi");
  CHECK(examples[0].input == examples[1].input);
  std::filesystem::remove(path);
}

TEST_CASE("a data file's format comes from its name, a gzip file's from the name inside it") {
  using pollard::io::data_file_format;
  using pollard::io::data_file_format_of;
  CHECK(data_file_format_of("a.json", "{}") == data_file_format::json_list);
  CHECK(data_file_format_of("a.jsonl", "[1]") == data_file_format::json_lines);
  CHECK(data_file_format_of("a.txt", "[1]") == data_file_format::plain_text);
  CHECK(data_file_format_of("a", "{}") == data_file_format::plain_text);
  // C4's shards are JSON lines named *.json.gz.
  CHECK(data_file_format_of("c4.json.gz", " {\"text\": 1}") == data_file_format::json_lines);
  CHECK(data_file_format_of("c4.json.gz", "\n[1]") == data_file_format::json_list);
  CHECK(data_file_format_of("a.jsonl.gz", "[1]") == data_file_format::json_lines);
  CHECK(data_file_format_of("a.txt.gz", "{braces} in text") == data_file_format::plain_text);
  CHECK(data_file_format_of("a.gz", "{\"text\": 1}") == data_file_format::json_lines);
  CHECK(data_file_format_of("a.gz", " [1]") == data_file_format::json_list);
  CHECK(data_file_format_of("a.gz", "Once upon a time") == data_file_format::plain_text);
  // A gzip plain-text file reads as its uncompressed twin.
  const std::string text = "One.\r\n\r\nTwo.\n";
  const auto plain = write_temp("pollard-twin.txt", text);
  const auto gz = write_gzip("pollard-twin.txt.gz", text);
  CHECK(pollard::io::read_paragraphs(gz) == pollard::io::read_paragraphs(plain));
  CHECK(pollard::io::read_paragraphs(gz) == std::vector<std::string>{"One.", "Two."});
  std::filesystem::remove(plain);
  std::filesystem::remove(gz);
}

TEST_CASE("paragraphs are split at blank lines") {
  const auto path = write_temp("pollard-paragraphs.txt", "One.\nTwo.\n\nThree.\n\n\n\nFour.\n");
  const auto p = pollard::io::read_paragraphs(path);
  REQUIRE(p.size() == 3);
  CHECK(p[0] == "One.\nTwo.");
  CHECK(p[2] == "Four.");
  std::filesystem::remove(path);
}

TEST_CASE("a line of nothing but spaces, tabs or a CR separates paragraphs; CRLF reads as LF") {
  const std::vector<std::string> expected{"Once upon a time.", "The dog ran\n  far away.", "End."};
  // The same three paragraphs with LF, with CRLF, and with separator lines holding " ", "\t",
  // " \t\r" (a CRLF line of blanks) and a lone "\r".
  for (const std::string text :
       {"Once upon a time.\n\nThe dog ran\n  far away.\n\nEnd.\n",
        "Once upon a time.\r\n\r\nThe dog ran\r\n  far away.\r\n\r\nEnd.\r\n",
        "\r\n \nOnce upon a time.\n \nThe dog ran\n  far away.\n\t\nEnd.",
        "Once upon a time.\r\n \t\r\nThe dog ran\r\n  far away.\r\n\r\r\nEnd.\r\n\r\n"}) {
    CAPTURE(text);
    CHECK(pollard::io::split_paragraphs(text) == expected);
  }
  const auto path = write_temp("pollard-crlf.txt", "One.\r\n\r\nTwo.\r\n");
  CHECK(pollard::io::read_paragraphs(path) == std::vector<std::string>{"One.", "Two."});
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

TEST_CASE(
    "a byte-order mark is skipped at a data file's start, in every layout, and refused elsewhere") {
  using pollard::io::read_json_records;
  const std::string bom = "\xEF\xBB\xBF";
  const auto texts = [](const std::filesystem::path& path) {
    return pollard::io::record_texts(read_json_records(path));
  };
  const auto lines = write_temp("pollard-bom.jsonl", bom + "{\"text\": \"a\"}\n\"b\"\n");
  CHECK(texts(lines) == std::vector<std::string>{"a", "b"});
  const auto list = write_temp("pollard-bom.json", bom + "[{\"text\": \"a\"}, \"b\"]");
  CHECK(texts(list) == std::vector<std::string>{"a", "b"});
  const auto text = write_temp("pollard-bom.txt", bom + "one\n\ntwo\n");
  CHECK(pollard::io::read_paragraphs(text) == std::vector<std::string>{"one", "two"});
  // JSON lines: line 3 starts with a mark, at byte 11 of the file (the first mark counted).
  const auto mid = write_temp("pollard-bom-mid.jsonl", bom + "\"a\"\n\"b\"\n" + bom + "\"c\"\n");
  CHECK_THROWS_WITH_AS(
      read_json_records(mid),
      (mid.string() + " line 3: invalid JSON: a UTF-8 byte-order mark "
                      "(U+FEFF), which belongs only at the very start of a file, at offset 11")
          .c_str(),
      pollard::format_error);
  const auto twice = write_temp("pollard-bom-twice.jsonl", bom + bom + "\"a\"\n");
  CHECK_THROWS_WITH_AS(
      read_json_records(twice),
      (twice.string() + " line 1: invalid JSON: a UTF-8 byte-order mark "
                        "(U+FEFF), which belongs only at the very start of a file, at offset 3")
          .c_str(),
      pollard::format_error);
  // Plain text: joined files keep their marks; the second is refused naming line and offset.
  const auto joined = write_temp("pollard-bom-joined.txt", bom + "one\n" + bom + "two\n");
  CHECK_THROWS_WITH_AS(
      pollard::io::read_paragraphs(joined),
      (joined.string() + " line 2 (byte offset 7): a UTF-8 byte-order mark "
                         "(U+FEFF), which belongs only at the very start of a file (were files "
                         "joined?)")
          .c_str(),
      pollard::format_error);
  // Inside a JSON string U+FEFF is a character like any other.
  const auto inside = write_temp("pollard-bom-inside.jsonl", "\"x" + bom + "\"\n");
  CHECK(texts(inside) == std::vector<std::string>{"x" + bom});
  for (const auto& p : {lines, list, text, mid, twice, joined, inside}) std::filesystem::remove(p);
}

TEST_CASE(
    "a gzip file's error offsets are said to count its decompressed text, a plain file's not") {
  const std::string bom = "\xEF\xBB\xBF";
  const std::string mark =
      ": a UTF-8 byte-order mark (U+FEFF), which belongs only at the very start "
      "of a file";
  // JSON lines with a mark at the start of line 3 (byte 8), compressed and not; a file named .gz
  // that holds no gzip data is read as it is, and its offsets are the file's.
  const std::string lines = "\"a\"\n\"b\"\n" + bom + "\"c\"\n";
  const auto gz = write_gzip("pollard-offsets.jsonl.gz", lines);
  const auto plain = write_temp("pollard-offsets.jsonl", lines);
  const auto stored = write_temp("pollard-offsets-stored.jsonl.gz", lines);
  const auto json_mark = [&](const std::filesystem::path& p, const std::string& offset) {
    return p.string() + " line 3: invalid JSON" + mark + ", at " + offset;
  };
  CHECK_THROWS_WITH_AS(pollard::io::read_json_records(gz),
                       json_mark(gz, "offset 8 of the decompressed text").c_str(),
                       pollard::format_error);
  CHECK_THROWS_WITH_AS(pollard::io::read_gzip_json_lines_text(gz),
                       json_mark(gz, "offset 8 of the decompressed text").c_str(),
                       pollard::format_error);
  CHECK_THROWS_WITH_AS(pollard::io::read_json_records(plain), json_mark(plain, "offset 8").c_str(),
                       pollard::format_error);
  CHECK_THROWS_WITH_AS(pollard::io::read_json_records(stored),
                       json_mark(stored, "offset 8").c_str(), pollard::format_error);
  // A JSON list and instruction records: the parser's offset.
  const auto list = write_gzip("pollard-offsets.json.gz", "[{\"text\": \"a\"},]");
  CHECK_THROWS_WITH_AS(
      pollard::io::read_json_records(list),
      (list.string() + ": invalid JSON: expected a value at offset 15 of the decompressed text")
          .c_str(),
      pollard::format_error);
  const auto alpaca = write_gzip("pollard-offsets-alpaca.jsonl.gz", "{\"instruction\" 1}\n");
  CHECK_THROWS_WITH_AS(pollard::io::read_instruction_examples(alpaca),
                       (alpaca.string() +
                        " line 1: invalid JSON: expected ':' at offset 15 of the decompressed text")
                           .c_str(),
                       pollard::format_error);
  // Plain text: the line and the offset.
  const std::string joined = bom + "one\n" + bom + "two\n";
  const auto text_gz = write_gzip("pollard-offsets.txt.gz", joined);
  const auto text = write_temp("pollard-offsets.txt", joined);
  CHECK_THROWS_WITH_AS(
      pollard::io::read_paragraphs(text_gz),
      doctest::Contains(
          (text_gz.string() + " line 2 (byte offset 7 of the decompressed text)" + mark).c_str()),
      pollard::format_error);
  CHECK_THROWS_WITH_AS(
      pollard::io::read_paragraphs(text),
      doctest::Contains((text.string() + " line 2 (byte offset 7)" + mark).c_str()),
      pollard::format_error);
  for (const auto& p : {gz, plain, stored, list, alpaca, text_gz, text}) std::filesystem::remove(p);
}

TEST_CASE("record_texts reads strings and the field of objects, naming a record without it") {
  using pollard::io::json_record;
  using pollard::io::parse_json;
  const std::vector<json_record> records = {{"f item 0", parse_json("\"a\"")},
                                            {"f item 1", parse_json("{\"body\": \"b\"}")}};
  CHECK(pollard::io::record_texts(records, "body") == std::vector<std::string>{"a", "b"});
  CHECK_THROWS_WITH_AS(pollard::io::record_texts(records), "f item 1: no \"text\" field",
                       pollard::format_error);
}
