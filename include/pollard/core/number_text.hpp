// pollard — the one way pollard writes a number as text: in error messages and in JSON.
#pragma once

#include <charconv>
#include <cmath>
#include <string>
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

}  // namespace pollard
