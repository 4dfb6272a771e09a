// pollard — the bounds-checked parser of GGUF metadata values (the reader's building block).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pollard/io/byte_reader.hpp"
#include "pollard/io/gguf/tensor_info.hpp"
#include "pollard/io/gguf/value.hpp"

namespace pollard::io {

namespace detail {

class gguf_parser {
 public:
  gguf_parser(std::span<const std::byte> bytes, std::string name) : r_(bytes, std::move(name)) {}

  std::string read_string(std::string_view field) {
    const auto n = r_.read<std::uint64_t>(field);
    return r_.read_string(static_cast<std::size_t>(n), field);
  }

  // Fails unless `count` elements of at least `min_bytes` each fit in what is left of the file.
  void check_count(std::uint64_t count, std::size_t min_bytes, const std::string& what) {
    if (count > r_.remaining() / min_bytes)
      r_.fail(what + " count " + std::to_string(count) + " cannot fit in the remaining " +
              std::to_string(r_.remaining()) + " bytes");
  }

  template <class T>
  std::vector<T> read_scalar_array(std::uint64_t count, const std::string& what) {
    check_count(count, sizeof(T), what);
    std::vector<T> out(static_cast<std::size_t>(count));
    const auto bytes = r_.read_bytes(out.size() * sizeof(T), what);
    if (!out.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
    return out;
  }

  bool read_bool(const std::string& what) {
    const auto b = r_.read<std::uint8_t>(what);
    if (b > 1) r_.fail(what + " is a BOOL holding " + std::to_string(b) + " (must be 0 or 1)");
    return b == 1;
  }

  gguf_value_type read_type(const std::string& what) {
    const auto id = r_.read<std::uint32_t>(what);
    if (id > static_cast<std::uint32_t>(gguf_value_type::float64))
      r_.fail(what + " has unknown value type " + std::to_string(id));
    return static_cast<gguf_value_type>(id);
  }

  gguf_array read_array(const std::string& what, int depth) {
    if (depth > gguf_max_array_nesting)
      r_.fail(what + " nests arrays deeper than " + std::to_string(gguf_max_array_nesting));
    const auto type = read_type(what + " element type");
    const auto count = r_.read<std::uint64_t>(what + " length");
    switch (type) {
      case gguf_value_type::uint8:
        return read_scalar_array<std::uint8_t>(count, what);
      case gguf_value_type::int8:
        return read_scalar_array<std::int8_t>(count, what);
      case gguf_value_type::uint16:
        return read_scalar_array<std::uint16_t>(count, what);
      case gguf_value_type::int16:
        return read_scalar_array<std::int16_t>(count, what);
      case gguf_value_type::uint32:
        return read_scalar_array<std::uint32_t>(count, what);
      case gguf_value_type::int32:
        return read_scalar_array<std::int32_t>(count, what);
      case gguf_value_type::float32:
        return read_scalar_array<float>(count, what);
      case gguf_value_type::uint64:
        return read_scalar_array<std::uint64_t>(count, what);
      case gguf_value_type::int64:
        return read_scalar_array<std::int64_t>(count, what);
      case gguf_value_type::float64:
        return read_scalar_array<double>(count, what);
      case gguf_value_type::boolean: {
        check_count(count, 1, what);
        std::vector<bool> out(static_cast<std::size_t>(count));
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = read_bool(what);
        return out;
      }
      case gguf_value_type::string: {
        check_count(count, sizeof(std::uint64_t), what);
        std::vector<std::string> out;
        out.reserve(static_cast<std::size_t>(count));
        for (std::uint64_t i = 0; i < count; ++i) out.push_back(read_string(what));
        return out;
      }
      case gguf_value_type::array: {
        check_count(count, sizeof(std::uint32_t) + sizeof(std::uint64_t), what);
        std::vector<gguf_array> out;
        out.reserve(static_cast<std::size_t>(count));
        for (std::uint64_t i = 0; i < count; ++i) out.push_back(read_array(what, depth + 1));
        return out;
      }
    }
    r_.fail(what + " has an unknown element type");
  }

  gguf_value read_value(gguf_value_type type, const std::string& what) {
    switch (type) {
      case gguf_value_type::uint8:
        return r_.read<std::uint8_t>(what);
      case gguf_value_type::int8:
        return r_.read<std::int8_t>(what);
      case gguf_value_type::uint16:
        return r_.read<std::uint16_t>(what);
      case gguf_value_type::int16:
        return r_.read<std::int16_t>(what);
      case gguf_value_type::uint32:
        return r_.read<std::uint32_t>(what);
      case gguf_value_type::int32:
        return r_.read<std::int32_t>(what);
      case gguf_value_type::float32:
        return r_.read<float>(what);
      case gguf_value_type::boolean:
        return read_bool(what);
      case gguf_value_type::string:
        return read_string(what);
      case gguf_value_type::array:
        return read_array(what, 1);
      case gguf_value_type::uint64:
        return r_.read<std::uint64_t>(what);
      case gguf_value_type::int64:
        return r_.read<std::int64_t>(what);
      case gguf_value_type::float64:
        return r_.read<double>(what);
    }
    r_.fail(what + " has an unknown value type");
  }

  byte_reader& reader() noexcept { return r_; }

 private:
  byte_reader r_;
};

}  // namespace detail

}  // namespace pollard::io
