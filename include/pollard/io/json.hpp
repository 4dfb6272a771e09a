// pollard — a small strict JSON reader (RFC 8259) for file headers and data sets.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/core/number_text.hpp"
#include "pollard/io/text_offset.hpp"
#include "pollard/io/utf8.hpp"

namespace pollard::io {

/// A parsed JSON value. Objects keep their keys sorted (std::map) and reject duplicates.
class json_value {
 public:
  using array = std::vector<json_value>;
  using object = std::map<std::string, json_value, std::less<>>;

  json_value() = default;  // null
  explicit json_value(bool b) : v_(b) {}
  explicit json_value(double d) : v_(d) {}
  explicit json_value(std::string s) : v_(std::move(s)) {}
  explicit json_value(array a) : v_(std::make_shared<array>(std::move(a))) {}
  explicit json_value(object o) : v_(std::make_shared<object>(std::move(o))) {}

  bool is_null() const noexcept { return std::holds_alternative<std::monostate>(v_); }
  bool is_bool() const noexcept { return std::holds_alternative<bool>(v_); }
  bool is_number() const noexcept { return std::holds_alternative<double>(v_); }
  bool is_string() const noexcept { return std::holds_alternative<std::string>(v_); }
  bool is_array() const noexcept { return std::holds_alternative<std::shared_ptr<array>>(v_); }
  bool is_object() const noexcept { return std::holds_alternative<std::shared_ptr<object>>(v_); }

  bool as_bool(std::string_view what) const { return get<bool>(what, "a boolean"); }
  double as_number(std::string_view what) const { return get<double>(what, "a number"); }
  const std::string& as_string(std::string_view what) const {
    return get<std::string>(what, "a string");
  }
  const array& as_array(std::string_view what) const {
    return *get<std::shared_ptr<array>>(what, "an array");
  }
  const object& as_object(std::string_view what) const {
    return *get<std::shared_ptr<object>>(what, "an object");
  }
  /// A number that must be a non-negative integer exactly representable in a double.
  std::uint64_t as_size(std::string_view what) const {
    const double d = as_number(what);
    if (d > 9007199254740992.0)
      throw format_error(std::string(what) +
                         " must be a non-negative integer of at most 2^53 = 9007199254740992, "
                         "got " +
                         format_number(d));
    if (!(d >= 0.0) || d != static_cast<double>(static_cast<std::uint64_t>(d)))
      throw format_error(std::string(what) + " must be a non-negative integer, got " +
                         format_number(d));
    return static_cast<std::uint64_t>(d);
  }
  /// The member `key` of an object, or nullptr.
  const json_value* find(std::string_view key) const {
    if (!is_object()) return nullptr;
    const auto& o = *std::get<std::shared_ptr<object>>(v_);
    auto it = o.find(key);
    return it == o.end() ? nullptr : &it->second;
  }

 private:
  template <class T>
  const T& get(std::string_view what, const char* expected) const {
    if (const T* p = std::get_if<T>(&v_)) return *p;
    throw format_error(std::string(what) + " must be " + expected);
  }

  std::variant<std::monostate, bool, double, std::string, std::shared_ptr<array>,
               std::shared_ptr<object>>
      v_;
};

namespace detail {

class json_parser {
 public:
  /// `text` is a file's bytes from byte `offset` on; error offsets are the file's (counted as
  /// `offsets` says). A whole file (`whole_file`) may start with a byte-order mark.
  json_parser(std::string_view text, std::string what, int max_depth, std::size_t offset,
              bool whole_file, offsets_in offsets = offsets_in::file)
      : s_(text),
        what_(std::move(what)),
        max_depth_(max_depth),
        offset_(offset),
        in_(offsets),
        whole_file_(whole_file) {
    // RFC 8259 section 8.1: a parser may ignore a byte-order mark at the start of the text.
    if (whole_file && s_.starts_with(byte_order_mark)) i_ = byte_order_mark.size();
  }

  json_value parse_document() {
    json_value v = parse_value(0);
    skip_ws();
    if (i_ != s_.size()) fail("unexpected trailing characters");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& message) const {
    // Outside a string a byte-order mark is never valid: named as what it is.
    const bool mark = s_.substr(i_).starts_with(byte_order_mark);
    // A whole file of several lines (a JSON list, a config.json): the line, as JSON Lines
    // readers name theirs.
    std::string where = what_;
    if (whole_file_ && s_.find('\n') != std::string_view::npos)
      where += " line " + std::to_string(1 + std::count(s_.begin(), s_.begin() + i_, '\n'));
    throw format_error(where + ": invalid JSON: " +
                       (mark ? "a UTF-8 byte-order mark (U+FEFF), which belongs only at the very "
                               "start of a file,"
                             : message) +
                       " at " + offset_text(offset_ + i_, in_));
  }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }
  bool consume(char c) {
    skip_ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!consume(c)) fail(std::string("expected '") + c + "'");
  }
  void expect_word(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) fail("unknown literal");
    i_ += w.size();
  }

  json_value parse_value(int depth) {
    if (depth > max_depth_) fail("nesting deeper than " + std::to_string(max_depth_));
    skip_ws();
    if (i_ >= s_.size()) fail("unexpected end");
    const char c = s_[i_];
    if (c == '{') return parse_object(depth);
    if (c == '[') return parse_array(depth);
    if (c == '"') return json_value(parse_string());
    if (c == 't') return expect_word("true"), json_value(true);
    if (c == 'f') return expect_word("false"), json_value(false);
    if (c == 'n') return expect_word("null"), json_value();
    return json_value(parse_number());
  }

  json_value parse_object(int depth) {
    ++i_;
    json_value::object o;
    if (consume('}')) return json_value(std::move(o));
    do {
      skip_ws();
      if (i_ >= s_.size() || s_[i_] != '"') fail("expected a key string");
      const std::size_t key_start = i_;
      std::string key = parse_string();
      if (o.contains(key)) {
        i_ = key_start;
        fail("duplicate key \"" + key + "\"");
      }
      expect(':');
      json_value v = parse_value(depth + 1);
      o.emplace(std::move(key), std::move(v));
    } while (consume(','));
    expect('}');
    return json_value(std::move(o));
  }

  json_value parse_array(int depth) {
    ++i_;
    json_value::array a;
    if (consume(']')) return json_value(std::move(a));
    do {
      a.push_back(parse_value(depth + 1));
    } while (consume(','));
    expect(']');
    return json_value(std::move(a));
  }

  unsigned hex4() {
    if (s_.size() - i_ < 4) fail("truncated \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= static_cast<unsigned>(c - 'A' + 10);
      else
        fail("bad hex digit in \\u escape");
    }
    return v;
  }

  std::string parse_string() {
    ++i_;  // opening quote
    std::string out;
    while (true) {
      if (i_ >= s_.size()) fail("unterminated string");
      const char c = s_[i_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) fail("unterminated escape");
      switch (s_[i_++]) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          std::uint32_t cp = hex4();
          if (cp >= 0xd800 && cp < 0xdc00) {
            if (s_.substr(i_, 2) != "\\u") fail("unpaired surrogate");
            i_ += 2;
            const std::uint32_t low = hex4();
            if (low < 0xdc00 || low >= 0xe000) fail("unpaired surrogate");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          } else if (cp >= 0xdc00 && cp < 0xe000) {
            fail("unpaired surrogate");
          }
          io::append_utf8(out, cp);
          break;
        }
        default:
          fail("unknown escape");
      }
    }
  }

  double parse_number() {
    const std::size_t start = i_;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    auto digits = [&] {
      const std::size_t d = i_;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
      return i_ - d;
    };
    if (i_ < s_.size() && s_[i_] == '0') {
      ++i_;
    } else if (digits() == 0) {
      fail("expected a value");
    }
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      if (digits() == 0) fail("expected digits after '.'");
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (digits() == 0) fail("expected exponent digits");
    }
    double value = 0;
    const auto [end, ec] = std::from_chars(s_.data() + start, s_.data() + i_, value);
    if (ec != std::errc() || end != s_.data() + i_) fail("number out of range");
    return value;
  }

  std::string_view s_;
  std::string what_;
  int max_depth_;
  std::size_t offset_ = 0;
  offsets_in in_ = offsets_in::file;
  bool whole_file_ = false;
  std::size_t i_ = 0;
};

}  // namespace detail

/// Parses one JSON document, a whole file's content; format_error (naming `what` and the byte
/// offset in the file) on any violation. A UTF-8 byte-order mark at its start (as Windows
/// editors save files) is skipped, as RFC 8259 section 8.1 allows, and counted in the offsets;
/// one anywhere else outside a string is an error saying so. `offsets` says what the offsets
/// count: the text a gzip-compressed file decompresses to is named as such.
inline json_value parse_json(std::string_view text, std::string what, offsets_in offsets,
                             int max_depth = 64) {
  return detail::json_parser(text, std::move(what), max_depth, 0, true, offsets).parse_document();
}
inline json_value parse_json(std::string_view text, std::string what = "JSON", int max_depth = 64) {
  return parse_json(text, std::move(what), offsets_in::file, max_depth);
}

/// Parses one JSON document that is a part of a file starting at its byte `offset` (a line of
/// JSON Lines, a safetensors header): error offsets are the file's (counted as `offsets` says),
/// and a byte-order mark is an error (it belongs only at the very start of the file, which the
/// caller skips).
inline json_value parse_json_at(std::string_view text, std::size_t offset, std::string what,
                                offsets_in offsets, int max_depth = 64) {
  return detail::json_parser(text, std::move(what), max_depth, offset, false, offsets)
      .parse_document();
}
inline json_value parse_json_at(std::string_view text, std::size_t offset, std::string what,
                                int max_depth = 64) {
  return parse_json_at(text, offset, std::move(what), offsets_in::file, max_depth);
}

}  // namespace pollard::io
