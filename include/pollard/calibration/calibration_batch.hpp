// pollard — calibration token sequences of one length, stacked sequence after sequence.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/token_id.hpp"

namespace pollard {

/// `n_sequences` sequences of `length` tokens each: token t of sequence s is
/// tokens[s * length + t]. `counted` is empty when every position's activations enter the
/// calibration statistics; otherwise it holds one flag per token (1 = counted), e.g. only the
/// response tokens of instruction data. `origin[s]` names the source sequence s came from.
struct calibration_batch {
  index_t n_sequences = 0;
  index_t length = 0;
  std::vector<token_id> tokens;
  std::vector<std::uint8_t> counted;
  std::vector<std::string> origin;

  /// An empty batch of n sequences of `length` tokens from `origin_name`, tokens reserved.
  static calibration_batch reserved(index_t n, index_t length, const std::string& origin_name) {
    calibration_batch out;
    out.n_sequences = n;
    out.length = length;
    out.tokens.reserve(static_cast<std::size_t>(n * length));
    out.origin.assign(static_cast<std::size_t>(n), origin_name);
    return out;
  }

  index_t token_count() const noexcept { return n_sequences * length; }

  /// Number of positions whose activations are counted.
  index_t counted_tokens() const noexcept {
    if (counted.empty()) return token_count();
    index_t n = 0;
    for (const auto c : counted) n += c != 0;
    return n;
  }

  /// Throws shape_error unless the sizes agree with n_sequences x length.
  void validate(const char* who = "calibration_batch") const {
    const auto expected = static_cast<std::size_t>(token_count());
    if (n_sequences < 0 || length < 0 || tokens.size() != expected ||
        (!counted.empty() && counted.size() != expected) ||
        (!origin.empty() && origin.size() != static_cast<std::size_t>(n_sequences)))
      throw shape_error(std::string(who) + ": " + std::to_string(n_sequences) + " sequences of " +
                        std::to_string(length) + " tokens need " + std::to_string(expected) +
                        " tokens, got " + std::to_string(tokens.size()) + " tokens, " +
                        std::to_string(counted.size()) + " counted flags and " +
                        std::to_string(origin.size()) + " origins");
  }

  /// Appends the sequences of `other`, which must have the same length (or this be empty).
  void append(const calibration_batch& other) {
    other.validate();
    if (other.n_sequences == 0) return;
    if (n_sequences == 0) length = other.length;
    if (other.length != length)
      throw shape_error("calibration_batch: cannot append sequences of " +
                        std::to_string(other.length) + " tokens to sequences of " +
                        std::to_string(length));
    if (!counted.empty() || !other.counted.empty()) {
      counted.resize(tokens.size(), 1);
      if (other.counted.empty())
        counted.insert(counted.end(), other.tokens.size(), 1);
      else
        counted.insert(counted.end(), other.counted.begin(), other.counted.end());
    }
    origin.resize(static_cast<std::size_t>(n_sequences));
    if (other.origin.empty())
      origin.insert(origin.end(), static_cast<std::size_t>(other.n_sequences), std::string{});
    else
      origin.insert(origin.end(), other.origin.begin(), other.origin.end());
    tokens.insert(tokens.end(), other.tokens.begin(), other.tokens.end());
    n_sequences += other.n_sequences;
  }
};

}  // namespace pollard
