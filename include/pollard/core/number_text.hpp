// pollard — the one way pollard writes a number as text (in error messages and in JSON) and the
// one way it reads a number a user writes (command-line values, numbers in files a user edits).
#pragma once

#include <charconv>
#include <cmath>
#include <concepts>
#include <string>
#include <string_view>
#include <system_error>

namespace pollard {

/// The shortest text that reads back as exactly `value` ("0.5", "-1", "1e+300"); "nan", "inf"
/// and "-inf" for the non-finite values (a NaN's sign is not shown).
inline std::string format_number(double value) {
  if (std::isnan(value)) return "nan";
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

/// A number read from text (read_integer, read_real): the value, or why there is none.
template <class T>
struct number_read {
  T value{};
  /// {}: read; std::errc::invalid_argument: the text is not a number in plain decimal notation;
  /// std::errc::result_out_of_range: it is one, but T cannot hold it.
  std::errc error{};
  explicit operator bool() const noexcept { return error == std::errc{}; }
};

/// Reads the whole of `text` as an integer in plain decimal notation: decimal digits, after one
/// '-' for a signed type ("12", "-3", "007" is seven). Anything else is invalid_argument: white
/// space, '+', a base prefix ("0x10"), digit separators ("1_000"), an exponent ("1e3"), a
/// trailing character. A number beyond `Integer` is result_out_of_range.
template <std::integral Integer>
number_read<Integer> read_integer(std::string_view text) noexcept {
  number_read<Integer> r;
  const char* end = text.data() + text.size();
  // from_chars takes the '-' of a signed type and no '+', no space, no prefix.
  const auto [stop, ec] = std::from_chars(text.data(), end, r.value, 10);
  if (text.empty() || stop != end || (ec != std::errc{} && ec != std::errc::result_out_of_range))
    r.error = std::errc::invalid_argument;
  else
    r.error = ec;
  if (r.error != std::errc{}) r.value = Integer{};
  return r;
}

/// Reads the whole of `text` as a real number in plain decimal notation: an optional '-', decimal
/// digits with at most one '.' among them ("0.5", ".5", "5."), and an optional exponent: 'e' or
/// 'E', an optional sign, digits ("1e-3", "2.5E+04"). Anything else is invalid_argument: white
/// space, '+' before the number, hexadecimal ("0x1p-1"), "inf", "infinity" and "nan" in any case,
/// a trailing character. A number a double cannot hold (1e999, or 1e-999, which would read as 0)
/// is result_out_of_range. The value is the double nearest to the number written.
inline number_read<double> read_real(std::string_view text) noexcept {
  number_read<double> r;
  // from_chars alone would take "inf", "nan" and "nan(...)"; hexadecimal it reads as "0".
  const bool decimal_characters =
      !text.empty() && text.find_first_not_of("0123456789.eE+-") == std::string_view::npos;
  const char* end = text.data() + text.size();
  const auto [stop, ec] = std::from_chars(text.data(), end, r.value, std::chars_format::general);
  if (!decimal_characters || stop != end ||
      (ec != std::errc{} && ec != std::errc::result_out_of_range))
    r.error = std::errc::invalid_argument;
  else
    r.error = ec;
  if (r.error != std::errc{}) r.value = 0.0;
  return r;
}

}  // namespace pollard
