// pollard — readers for the text data sets used for calibration and evaluation:
// WikiText-2 rows (JSON lines), C4 documents (gzip JSON lines), Alpaca instructions (JSON list),
// and plain text split into paragraphs.
#pragma once

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/io/input_file.hpp"
#include "pollard/io/instruction_example.hpp"
#include "pollard/io/json.hpp"
#include "pollard/io/plain_text.hpp"
#include "pollard/io/text_offset.hpp"

namespace pollard::io {

namespace detail {

inline std::string read_text_file(const std::filesystem::path& path) {
  io::require_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error("cannot open " + path.string() + ": " + std::strerror(errno));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// The whole decompressed content of a gzip file (every member of a file of several, as gzip -d
/// reads it), refusing to grow past `limit` bytes. A file that ends before its last member's
/// trailer (cut anywhere, even at a flush point where everything before decompresses) is refused
/// as truncated: zlib reports that only through gzerror() once the data runs out. A file that is
/// not gzip data is read as it is (zlib's transparent reading); `offsets`, when given, is set to
/// what offsets in the result count (the decompressed text, or the file's own bytes then).
inline std::string read_gzip_file(const std::filesystem::path& path, std::size_t limit,
                                  offsets_in* offsets = nullptr) {
  const int fd = open_regular_file(path);
  gzFile f = gzdopen(fd, "rb");
  if (f == nullptr) {
    ::close(fd);
    throw io_error("cannot open " + path.string() + ": out of memory");
  }
  const auto fail = [&](std::string message) {
    gzclose(f);
    throw format_error(path.string() + ": " + message);
  };
  std::string out;
  char buffer[1 << 16];
  while (true) {
    const int n = gzread(f, buffer, sizeof buffer);
    if (n < 0) {
      int code = 0;
      const char* what = gzerror(f, &code);
      fail(std::string("corrupt gzip stream (") + (what != nullptr ? what : "unknown error") + ")");
    }
    if (n == 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
    if (out.size() > limit) fail("decompresses to more than " + std::to_string(limit) + " bytes");
  }
  int code = Z_OK;
  (void)gzerror(f, &code);
  if (code == Z_BUF_ERROR)
    fail(
        "truncated gzip file: it ends before the end of its compressed data (the trailer "
        "with the length and CRC is missing)");
  if (code != Z_OK) fail("corrupt gzip stream");
  if (offsets != nullptr)
    *offsets = gzdirect(f) == 1 ? offsets_in::file : offsets_in::decompressed_text;
  gzclose(f);
  return out;
}

/// One record of a JSON data file and where it is ("alpaca.jsonl line 3", "data.json item 0").
struct json_record {
  std::string where;
  json_value value;
};

/// The records of the non-blank lines of a JSON-lines document named `what`. A byte-order mark
/// at its start is skipped; one anywhere else (a line that starts with one) is refused naming
/// the line and its byte offset. Error offsets are offsets in `content` (counted as `offsets`
/// says).
inline std::vector<json_record> json_lines_records(const std::string& content,
                                                   const std::string& what,
                                                   offsets_in offsets = offsets_in::file) {
  std::vector<json_record> out;
  std::size_t begin = content.starts_with(byte_order_mark) ? byte_order_mark.size() : 0;
  std::size_t line = 1;
  while (begin < content.size()) {
    std::size_t end = content.find('\n', begin);
    if (end == std::string::npos) end = content.size();
    const std::string_view text(content.data() + begin, end - begin);
    if (text.find_first_not_of(" \t\r") != std::string_view::npos) {
      std::string where = what + " line " + std::to_string(line);
      auto value = parse_json_at(text, begin, where, offsets);
      out.push_back({std::move(where), std::move(value)});
    }
    begin = end + 1;
    ++line;
  }
  return out;
}

/// The `field` of every non-blank line of a JSON-lines document.
inline std::vector<std::string> json_lines_text(const std::string& content, const std::string& what,
                                                offsets_in offsets,
                                                const std::string& field_name = "text") {
  std::vector<std::string> rows;
  for (const auto& [where, v] : json_lines_records(content, what, offsets)) {
    const auto* field = v.find(field_name);
    if (field == nullptr) throw format_error(where + ": no \"" + field_name + "\" field");
    rows.push_back(field->as_string(where + " " + field_name));
  }
  return rows;
}

}  // namespace detail

/// WikiText-2 as the usual loaders give it: the rows of a `{"text": ...}` JSON-lines file.
inline std::vector<std::string> read_json_lines_text(const std::filesystem::path& path) {
  return detail::json_lines_text(detail::read_text_file(path), path.string(), offsets_in::file);
}

/// The evaluation string SparseGPT and Wanda use: the rows joined with "\n\n".
inline std::string join_rows(const std::vector<std::string>& rows,
                             const std::string& separator = "\n\n") {
  std::string out;
  for (std::size_t k = 0; k < rows.size(); ++k) {
    if (k) out += separator;
    out += rows[k];
  }
  return out;
}

/// Documents of a gzip JSON-lines corpus (C4's format), at most `limit` decompressed bytes.
inline std::vector<std::string> read_gzip_json_lines_text(const std::filesystem::path& path,
                                                          std::size_t limit = std::size_t{1}
                                                                              << 30) {
  offsets_in offsets = offsets_in::decompressed_text;
  const std::string content = detail::read_gzip_file(path, limit, &offsets);
  return detail::json_lines_text(content, path.string(), offsets);
}

/// C4 as SparseGPT's and Wanda's get_c4 (datautils.py) evaluate it: the first 1100 validation
/// documents joined with a single space, tokenized as one string, of which the first 256
/// windows are scored.
inline constexpr std::size_t c4_reference_documents = 1100;
inline constexpr index_t c4_reference_windows = 256;

/// The C4 evaluation string of the reference protocol: the first c4_reference_documents of
/// `documents` (all of them when there are fewer) joined with " ".
inline std::string c4_reference_text(const std::vector<std::string>& documents) {
  const std::size_t n = std::min(documents.size(), c4_reference_documents);
  return join_rows(std::vector<std::string>(documents.begin(),
                                            documents.begin() + static_cast<std::ptrdiff_t>(n)),
                   " ");
}

using detail::json_record;

/// How the records of a data file are laid out.
enum class data_file_format {
  json_list,   ///< one JSON list, each item a record
  json_lines,  ///< one JSON value per non-blank line
  plain_text,  ///< paragraphs separated by blank lines (split_paragraphs)
};

/// The most bytes a data file is read (or decompressed) to by default: 4 GiB.
inline constexpr std::size_t data_file_limit = std::size_t{1} << 32;

/// The content of a data file: decompressed when its name ends in .gz (at most `limit` bytes),
/// as it is otherwise. `offsets`, when given, is set to what offsets in the content count, for
/// messages: the decompressed text of gzip data, the file's bytes otherwise.
inline std::string read_data_file(const std::filesystem::path& path,
                                  std::size_t limit = data_file_limit,
                                  offsets_in* offsets = nullptr) {
  if (path.extension() == ".gz") return detail::read_gzip_file(path, limit, offsets);
  if (offsets != nullptr) *offsets = offsets_in::file;
  return detail::read_text_file(path);
}

/// The format of the data file `path` whose (decompressed) content is `content`. A gzip file is
/// judged as the file it decompresses to, by the extension before .gz: *.json is a JSON list
/// (gzip-compressed: JSON lines unless its text starts with '[', as C4's *.json.gz are JSON
/// lines), *.jsonl JSON lines, any other extension plain text (notes.txt, notes.txt.gz); a gzip
/// file with no inner extension (data.gz) holds JSON records when its text starts with '{' or
/// '[', plain text otherwise.
inline data_file_format data_file_format_of(const std::filesystem::path& path,
                                            std::string_view content) {
  const bool gzip = path.extension() == ".gz";
  const std::filesystem::path inner = gzip ? path.stem() : path;
  const std::string ext = inner.extension().string();
  if (content.starts_with(byte_order_mark)) content.remove_prefix(byte_order_mark.size());
  const std::size_t first = content.find_first_not_of(" \t\r\n");
  const char opening = first == std::string_view::npos ? '\0' : content[first];
  if (ext == ".json")
    return !gzip || opening == '[' ? data_file_format::json_list : data_file_format::json_lines;
  if (ext == ".jsonl") return data_file_format::json_lines;
  if (gzip && ext.empty() && (opening == '{' || opening == '['))
    return opening == '[' ? data_file_format::json_list : data_file_format::json_lines;
  return data_file_format::plain_text;
}

/// The records of the JSON content of a data file named `name`: the items of a list, or the
/// values of the non-blank lines. Throws format_error naming the file and the line or item, and
/// the offset, counted as `offsets` says.
inline std::vector<json_record> parse_json_records(const std::string& content,
                                                   const std::string& name, bool list,
                                                   offsets_in offsets = offsets_in::file) {
  if (!list) return detail::json_lines_records(content, name, offsets);
  std::vector<json_record> out;
  const auto root = parse_json(content, name, offsets);
  std::size_t index = 0;
  for (const auto& item : root.as_array(name))
    out.push_back({name + " item " + std::to_string(index++), item});
  return out;
}

/// The text of each record of a JSON data file: a record is a string, or an object whose
/// `field` is one. Throws format_error naming the record otherwise.
inline std::vector<std::string> record_texts(const std::vector<json_record>& records,
                                             const std::string& field = "text") {
  std::vector<std::string> out;
  for (const auto& [where, item] : records) {
    if (item.is_string()) {
      out.push_back(item.as_string(where));
      continue;
    }
    const auto* v = item.find(field);
    if (v == nullptr) throw format_error(where + ": no \"" + field + "\" field");
    out.push_back(v->as_string(where + " " + field));
  }
  return out;
}

/// The records of a JSON data file, in order: a JSON list (*.json) or JSON lines (*.jsonl, and
/// any other name), either of them gzip-compressed (*.gz, at most `limit` decompressed bytes; a
/// list when its text starts with '['). Blank lines of JSON lines are skipped. Throws io_error /
/// format_error naming the file and the line or item.
inline std::vector<json_record> read_json_records(const std::filesystem::path& path,
                                                  std::size_t limit = data_file_limit) {
  offsets_in offsets = offsets_in::file;
  const std::string content = read_data_file(path, limit, &offsets);
  return parse_json_records(content, path.string(),
                            data_file_format_of(path, content) == data_file_format::json_list,
                            offsets);
}

/// Alpaca: {instruction, input, output} records of a JSON data file (a JSON list, JSON lines, or
/// either gzip-compressed; data_file_format_of). A record without "input" has an empty input, as
/// Stanford Alpaca's train.py reads it (example.get("input", "")): the prompt without input.
/// Plain text is a format_error naming the formats read, since it holds no instruction/response
/// pairs.
inline std::vector<instruction_example> read_instruction_examples(
    const std::filesystem::path& path) {
  const std::string name = path.string();
  offsets_in offsets = offsets_in::file;
  const std::string content = read_data_file(path, data_file_limit, &offsets);
  const data_file_format format = data_file_format_of(path, content);
  if (format == data_file_format::plain_text)
    throw format_error(name +
                       ": instruction data is read from JSON records with instruction, input "
                       "and output fields: a JSON list (*.json), JSON lines (*.jsonl), or either "
                       "gzip-compressed (*.json.gz, *.jsonl.gz)");
  std::vector<instruction_example> out;
  for (const auto& [where, item] :
       parse_json_records(content, name, format == data_file_format::json_list, offsets)) {
    const auto field = [&](const char* field_name, bool optional = false) {
      const auto* v = item.find(field_name);
      if (v == nullptr && optional) return std::string();
      if (v == nullptr) throw format_error(where + ": no \"" + field_name + "\" field");
      return v->as_string(where + " " + field_name);
    };
    out.push_back({field("instruction"), field("input", true), field("output")});
  }
  return out;
}

/// Plain text split into paragraphs (TinyStories' layout): a blank line, one holding nothing but
/// spaces, tabs and a carriage return, separates two paragraphs. Each paragraph is its lines
/// joined with "\n", a line's "\r" before its "\n" dropped, so a file with CRLF line ends gives
/// the same paragraphs as with LF.
inline std::vector<std::string> split_paragraphs(std::string_view text) {
  std::vector<std::string> out;
  std::string paragraph;
  std::size_t begin = 0;
  while (begin < text.size()) {
    std::size_t end = text.find('\n', begin);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(begin, end - begin);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) {
      if (!paragraph.empty()) out.push_back(std::move(paragraph));
      paragraph.clear();
    } else {
      if (!paragraph.empty()) paragraph += '\n';
      paragraph += line;
    }
    begin = end + 1;
  }
  if (!paragraph.empty()) out.push_back(std::move(paragraph));
  return out;
}

/// The paragraphs of a plain-text file (split_paragraphs), gzip-compressed when its name ends in
/// .gz (read_data_file).
inline std::vector<std::string> read_paragraphs(const std::filesystem::path& path) {
  offsets_in offsets = offsets_in::file;
  const std::string content = read_data_file(path, data_file_limit, &offsets);
  return split_paragraphs(plain_text_of(content, path.string(), offsets));
}

}  // namespace pollard::io
