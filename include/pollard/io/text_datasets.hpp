// pollard — readers for the text data sets used for calibration and evaluation:
// WikiText-2 rows (JSON lines), C4 documents (gzip JSON lines), Alpaca instructions (JSON list),
// and plain text split into paragraphs.
#pragma once

#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/io/instruction_example.hpp"
#include "pollard/io/json.hpp"

namespace pollard::io {

namespace detail {

inline std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error("cannot open " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// The whole decompressed content of a gzip file, refusing to grow past `limit` bytes.
inline std::string read_gzip_file(const std::filesystem::path& path, std::size_t limit) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) throw io_error("cannot open " + path.string());
  std::string out;
  char buffer[1 << 16];
  while (true) {
    const int n = gzread(f, buffer, sizeof buffer);
    if (n < 0) {
      gzclose(f);
      throw format_error(path.filename().string() + ": corrupt gzip stream");
    }
    if (n == 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
    if (out.size() > limit) {
      gzclose(f);
      throw format_error(path.filename().string() + ": decompresses to more than " +
                         std::to_string(limit) + " bytes");
    }
  }
  gzclose(f);
  return out;
}

/// The `field` of every non-blank line of a JSON-lines document.
inline std::vector<std::string> json_lines_text(const std::string& content, const std::string& what,
                                                const std::string& field_name = "text") {
  std::vector<std::string> rows;
  std::size_t begin = 0, line = 1;
  while (begin < content.size()) {
    std::size_t end = content.find('\n', begin);
    if (end == std::string::npos) end = content.size();
    const std::string_view text(content.data() + begin, end - begin);
    if (text.find_first_not_of(" \t\r") != std::string_view::npos) {
      const std::string where = what + " line " + std::to_string(line);
      const auto v = parse_json(text, where);
      const auto* field = v.find(field_name);
      if (field == nullptr) throw format_error(where + ": no \"" + field_name + "\" field");
      rows.push_back(field->as_string(where + " " + field_name));
    }
    begin = end + 1;
    ++line;
  }
  return rows;
}

}  // namespace detail

/// WikiText-2 as the usual loaders give it: the rows of a `{"text": ...}` JSON-lines file.
inline std::vector<std::string> read_json_lines_text(const std::filesystem::path& path) {
  return detail::json_lines_text(detail::read_text_file(path), path.filename().string());
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
  return detail::json_lines_text(detail::read_gzip_file(path, limit), path.filename().string());
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

/// Alpaca: a JSON list of {instruction, input, output}.
inline std::vector<instruction_example> read_instruction_examples(
    const std::filesystem::path& path) {
  const std::string what = path.filename().string();
  const auto root = parse_json(detail::read_text_file(path), what);
  std::vector<instruction_example> out;
  std::size_t index = 0;
  for (const auto& item : root.as_array(what)) {
    const std::string where = what + " item " + std::to_string(index++);
    const auto field = [&](const char* name) {
      const auto* v = item.find(name);
      if (v == nullptr) throw format_error(where + ": no \"" + name + "\" field");
      return v->as_string(where + " " + name);
    };
    out.push_back({field("instruction"), field("input"), field("output")});
  }
  return out;
}

/// Plain text split at blank lines into paragraphs (TinyStories' layout), trimmed of newlines.
inline std::vector<std::string> read_paragraphs(const std::filesystem::path& path) {
  const std::string text = detail::read_text_file(path);
  std::vector<std::string> out;
  std::size_t begin = 0;
  while (begin < text.size()) {
    std::size_t end = text.find("\n\n", begin);
    if (end == std::string::npos) end = text.size();
    std::string p = text.substr(begin, end - begin);
    while (!p.empty() && (p.front() == '\n' || p.front() == '\r')) p.erase(p.begin());
    while (!p.empty() && (p.back() == '\n' || p.back() == '\r')) p.pop_back();
    if (!p.empty()) out.push_back(std::move(p));
    begin = end + 2;
  }
  return out;
}

}  // namespace pollard::io
