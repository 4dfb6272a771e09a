// pollard — ggml tensor types: their names, block geometry, and dequantisation of the ones pollard
// reads.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "pollard/core/dtype.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"

namespace pollard::io {

/// ggml's tensor type ids as stored in GGUF tensor infos (ggml.h `enum ggml_type`).
enum class ggml_type : std::uint32_t {
  f32 = 0,
  f16 = 1,
  q4_0 = 2,
  q4_1 = 3,
  q5_0 = 6,
  q5_1 = 7,
  q8_0 = 8,
  q8_1 = 9,
  q2_k = 10,
  q3_k = 11,
  q4_k = 12,
  q5_k = 13,
  q6_k = 14,
  q8_k = 15,
  iq2_xxs = 16,
  iq2_xs = 17,
  iq3_xxs = 18,
  iq1_s = 19,
  iq4_nl = 20,
  iq3_s = 21,
  iq2_s = 22,
  iq4_xs = 23,
  i8 = 24,
  i16 = 25,
  i32 = 26,
  i64 = 27,
  f64 = 28,
  iq1_m = 29,
  bf16 = 30,
  tq1_0 = 34,
  tq2_0 = 35,
  mxfp4 = 39,
};

/// How a ggml type packs elements: `block_elements` consecutive elements of a row take
/// `block_bytes` bytes. Rows (ne[0]) must be a whole number of blocks.
struct ggml_type_traits {
  std::string_view name;
  std::size_t block_elements;
  std::size_t block_bytes;
};

namespace detail {

struct ggml_type_entry {
  std::uint32_t id;
  ggml_type_traits traits;
};

// Block geometry from ggml's type_traits (ggml.c) / gguf-py's GGML_QUANT_SIZES.
inline constexpr std::array<ggml_type_entry, 32> ggml_types{{
    {0, {"F32", 1, 4}},         {1, {"F16", 1, 2}},         {2, {"Q4_0", 32, 18}},
    {3, {"Q4_1", 32, 20}},      {6, {"Q5_0", 32, 22}},      {7, {"Q5_1", 32, 24}},
    {8, {"Q8_0", 32, 34}},      {9, {"Q8_1", 32, 40}},      {10, {"Q2_K", 256, 84}},
    {11, {"Q3_K", 256, 110}},   {12, {"Q4_K", 256, 144}},   {13, {"Q5_K", 256, 176}},
    {14, {"Q6_K", 256, 210}},   {15, {"Q8_K", 256, 292}},   {16, {"IQ2_XXS", 256, 66}},
    {17, {"IQ2_XS", 256, 74}},  {18, {"IQ3_XXS", 256, 98}}, {19, {"IQ1_S", 256, 50}},
    {20, {"IQ4_NL", 32, 18}},   {21, {"IQ3_S", 256, 110}},  {22, {"IQ2_S", 256, 82}},
    {23, {"IQ4_XS", 256, 136}}, {24, {"I8", 1, 1}},         {25, {"I16", 1, 2}},
    {26, {"I32", 1, 4}},        {27, {"I64", 1, 8}},        {28, {"F64", 1, 8}},
    {29, {"IQ1_M", 256, 56}},   {30, {"BF16", 1, 2}},       {34, {"TQ1_0", 256, 54}},
    {35, {"TQ2_0", 256, 66}},   {39, {"MXFP4", 32, 17}},
}};

inline std::uint16_t load_u16(const std::byte* p) noexcept {
  std::uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline float load_half(const std::byte* p) noexcept {
  return pollard::detail::half_bits_to_float(load_u16(p));
}

}  // namespace detail

/// The traits of a type id read from a file, or nothing for an id ggml does not define.
inline std::optional<ggml_type_traits> find_ggml_type(std::uint32_t id) noexcept {
  for (const auto& e : detail::ggml_types)
    if (e.id == id) return e.traits;
  return std::nullopt;
}

/// ggml's name of a type ("Q6_K"), or "type <id>" for an id ggml does not define.
inline std::string ggml_type_name(ggml_type type) {
  const auto t = find_ggml_type(static_cast<std::uint32_t>(type));
  return t ? std::string(t->name) : "type " + std::to_string(static_cast<std::uint32_t>(type));
}

/// The types pollard dequantises (and, for F32/F16/BF16, writes).
constexpr bool ggml_type_is_readable(ggml_type type) noexcept {
  switch (type) {
    case ggml_type::f32:
    case ggml_type::f16:
    case ggml_type::bf16:
    case ggml_type::q8_0:
    case ggml_type::q4_0:
    case ggml_type::q4_1:
      return true;
    default:
      return false;
  }
}

/// The dtype of a ggml type id, or nothing for the types pollard has no dtype for.
constexpr std::optional<pollard::dtype> to_dtype(ggml_type type) noexcept {
  switch (type) {
    case ggml_type::f64:
      return pollard::dtype::f64;
    case ggml_type::f32:
      return pollard::dtype::f32;
    case ggml_type::f16:
      return pollard::dtype::f16;
    case ggml_type::bf16:
      return pollard::dtype::bf16;
    case ggml_type::i64:
      return pollard::dtype::i64;
    case ggml_type::i32:
      return pollard::dtype::i32;
    case ggml_type::i16:
      return pollard::dtype::i16;
    case ggml_type::i8:
      return pollard::dtype::i8;
    case ggml_type::q8_0:
      return pollard::dtype::q8_0;
    case ggml_type::q4_0:
      return pollard::dtype::q4_0;
    case ggml_type::q4_1:
      return pollard::dtype::q4_1;
    default:
      return std::nullopt;
  }
}

/// The ggml type id of a dtype, or nothing for the dtypes GGUF does not store (u8, bool).
constexpr std::optional<ggml_type> to_ggml_type(pollard::dtype type) noexcept {
  for (const auto& e : detail::ggml_types) {
    const auto t = static_cast<ggml_type>(e.id);
    if (to_dtype(t) == type) return t;
  }
  return std::nullopt;
}

/// Dequantises `out.size()` elements stored as `type` in `in`, exactly as ggml's reference
/// dequantize_row_* (block of 32: Q8_0 = f16 d + 32 int8, value q·d; Q4_0 = f16 d + 16 bytes,
/// value (nibble − 8)·d; Q4_1 = f16 d + f16 m + 16 bytes, value nibble·d + m; the low nibbles of
/// a block are its elements 0..15, the high nibbles 16..31). A 4- or 8-bit integer times an f16
/// scale is exact in float, so the results do not depend on FMA contraction. Throws format_error
/// for a type pollard does not read, shape_error when the sizes do not match.
inline void dequantize(ggml_type type, std::span<const std::byte> in, std::span<float> out) {
  if (!ggml_type_is_readable(type))
    throw format_error("dequantize: type " + ggml_type_name(type) + " is not read by pollard");
  const auto traits = *find_ggml_type(static_cast<std::uint32_t>(type));
  const std::size_t n = out.size();
  if (n % traits.block_elements != 0 || in.size() != n / traits.block_elements * traits.block_bytes)
    throw shape_error("dequantize: " + std::to_string(in.size()) + " bytes of " +
                      std::string(traits.name) + " cannot hold " + std::to_string(n) + " elements");
  const std::byte* src = in.data();
  float* dst = out.data();
  switch (type) {
    case ggml_type::f32:
      if (n != 0) std::memcpy(dst, src, n * sizeof(float));
      return;
    case ggml_type::f16:
      for (std::size_t i = 0; i < n; ++i) dst[i] = detail::load_half(src + 2 * i);
      return;
    case ggml_type::bf16:
      for (std::size_t i = 0; i < n; ++i)
        dst[i] = pollard::detail::bfloat16_bits_to_float(detail::load_u16(src + 2 * i));
      return;
    case ggml_type::q8_0:
      for (std::size_t b = 0; b < n / 32; ++b, src += 34, dst += 32) {
        const float d = detail::load_half(src);
        for (std::size_t j = 0; j < 32; ++j) {
          const auto q = static_cast<std::int8_t>(std::to_integer<std::uint8_t>(src[2 + j]));
          dst[j] = static_cast<float>(q) * d;
        }
      }
      return;
    case ggml_type::q4_0:
      for (std::size_t b = 0; b < n / 32; ++b, src += 18, dst += 32) {
        const float d = detail::load_half(src);
        for (std::size_t j = 0; j < 16; ++j) {
          const auto byte = std::to_integer<int>(src[2 + j]);
          dst[j] = static_cast<float>((byte & 0x0f) - 8) * d;
          dst[j + 16] = static_cast<float>((byte >> 4) - 8) * d;
        }
      }
      return;
    case ggml_type::q4_1:
      for (std::size_t b = 0; b < n / 32; ++b, src += 20, dst += 32) {
        const float d = detail::load_half(src);
        const float m = detail::load_half(src + 2);
        for (std::size_t j = 0; j < 16; ++j) {
          const auto byte = std::to_integer<int>(src[4 + j]);
          dst[j] = static_cast<float>(byte & 0x0f) * d + m;
          dst[j + 16] = static_cast<float>(byte >> 4) * d + m;
        }
      }
      return;
    default:
      return;
  }
}

}  // namespace pollard::io
