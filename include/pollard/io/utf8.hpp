// pollard — the one UTF-8 well-formedness check (Unicode Table 3-7: no overlong forms, no
// surrogates, nothing above U+10FFFF), used by the JSON writer and by streamed token text, and
// the one test for Unicode white space in UTF-8 text.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace pollard::io {

/// The UTF-8 byte-order mark (U+FEFF): an editor's mark that only the very start of a file may
/// hold; readers skip it there.
inline constexpr std::string_view byte_order_mark = "\xEF\xBB\xBF";

/// What starts at one byte of a string: a well-formed character of `length` bytes (length > 0),
/// or none (length 0) — then `valid_prefix` bytes (at least 1) are the maximal subpart that one
/// U+FFFD replaces (as Python's bytes.decode(errors="replace") and the WHATWG decoder count
/// them), and `truncated` says whether they are a valid start cut off by the end of the string.
struct utf8_sequence {
  std::size_t length = 0;
  std::size_t valid_prefix = 1;
  bool truncated = false;
};

/// The UTF-8 sequence at s[k] (k < s.size()).
inline utf8_sequence utf8_sequence_at(std::string_view s, std::size_t k) noexcept {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(k);
  if (lead < 0x80) return {1, 1, false};
  std::size_t length = 0;
  unsigned char low = 0x80, high = 0xbf;  // the range of the second byte
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0) low = 0xa0;   // no overlong forms
    if (lead == 0xed) high = 0x9f;  // no surrogates
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0) low = 0x90;   // no overlong forms
    if (lead == 0xf4) high = 0x8f;  // nothing above U+10FFFF
  } else {
    return {0, 1, false};
  }
  utf8_sequence r{0, 1, false};
  for (std::size_t i = 1; i < length; ++i) {
    if (k + i >= s.size()) {
      r.truncated = true;
      return r;
    }
    const unsigned char c = byte(k + i);
    const unsigned char lo = i == 1 ? low : 0x80, hi = i == 1 ? high : 0xbf;
    if (c < lo || c > hi) return r;
    r.valid_prefix = i + 1;
  }
  r.length = length;
  return r;
}

/// Appends the UTF-8 encoding of code point `cp` (at most U+10FFFF) to `out`.
inline void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

/// One character of tokenizer input as llama.cpp reads UTF-8 (src/unicode.cpp,
/// unicode_cpt_from_utf8): `length` bytes and the `code_point` they give.
struct lenient_utf8_character {
  std::size_t length = 1;
  char32_t code_point = 0;
  /// Whether the bytes are the one well-formed encoding of a Unicode scalar value.
  bool well_formed = false;
};

/// The character at s[k] (k < s.size()) read as llama.cpp reads it: a lead byte C0-DF, E0-EF or
/// F0-F7 followed by 1, 2 or 3 continuation bytes (80-BF) is one character, its value decoded
/// from the payload bits with no further check, so an overlong form (C0 80, E0 80 80: U+0000),
/// a surrogate (ED A0 80: U+D800) or a value above U+10FFFF (F4 90 80 80, F5 80 80 80) is one
/// character; any other byte (a continuation byte alone, F8-FF, a lead byte whose sequence is
/// cut short or broken) is a character of its own, read as U+FFFD.
inline lenient_utf8_character lenient_utf8_at(std::string_view s, std::size_t k) noexcept {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(k);
  if (lead < 0x80) return {1, lead, true};
  std::size_t length = 0;
  char32_t value = 0;
  if (lead >= 0xc0 && lead <= 0xdf) {
    length = 2;
    value = lead & 0x1fu;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    value = lead & 0x0fu;
  } else if (lead >= 0xf0 && lead <= 0xf7) {
    length = 4;
    value = lead & 0x07u;
  } else {
    return {1, 0xfffd, false};
  }
  if (s.size() - k < length) return {1, 0xfffd, false};
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(k + i) & 0xc0) != 0x80) return {1, 0xfffd, false};
    value = (value << 6) | (byte(k + i) & 0x3fu);
  }
  return {length, value, utf8_sequence_at(s, k).length == length};
}

/// `s` as well-formed UTF-8: every ill-formed byte sequence becomes U+FFFD, one per maximal
/// subpart (as utf8_sequence_at counts them); well-formed text is returned unchanged.
inline std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t k = 0; k < s.size();) {
    const utf8_sequence sequence = utf8_sequence_at(s, k);
    if (sequence.length == 0) {
      out += "\xef\xbf\xbd";
      k += sequence.valid_prefix;
    } else {
      out.append(s.substr(k, sequence.length));
      k += sequence.length;
    }
  }
  return out;
}

/// The length in bytes of the Unicode white-space character (the White_Space property of
/// PropList.txt: tab, line feed, vertical tab, form feed, carriage return, space, U+0085,
/// U+00A0 no-break space, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000) that
/// starts at s[k], or 0 when none does (k < s.size()).
inline std::size_t white_space_length_at(std::string_view s, std::size_t k) noexcept {
  const auto byte = [&](std::size_t i) -> unsigned char {
    return k + i < s.size() ? static_cast<unsigned char>(s[k + i]) : 0u;
  };
  const unsigned char lead = byte(0);
  if (lead == ' ' || (lead >= 0x09 && lead <= 0x0d)) return 1;
  if (lead == 0xc2 && (byte(1) == 0x85 || byte(1) == 0xa0)) return 2;
  if (lead == 0xe1 && byte(1) == 0x9a && byte(2) == 0x80) return 3;  // U+1680
  if (lead == 0xe2 && byte(1) == 0x80) {  // U+2000..U+200A, U+2028, U+2029, U+202F
    const unsigned char last = byte(2);
    if ((last >= 0x80 && last <= 0x8a) || last == 0xa8 || last == 0xa9 || last == 0xaf) return 3;
  }
  if (lead == 0xe2 && byte(1) == 0x81 && byte(2) == 0x9f) return 3;  // U+205F
  if (lead == 0xe3 && byte(1) == 0x80 && byte(2) == 0x80) return 3;  // U+3000
  return 0;
}

/// `s` without the Unicode white space (white_space_length_at) at its two ends.
inline std::string_view trim_white_space(std::string_view s) noexcept {
  std::size_t begin = 0;
  while (begin < s.size()) {
    const std::size_t n = white_space_length_at(s, begin);
    if (n == 0) break;
    begin += n;
  }
  // From the end: the last character that is not white space, found walking forward, since
  // UTF-8 is read from its lead byte.
  std::size_t end = begin;
  for (std::size_t k = begin; k < s.size();) {
    const std::size_t n = white_space_length_at(s, k);
    if (n != 0) {
      k += n;
      continue;
    }
    const utf8_sequence sequence = utf8_sequence_at(s, k);
    k += sequence.length != 0 ? sequence.length : sequence.valid_prefix;
    end = k;
  }
  return s.substr(begin, end - begin);
}

}  // namespace pollard::io
