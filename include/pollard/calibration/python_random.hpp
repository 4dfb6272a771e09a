// pollard — the random draws of CPython's `random` module (MT19937 seeded by init_by_array),
// so calibration windows can be chosen exactly as the reference scripts choose them.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "pollard/core/error.hpp"

namespace pollard {

/// Reproduces `random.seed(n)` followed by `random.randint(a, b)` calls of CPython 3 for a
/// non-negative integer seed below 2^64 and ranges of at most 2^63 values. The SparseGPT and
/// Wanda scripts draw their calibration windows this way (datautils.py: `random.seed(seed)`,
/// then `random.randint(0, len - 1)` per document and per window start).
class python_random {
 public:
  explicit python_random(std::uint64_t seed) {
    // random.seed(int): the absolute value's 32-bit words, least significant first; 0 -> [0].
    std::array<std::uint32_t, 2> key{static_cast<std::uint32_t>(seed),
                                     static_cast<std::uint32_t>(seed >> 32)};
    init_by_array(key.data(), (seed >> 32) != 0 ? 2 : 1);
  }

  /// The next 32-bit output of MT19937 (CPython's genrand_uint32).
  std::uint32_t next_uint32() noexcept {
    if (index_ >= state_size) twist();
    std::uint32_t y = state_[index_++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
  }

  /// random.getrandbits(k) for 0 <= k <= 64: 32-bit words, least significant first, the last
  /// one shifted down to the bits that remain (CPython's _random_Random_getrandbits_impl).
  std::uint64_t getrandbits(int k) {
    if (k < 0 || k > 64)
      throw option_error("python_random: getrandbits supports 0..64 bits, got " +
                         std::to_string(k));
    std::uint64_t out = 0;
    for (int shift = 0; k > 0; shift += 32, k -= 32) {
      std::uint64_t word = next_uint32();
      if (k < 32) word >>= 32 - k;
      out |= word << shift;
    }
    return out;
  }

  /// random.randrange(n) for 1 <= n <= 2^63: rejection sampling on bit_length(n) bits.
  std::uint64_t below(std::uint64_t n) {
    if (n == 0 || n > (std::uint64_t{1} << 63))
      throw option_error("python_random: a range of " + std::to_string(n) +
                         " values is outside 1..2^63");
    int k = 0;
    while (k < 64 && (n >> k) != 0) ++k;
    std::uint64_t r = getrandbits(k);
    while (r >= n) r = getrandbits(k);
    return r;
  }

  /// random.randint(a, b): uniform on [a, b]; throws option_error when b < a (CPython raises
  /// ValueError: "empty range").
  std::int64_t randint(std::int64_t a, std::int64_t b) {
    if (b < a)
      throw option_error("python_random: randint(" + std::to_string(a) + ", " + std::to_string(b) +
                         ") is an empty range");
    return a + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(b - a) + 1));
  }

 private:
  static constexpr int state_size = 624;
  static constexpr int shift_size = 397;

  void init_genrand(std::uint32_t s) noexcept {
    state_[0] = s;
    for (int i = 1; i < state_size; ++i)
      state_[i] =
          1812433253u * (state_[i - 1] ^ (state_[i - 1] >> 30)) + static_cast<std::uint32_t>(i);
    index_ = state_size;
  }

  void init_by_array(const std::uint32_t* key, int length) noexcept {
    init_genrand(19650218u);
    int i = 1, j = 0;
    for (int k = (state_size > length ? state_size : length); k > 0; --k) {
      state_[i] = (state_[i] ^ ((state_[i - 1] ^ (state_[i - 1] >> 30)) * 1664525u)) + key[j] +
                  static_cast<std::uint32_t>(j);
      ++i;
      ++j;
      if (i >= state_size) {
        state_[0] = state_[state_size - 1];
        i = 1;
      }
      if (j >= length) j = 0;
    }
    for (int k = state_size - 1; k > 0; --k) {
      state_[i] = (state_[i] ^ ((state_[i - 1] ^ (state_[i - 1] >> 30)) * 1566083941u)) -
                  static_cast<std::uint32_t>(i);
      ++i;
      if (i >= state_size) {
        state_[0] = state_[state_size - 1];
        i = 1;
      }
    }
    state_[0] = 0x80000000u;
  }

  void twist() noexcept {
    constexpr std::uint32_t upper = 0x80000000u, lower = 0x7fffffffu, matrix_a = 0x9908b0dfu;
    for (int k = 0; k < state_size; ++k) {
      const std::uint32_t y = (state_[k] & upper) | (state_[(k + 1) % state_size] & lower);
      state_[k] = state_[(k + shift_size) % state_size] ^ (y >> 1) ^ ((y & 1u) ? matrix_a : 0u);
    }
    index_ = 0;
  }

  std::array<std::uint32_t, state_size> state_{};
  int index_ = state_size;
};

}  // namespace pollard
