// pollard — stores float values as a ggml tensor type (F32, F16, BF16, Q8_0, Q4_0, Q4_1), bit for
// bit as the `gguf` python package (gguf.quants.quantize) and ggml's quantize_row_*_ref do.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/io/byte_reader.hpp"
#include "pollard/io/gguf/quant.hpp"

namespace pollard::io {

/// The types quantize() stores: F32, F16, BF16, Q8_0, Q4_0, Q4_1.
constexpr bool ggml_type_is_writable(ggml_type type) noexcept {
  return ggml_type_is_readable(type);
}

/// Bytes that `elements` elements (a whole number of blocks) take when stored as `type`;
/// shape_error naming the type otherwise.
inline std::size_t ggml_type_bytes(ggml_type type, std::size_t elements) {
  const auto traits = find_ggml_type(static_cast<std::uint32_t>(type));
  if (!traits) throw option_error("ggml_type_bytes: unknown ggml type " + ggml_type_name(type));
  if (elements % traits->block_elements != 0)
    throw shape_error(std::to_string(elements) + " elements are not a whole number of " +
                      std::string(traits->name) + " blocks of " +
                      std::to_string(traits->block_elements));
  return checked_multiply(elements / traits->block_elements, traits->block_bytes,
                          "ggml_type_bytes");
}

namespace detail {

// x·y rounded to float by itself, so that the addition that follows it is not contracted into an
// FMA: gguf-py computes in numpy float32 with one rounding per operation, and so does
// quantize_row_*_ref built without FMA contraction.
inline float separately_rounded_product(float x, float y) noexcept {
  volatile float p = x * y;
  return p;
}

inline std::string element_position(std::size_t index, std::size_t row_length) {
  return "element " + std::to_string(index) + " (row " + std::to_string(index / row_length) +
         ", column " + std::to_string(index % row_length) + ")";
}

inline std::string float_text(float value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", static_cast<double>(value));
  return text;
}

// A block's f16 scale (or Q4_1 minimum); non_finite_error when it overflows binary16.
inline std::uint16_t block_half(float value, std::string_view what, std::string_view tensor_name,
                                ggml_type type, std::size_t block, std::size_t row_length) {
  const std::uint16_t bits = pollard::detail::float_to_half_bits(value);
  if ((bits & 0x7c00u) == 0x7c00u)
    throw non_finite_error("tensor " + std::string(tensor_name) + ": the " + std::string(what) +
                           " " + float_text(value) + " of the " + ggml_type_name(type) +
                           " block starting at " + element_position(block * 32, row_length) +
                           " overflows F16 (largest 65504)");
  return bits;
}

inline void store_u16(std::byte* p, std::uint16_t v) noexcept { std::memcpy(p, &v, sizeof v); }

inline std::byte nibbles(int low, int high) noexcept {
  return static_cast<std::byte>(static_cast<unsigned>(low) | (static_cast<unsigned>(high) << 4));
}

// The bytes `count` values in rows of `row_length` take as `type`, after checking that they can.
inline std::size_t quantized_bytes(ggml_type type, std::size_t count, std::size_t row_length,
                                   const std::string& name) {
  if (!ggml_type_is_writable(type))
    throw option_error("tensor " + name + ": pollard does not write " + ggml_type_name(type));
  const auto traits = *find_ggml_type(static_cast<std::uint32_t>(type));
  if (row_length == 0 ? count != 0 : count % row_length != 0)
    throw shape_error("tensor " + name + ": " + std::to_string(count) +
                      " values are not whole rows of " + std::to_string(row_length));
  if (row_length % traits.block_elements != 0)
    throw shape_error("tensor " + name + ": rows of " + std::to_string(row_length) +
                      " elements are not a whole number of " + std::string(traits.name) +
                      " blocks of " + std::to_string(traits.block_elements));
  return ggml_type_bytes(type, count);
}

}  // namespace detail

/// Stores `values` (rows of `row_length` elements, ne[0] fastest) as `type` into `out`
/// (ggml_type_bytes(type, values.size()) bytes), bit for bit as gguf.quants.quantize:
/// - F16: numpy's float32 -> float16 (round to nearest even); BF16: ggml_compute_fp32_to_bf16.
/// - Q8_0 (blocks of 32): d = max|x| / 127, id = 1/d (0 when d = 0), q = roundf(x·id) (half away
///   from zero); stored f16(d), then the 32 q as int8.
/// - Q4_0: m = the first element of largest |x| (signed), d = m / −8, q = min(15, trunc(x·id +
///   8.5)); stored f16(d), then byte j = q[j] | q[j+16] << 4.
/// - Q4_1: d = (max − min) / 15, q = min(15, trunc((x − min)·id + 0.5)); stored f16(d), f16(min),
///   then the nibbles as Q4_0. Dequantised, an exact zero comes back as q·d + min, so a pruned
///   weight in a block whose minimum is not zero usually does not stay zero.
/// Every product is rounded before the addition that follows it (no FMA), as in numpy.
/// Throws, naming `tensor_name` and the position, non_finite_error for a NaN or infinity, for an
/// F16/BF16 value that overflows, and for a block whose f16 scale or minimum overflows (gguf-py
/// would store an infinity there); shape_error when `row_length` does not divide the values or is
/// not a whole number of blocks, or when `out` has the wrong size; option_error for a type
/// pollard does not write. When a Q4_1 block's minimum or maximum is a zero held both as −0.0 and
/// +0.0, the last one counts, as in numpy's reduction (ggml's C loop keeps the first); only the
/// sign of a zero scale or minimum depends on it, never a dequantised value.
inline void quantize(ggml_type type, std::span<const float> values, std::size_t row_length,
                     std::span<std::byte> out, std::string_view tensor_name) {
  const std::string name(tensor_name);
  const std::size_t bytes = detail::quantized_bytes(type, values.size(), row_length, name);
  if (out.size() != bytes)
    throw shape_error("tensor " + name + ": " + std::to_string(values.size()) + " values take " +
                      std::to_string(bytes) + " bytes as " + ggml_type_name(type) + ", not " +
                      std::to_string(out.size()));
  for (std::size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i]))
      throw non_finite_error("tensor " + name + ": " + detail::element_position(i, row_length) +
                             " is " + detail::float_text(values[i]) +
                             "; only finite values can be stored");

  const float* x = values.data();
  std::byte* dst = out.data();
  const std::size_t n = values.size();
  switch (type) {
    case ggml_type::f32:
      if (n != 0) std::memcpy(dst, x, n * sizeof(float));
      return;
    case ggml_type::f16:
    case ggml_type::bf16:
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint16_t bits = type == ggml_type::f16
                                       ? pollard::detail::float_to_half_bits(x[i])
                                       : pollard::detail::float_to_bfloat16_bits(x[i]);
        const bool overflow =
            type == ggml_type::f16 ? (bits & 0x7c00u) == 0x7c00u : (bits & 0x7f80u) == 0x7f80u;
        if (overflow)
          throw non_finite_error("tensor " + name + ": " + detail::element_position(i, row_length) +
                                 " = " + detail::float_text(x[i]) + " overflows " +
                                 ggml_type_name(type));
        detail::store_u16(dst + 2 * i, bits);
      }
      return;
    case ggml_type::q8_0:
      for (std::size_t b = 0; b < n / 32; ++b, x += 32, dst += 34) {
        float amax = 0.0f;
        for (std::size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        detail::store_u16(dst, detail::block_half(d, "scale", name, type, b, row_length));
        for (std::size_t j = 0; j < 32; ++j) {
          const auto q = static_cast<std::int8_t>(std::round(x[j] * id));
          dst[2 + j] = static_cast<std::byte>(static_cast<std::uint8_t>(q));
        }
      }
      return;
    case ggml_type::q4_0:
      for (std::size_t b = 0; b < n / 32; ++b, x += 32, dst += 18) {
        std::size_t largest = 0;
        for (std::size_t j = 1; j < 32; ++j)
          if (std::fabs(x[j]) > std::fabs(x[largest])) largest = j;
        const float d = x[largest] / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        detail::store_u16(dst, detail::block_half(d, "scale", name, type, b, row_length));
        const auto level = [&](std::size_t j) {
          return std::min(15,
                          static_cast<int>(detail::separately_rounded_product(x[j], id) + 8.5f));
        };
        for (std::size_t j = 0; j < 16; ++j) dst[2 + j] = detail::nibbles(level(j), level(j + 16));
      }
      return;
    case ggml_type::q4_1:
      for (std::size_t b = 0; b < n / 32; ++b, x += 32, dst += 20) {
        float lo = x[0];
        float hi = x[0];
        for (std::size_t j = 1; j < 32; ++j) {
          if (x[j] <= lo) lo = x[j];
          if (x[j] >= hi) hi = x[j];
        }
        const float d = (hi - lo) / 15.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        detail::store_u16(dst, detail::block_half(d, "scale", name, type, b, row_length));
        detail::store_u16(dst + 2, detail::block_half(lo, "minimum", name, type, b, row_length));
        const auto level = [&](std::size_t j) {
          return std::min(
              15, static_cast<int>(detail::separately_rounded_product(x[j] - lo, id) + 0.5f));
        };
        for (std::size_t j = 0; j < 16; ++j) dst[4 + j] = detail::nibbles(level(j), level(j + 16));
      }
      return;
    default:
      return;
  }
}

/// quantize() into a new buffer.
inline std::vector<std::byte> quantize(ggml_type type, std::span<const float> values,
                                       std::size_t row_length, std::string_view tensor_name) {
  std::vector<std::byte> out(
      detail::quantized_bytes(type, values.size(), row_length, std::string(tensor_name)));
  quantize(type, values, row_length, out, tensor_name);
  return out;
}

/// Replaces `values` by what a file written with quantize() as `type` holds when read back
/// (quantize(), then dequantize()); throws as quantize() does.
inline void round_trip(ggml_type type, std::span<float> values, std::size_t row_length,
                       std::string_view tensor_name) {
  const auto bytes = quantize(type, std::span<const float>(values), row_length, tensor_name);
  dequantize(type, bytes, values);
}

}  // namespace pollard::io
