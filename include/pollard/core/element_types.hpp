// pollard — 16-bit storage types (IEEE binary16 and bfloat16); arithmetic is done in float.
#pragma once

#include <bit>
#include <cstdint>
#include <type_traits>

#include "pollard/core/config.hpp"

namespace pollard {

namespace detail {

// Round-to-nearest-even float -> binary16, with overflow to inf, subnormals and NaN kept.
POLLARD_HOST_DEVICE constexpr std::uint16_t float_to_half_bits(float value) noexcept {
  const std::uint32_t f = std::bit_cast<std::uint32_t>(value);
  const std::uint32_t sign = (f >> 16) & 0x8000u;
  const std::uint32_t abs = f & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // inf or NaN
    return static_cast<std::uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
  }
  if (abs >= 0x477ff000u) {  // rounds to >= 65520: overflow
    return static_cast<std::uint16_t>(sign | 0x7c00u);
  }
  if (abs < 0x38800000u) {  // below the smallest normal half: subnormal or zero
    if (abs < 0x33000000u) return static_cast<std::uint16_t>(sign);  // < 2^-25 rounds to 0
    const std::uint32_t exponent = abs >> 23;
    const std::uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
    const std::uint32_t shift = 126u - exponent;  // 14..24 (+ 10 bit mantissa alignment)
    const std::uint32_t half_mantissa = mantissa >> shift;
    const std::uint32_t remainder = mantissa & ((1u << shift) - 1u);
    const std::uint32_t halfway = 1u << (shift - 1u);
    std::uint32_t result = half_mantissa;
    if (remainder > halfway || (remainder == halfway && (half_mantissa & 1u))) ++result;
    return static_cast<std::uint16_t>(sign | result);
  }
  std::uint32_t result = ((abs >> 13) - (112u << 10));
  const std::uint32_t remainder = abs & 0x1fffu;
  if (remainder > 0x1000u || (remainder == 0x1000u && (result & 1u))) ++result;
  return static_cast<std::uint16_t>(sign | result);
}

POLLARD_HOST_DEVICE constexpr float half_bits_to_float(std::uint16_t h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1fu;
  std::uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1fu) {
    return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  }
  if (exponent == 0) {
    if (mantissa == 0) return std::bit_cast<float>(sign);
    int e = -1;
    do {
      ++e;
      mantissa <<= 1;
    } while ((mantissa & 0x400u) == 0);
    mantissa &= 0x3ffu;
    return std::bit_cast<float>(sign | (static_cast<std::uint32_t>(112 - e) << 23) |
                                (mantissa << 13));
  }
  return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

POLLARD_HOST_DEVICE constexpr std::uint16_t float_to_bfloat16_bits(float value) noexcept {
  const std::uint32_t f = std::bit_cast<std::uint32_t>(value);
  if ((f & 0x7fffffffu) > 0x7f800000u) {  // NaN: keep it a (quiet) NaN
    return static_cast<std::uint16_t>((f >> 16) | 0x40u);
  }
  const std::uint32_t rounding = 0x7fffu + ((f >> 16) & 1u);
  return static_cast<std::uint16_t>((f + rounding) >> 16);
}

POLLARD_HOST_DEVICE constexpr float bfloat16_bits_to_float(std::uint16_t b) noexcept {
  return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

}  // namespace detail

/// IEEE 754 binary16 storage. Converts to and from float (round to nearest even).
struct half {
  std::uint16_t bits = 0;

  constexpr half() = default;
  POLLARD_HOST_DEVICE constexpr explicit half(float value) noexcept
      : bits(detail::float_to_half_bits(value)) {}
  POLLARD_HOST_DEVICE constexpr explicit operator float() const noexcept {
    return detail::half_bits_to_float(bits);
  }
  POLLARD_HOST_DEVICE static constexpr half from_bits(std::uint16_t b) noexcept {
    half h;
    h.bits = b;
    return h;
  }
};

/// bfloat16 storage (the upper half of a float). Converts to and from float (round to nearest
/// even).
struct bfloat16 {
  std::uint16_t bits = 0;

  constexpr bfloat16() = default;
  POLLARD_HOST_DEVICE constexpr explicit bfloat16(float value) noexcept
      : bits(detail::float_to_bfloat16_bits(value)) {}
  POLLARD_HOST_DEVICE constexpr explicit operator float() const noexcept {
    return detail::bfloat16_bits_to_float(bits);
  }
  POLLARD_HOST_DEVICE static constexpr bfloat16 from_bits(std::uint16_t b) noexcept {
    bfloat16 h;
    h.bits = b;
    return h;
  }
};

/// Types algorithms compute in.
template <class T>
concept compute_type = std::is_same_v<T, float> || std::is_same_v<T, double>;

/// Types weights may be stored in (computed on in float).
template <class T>
concept storage_type = compute_type<T> || std::is_same_v<T, half> || std::is_same_v<T, bfloat16>;

/// The compute type used for a storage type: itself for float/double, float for 16-bit types.
template <class T>
using compute_type_for = std::conditional_t<compute_type<T>, T, float>;

/// Converts any storage value to a compute type.
template <compute_type To, class From>
POLLARD_HOST_DEVICE constexpr To to_compute(From value) noexcept {
  if constexpr (compute_type<From>) {
    return static_cast<To>(value);
  } else {
    return static_cast<To>(static_cast<float>(value));
  }
}

/// Converts a compute value to any storage type.
template <class To, compute_type From>
POLLARD_HOST_DEVICE constexpr To from_compute(From value) noexcept {
  if constexpr (compute_type<To>) {
    return static_cast<To>(value);
  } else {
    return To(static_cast<float>(value));
  }
}

}  // namespace pollard
