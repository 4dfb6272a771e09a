// pollard — a bounds-checked little-endian cursor over bytes, shared by every file parser.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "pollard/core/error.hpp"

namespace pollard::io {

static_assert(std::endian::native == std::endian::little,
              "pollard's file readers assume a little-endian host");

/// Reads fixed-size values and length-prefixed strings; every read is checked against the end,
/// and a failed read throws format_error naming the file, what was read and the offset.
class byte_reader {
 public:
  byte_reader(std::span<const std::byte> bytes, std::string what)
      : bytes_(bytes), what_(std::move(what)) {}

  std::size_t offset() const noexcept { return offset_; }
  std::size_t size() const noexcept { return bytes_.size(); }
  std::size_t remaining() const noexcept { return bytes_.size() - offset_; }
  const std::string& what() const noexcept { return what_; }

  /// Throws format_error when fewer than n bytes remain.
  void require(std::size_t n, std::string_view field) const {
    if (n > remaining())
      fail(std::string(field) + " needs " + std::to_string(n) + " bytes but only " +
           std::to_string(remaining()) + " remain (truncated file?)");
  }

  template <class T>
  requires std::is_trivially_copyable_v<T> T read(std::string_view field) {
    require(sizeof(T), field);
    T value;
    std::memcpy(&value, bytes_.data() + offset_, sizeof(T));
    offset_ += sizeof(T);
    return value;
  }

  /// The next n bytes, without copying.
  std::span<const std::byte> read_bytes(std::size_t n, std::string_view field) {
    require(n, field);
    auto out = bytes_.subspan(offset_, n);
    offset_ += n;
    return out;
  }

  std::string read_string(std::size_t n, std::string_view field) {
    auto b = read_bytes(n, field);
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
  }

  void skip(std::size_t n, std::string_view field) { read_bytes(n, field); }

  void seek(std::size_t offset, std::string_view field) {
    if (offset > bytes_.size())
      fail(std::string(field) + " offset " + std::to_string(offset) + " is past the end (" +
           std::to_string(bytes_.size()) + " bytes)");
    offset_ = offset;
  }

  [[noreturn]] void fail(const std::string& message) const {
    throw format_error(what_ + ": " + message + " (at byte " + std::to_string(offset_) + ")");
  }

 private:
  std::span<const std::byte> bytes_;
  std::string what_;
  std::size_t offset_ = 0;
};

/// a * b, or format_error when it overflows std::size_t (sizes read from files are untrusted).
inline std::size_t checked_multiply(std::size_t a, std::size_t b, std::string_view what) {
  if (a != 0 && b > SIZE_MAX / a)
    throw format_error(std::string(what) + ": size overflows (" + std::to_string(a) + " x " +
                       std::to_string(b) + ")");
  return a * b;
}

/// a + b, or format_error when it overflows std::size_t.
inline std::size_t checked_add(std::size_t a, std::size_t b, std::string_view what) {
  if (b > SIZE_MAX - a)
    throw format_error(std::string(what) + ": offset overflows (" + std::to_string(a) + " + " +
                       std::to_string(b) + ")");
  return a + b;
}

}  // namespace pollard::io
