// Test support: seeded random byte strings for tokenizer round trips, well-formed UTF-8 or not.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace pollard::test {

/// `count` byte strings of 0 to `max_length` bytes from a fixed seed. Each byte is, with equal
/// chance, any byte; a space or an ASCII letter; or the start of a UTF-8-shaped sequence: a
/// lead byte (overlong C0/C1/E0, surrogate ED, F4, beyond-range F5-FF, or ordinary) followed by
/// 0 to 3 continuation bytes, so truncated, overlong and over-long sequences all occur.
inline std::vector<std::string> random_byte_strings(std::size_t count, std::size_t max_length,
                                                    std::uint64_t seed) {
  static constexpr unsigned char leads[] = {0xC0, 0xC1, 0xC2, 0xC3, 0xDF, 0xE0, 0xE2, 0xED,
                                            0xEF, 0xF0, 0xF4, 0xF5, 0xF7, 0xF8, 0xFE, 0xFF};
  std::mt19937_64 rng(seed);
  std::vector<std::string> out;
  out.reserve(count);
  for (std::size_t s = 0; s < count; ++s) {
    const std::size_t length = rng() % (max_length + 1);
    std::string text;
    while (text.size() < length) {
      switch (rng() % 3) {
        case 0:
          text += static_cast<char>(rng() % 256);
          break;
        case 1: {
          static constexpr char plain[] = " abcdefghijklmnopqrstuvwxyzTHE";
          text += plain[rng() % (sizeof plain - 1)];
          break;
        }
        default: {
          text += static_cast<char>(leads[rng() % sizeof leads]);
          for (auto n = rng() % 4; n > 0; --n) text += static_cast<char>(0x80 + rng() % 64);
        }
      }
    }
    text.resize(length);
    out.push_back(std::move(text));
  }
  return out;
}

}  // namespace pollard::test
