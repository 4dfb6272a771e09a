// pollard — the JSON writer beside the reader in io/json.hpp: string and number literals and a
// small streaming writer that places the commas. Its output always parses as RFC 8259 JSON.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/core/number_text.hpp"
#include "pollard/io/utf8.hpp"

namespace pollard::io {

/// The JSON string literal of s. '"' and '\\' are escaped, control characters (U+0000..U+001F
/// and U+007F) are written as \n, \t, \r, \b, \f or \u00XX, well-formed UTF-8 is copied as is,
/// and every ill-formed byte sequence becomes U+FFFD (written \ufffd), one per maximal subpart —
/// what Python's bytes.decode("utf-8", errors="replace") gives. A file name that is not valid
/// UTF-8 is thus written readably and the output stays valid JSON.
inline std::string json_string(std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "\"";
  out.reserve(s.size() + 2);
  for (std::size_t k = 0; k < s.size();) {
    const auto c = static_cast<unsigned char>(s[k]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          if (c < 0x20 || c == 0x7f) {
            out += "\\u00";
            out += hex[c >> 4];
            out += hex[c & 0xf];
          } else {
            out += static_cast<char>(c);
          }
      }
      ++k;
      continue;
    }
    const utf8_sequence sequence = utf8_sequence_at(s, k);
    if (sequence.length == 0) {
      out += "\\ufffd";
      k += sequence.valid_prefix;
    } else {
      out.append(s.substr(k, sequence.length));
      k += sequence.length;
    }
  }
  return out + "\"";
}

/// The JSON number literal of v: the shortest text that reads back as v; null when v is NaN or
/// infinite (JSON has no literal for them).
inline std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  return format_number(v);
}

/// Writes one JSON document: objects, arrays, keys and values in order, commas placed for you.
///   json_writer w;
///   w.begin_object().key("tokens").value(std::int64_t{12}).key("ppl").value(3.5).end_object();
///   w.str() == "{\"tokens\":12,\"ppl\":3.5}"
/// Throws pollard::error when used out of order (a key outside an object, a value where a key
/// is due, str() before the document is closed).
class json_writer {
 public:
  json_writer& begin_object() {
    before_value();
    out_ += '{';
    stack_.push_back({true, true, false});
    return *this;
  }
  json_writer& end_object() {
    if (stack_.empty() || !stack_.back().object || stack_.back().key_written)
      throw error("json_writer: end_object without a matching begin_object");
    stack_.pop_back();
    out_ += '}';
    return *this;
  }
  json_writer& begin_array() {
    before_value();
    out_ += '[';
    stack_.push_back({false, true, false});
    return *this;
  }
  json_writer& end_array() {
    if (stack_.empty() || stack_.back().object)
      throw error("json_writer: end_array without a matching begin_array");
    stack_.pop_back();
    out_ += ']';
    return *this;
  }
  json_writer& key(std::string_view name) {
    if (stack_.empty() || !stack_.back().object || stack_.back().key_written)
      throw error("json_writer: a key outside an object or two keys in a row");
    if (!stack_.back().first) out_ += ',';
    stack_.back().first = false;
    stack_.back().key_written = true;
    out_ += json_string(name);
    out_ += ':';
    return *this;
  }
  json_writer& value(std::string_view s) { return raw(json_string(s)); }
  json_writer& value(const char* s) { return raw(json_string(s)); }
  json_writer& value(const std::string& s) { return raw(json_string(s)); }
  json_writer& value(double v) { return raw(json_number(v)); }
  json_writer& value(std::int64_t v) { return raw(std::to_string(v)); }
  json_writer& value(std::uint64_t v) { return raw(std::to_string(v)); }
  json_writer& value(int v) { return raw(std::to_string(v)); }
  json_writer& value(bool v) { return raw(v ? "true" : "false"); }
  json_writer& null() { return raw("null"); }
  /// Inserts text that is already one JSON value (e.g. another writer's str()).
  json_writer& raw(std::string_view json) {
    before_value();
    out_ += json;
    return *this;
  }

  /// The document; throws unless every object and array is closed and one value was written.
  const std::string& str() const {
    if (!stack_.empty() || out_.empty()) throw error("json_writer: the document is not complete");
    return out_;
  }

 private:
  struct level {
    bool object;
    bool first;
    bool key_written;
  };

  void before_value() {
    if (stack_.empty()) {
      if (!out_.empty()) throw error("json_writer: a second top-level value");
      return;
    }
    level& l = stack_.back();
    if (l.object) {
      if (!l.key_written) throw error("json_writer: a value in an object needs a key first");
      l.key_written = false;
    } else {
      if (!l.first) out_ += ',';
      l.first = false;
    }
  }

  std::string out_;
  std::vector<level> stack_;
};

}  // namespace pollard::io
