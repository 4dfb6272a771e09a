// pollard — GGUF metadata values: the value type ids, typed arrays and single values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "pollard/core/error.hpp"

namespace pollard::io {

/// GGUF metadata value types; the numbers are the ids stored in the file.
enum class gguf_value_type : std::uint32_t {
  uint8 = 0,
  int8 = 1,
  uint16 = 2,
  int16 = 3,
  uint32 = 4,
  int32 = 5,
  float32 = 6,
  boolean = 7,
  string = 8,
  array = 9,
  uint64 = 10,
  int64 = 11,
  float64 = 12,
};

/// The name GGUF's specification gives a value type ("UINT32", "ARRAY", ...).
inline std::string gguf_value_type_name(gguf_value_type type) {
  static constexpr std::string_view names[] = {"UINT8",  "INT8",    "UINT16", "INT16",  "UINT32",
                                               "INT32",  "FLOAT32", "BOOL",   "STRING", "ARRAY",
                                               "UINT64", "INT64",   "FLOAT64"};
  const auto id = static_cast<std::uint32_t>(type);
  return id < std::size(names) ? std::string(names[id]) : "value type " + std::to_string(id);
}

namespace detail {

template <class T, class Variant>
inline constexpr bool one_of = false;
template <class T, class... Ts>
inline constexpr bool one_of<T, std::variant<Ts...>> = (std::is_same_v<T, Ts> || ...);

}  // namespace detail

/// A typed GGUF array: the element type is kept even when the array is empty; arrays may nest.
class gguf_array {
 public:
  // Alternative i holds elements of gguf_value_type i.
  using storage =
      std::variant<std::vector<std::uint8_t>, std::vector<std::int8_t>, std::vector<std::uint16_t>,
                   std::vector<std::int16_t>, std::vector<std::uint32_t>, std::vector<std::int32_t>,
                   std::vector<float>, std::vector<bool>, std::vector<std::string>,
                   std::vector<gguf_array>, std::vector<std::uint64_t>, std::vector<std::int64_t>,
                   std::vector<double>>;

  gguf_array() = default;
  template <class T>
  requires detail::one_of<std::vector<T>, storage> gguf_array(std::vector<T> items)
      : items_(std::move(items)) {}

  gguf_value_type element_type() const noexcept {
    return static_cast<gguf_value_type>(items_.index());
  }
  std::size_t size() const noexcept {
    return std::visit([](const auto& v) { return v.size(); }, items_);
  }
  const storage& items() const noexcept { return items_; }

  /// The elements as std::vector<T>; format_error naming both types when they differ.
  template <class T>
  const std::vector<T>& get() const {
    if (const auto* v = std::get_if<std::vector<T>>(&items_)) return *v;
    throw format_error("GGUF array holds " + gguf_value_type_name(element_type()) +
                       " elements, not the type asked for");
  }

  friend bool operator==(const gguf_array& a, const gguf_array& b) { return a.items_ == b.items_; }

 private:
  storage items_;
};

/// One GGUF metadata value of any type.
class gguf_value {
 public:
  // Alternative i holds gguf_value_type i.
  using storage = std::variant<std::uint8_t, std::int8_t, std::uint16_t, std::int16_t,
                               std::uint32_t, std::int32_t, float, bool, std::string, gguf_array,
                               std::uint64_t, std::int64_t, double>;

  gguf_value() = default;
  template <class T>
  requires detail::one_of<std::decay_t<T>, storage> gguf_value(
      T&& value)  // NOLINT: implicit, so that metadata.set("k", std::uint32_t{3}) reads well
      : value_(std::in_place_type<std::decay_t<T>>, std::forward<T>(value)) {}
  gguf_value(const char* text) : value_(std::string(text)) {}  // NOLINT: a string, not a bool

  gguf_value_type type() const noexcept { return static_cast<gguf_value_type>(value_.index()); }
  const storage& data() const noexcept { return value_; }
  template <class T>
  bool holds() const noexcept {
    return std::holds_alternative<T>(value_);
  }
  /// The value as T; format_error naming the stored type when it is not a T.
  template <class T>
  const T& get() const {
    if (const auto* v = std::get_if<T>(&value_)) return *v;
    throw format_error("GGUF value is " + gguf_value_type_name(type()) +
                       ", not the type asked for");
  }

  friend bool operator==(const gguf_value& a, const gguf_value& b) { return a.value_ == b.value_; }

 private:
  storage value_;
};

}  // namespace pollard::io
