// pollard — the one runtime element-type enum: what a file or a foreign tensor holds.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>
#include <type_traits>

#include "pollard/core/element_types.hpp"

namespace pollard {

/// An element type known at run time. Every file format and adapter maps its own codes onto it
/// (.npy descr strings, safetensors dtype names, GGUF's ggml type ids, DLPack's (code, bits)).
/// The block-quantised types hold blocks of 32 elements (ggml's Q8_0, Q4_0 and Q4_1 layouts).
enum class dtype {
  f64,
  f32,
  f16,
  bf16,
  i64,
  i32,
  i16,
  i8,
  u8,
  boolean,
  q8_0,
  q4_0,
  q4_1,
};

/// What pollard knows of a dtype: its short name ("f32", "q4_0"), the name numpy and the error
/// messages use ("float32", "Q4_0"), and its geometry (`block_bytes` bytes hold
/// `block_elements` elements: 1 element for the plain types, 32 for the block-quantised ones —
/// Q8_0 is an f16 scale and 32 int8, Q4_0 an f16 scale and 16 bytes of nibbles, Q4_1 two f16
/// (scale, minimum) and 16 bytes).
struct dtype_traits {
  std::string_view name;
  std::string_view long_name;
  std::size_t block_elements;
  std::size_t block_bytes;
};

namespace detail {

// In the order of the enumerators.
inline constexpr std::array<dtype_traits, 13> dtype_table{{
    {"f64", "float64", 1, 8},
    {"f32", "float32", 1, 4},
    {"f16", "float16", 1, 2},
    {"bf16", "bfloat16", 1, 2},
    {"i64", "int64", 1, 8},
    {"i32", "int32", 1, 4},
    {"i16", "int16", 1, 2},
    {"i8", "int8", 1, 1},
    {"u8", "uint8", 1, 1},
    {"boolean", "bool", 1, 1},
    {"q8_0", "Q8_0", 32, 34},
    {"q4_0", "Q4_0", 32, 18},
    {"q4_1", "Q4_1", 32, 20},
}};

}  // namespace detail

constexpr const dtype_traits& traits_of(dtype t) noexcept {
  return detail::dtype_table[static_cast<std::size_t>(t)];
}
/// Short lower-case name: "f32", "bf16", "boolean", "q4_0".
constexpr std::string_view dtype_name(dtype t) noexcept { return traits_of(t).name; }
/// The name numpy and the error messages use: "float32", "bfloat16", "int8", "bool", "Q4_0".
constexpr std::string_view dtype_long_name(dtype t) noexcept { return traits_of(t).long_name; }
/// Elements per block (1 for the plain types, 32 for the block-quantised ones).
constexpr std::size_t dtype_block_elements(dtype t) noexcept { return traits_of(t).block_elements; }
/// Bytes per block (per element for the plain types).
constexpr std::size_t dtype_block_bytes(dtype t) noexcept { return traits_of(t).block_bytes; }

/// True for f64, f32, f16 and bf16.
constexpr bool is_floating(dtype t) noexcept {
  return t == dtype::f64 || t == dtype::f32 || t == dtype::f16 || t == dtype::bf16;
}

/// The dtype of a pollard storage type (float, double, half, bfloat16).
template <class T>
requires storage_type<std::remove_cv_t<T>>
constexpr dtype dtype_of() noexcept {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_same_v<U, double>)
    return dtype::f64;
  else if constexpr (std::is_same_v<U, float>)
    return dtype::f32;
  else if constexpr (std::is_same_v<U, half>)
    return dtype::f16;
  else
    return dtype::bf16;
}

/// The dtype named by dtype_name, or nothing.
constexpr std::optional<dtype> dtype_from_name(std::string_view name) noexcept {
  for (int k = 0; k <= static_cast<int>(dtype::q4_1); ++k)
    if (dtype_name(static_cast<dtype>(k)) == name) return static_cast<dtype>(k);
  return std::nullopt;
}

}  // namespace pollard
