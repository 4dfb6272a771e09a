// pollard — the calibration_source concept: where calibration sequences come from.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>

#include "pollard/calibration/calibration_batch.hpp"
#include "pollard/core/config.hpp"

namespace pollard {

/// A source S of calibration sequences.
///
/// Requires, for `const S s`, `index_t n, length` and `std::uint64_t seed`:
///   `s.draw(n, length, seed)` -> `pollard::calibration_batch`;
///   `s.describe()`            -> `std::string` (one line naming the data and the protocol).
///
/// Semantic contract (the compiler cannot check it):
/// - draw returns exactly n sequences of exactly `length` tokens (n_sequences == n);
/// - it is a pure function of (n, length, seed) and the source's own data: the same arguments
///   give the same tokens on every run, platform and thread count (no std::random_device,
///   no implementation-defined distributions);
/// - when the data cannot give n sequences of `length` tokens, draw throws option_error naming
///   how many tokens (or documents) it has and what was asked; it never pads silently;
/// - n >= 1 and length >= 2 are required (option_error otherwise).
template <class S>
concept calibration_source = requires(const S& s, index_t n, index_t length, std::uint64_t seed) {
  { s.draw(n, length, seed) } -> std::same_as<calibration_batch>;
  { s.describe() } -> std::convertible_to<std::string>;
};

namespace detail {

inline void check_draw_request(const std::string& who, index_t n, index_t length) {
  if (n < 1)
    throw option_error(who + ": the number of samples must be >= 1, got " + std::to_string(n));
  if (length < 2)
    throw option_error(who + ": the sample length must be >= 2 tokens, got " +
                       std::to_string(length));
}

}  // namespace detail

}  // namespace pollard
