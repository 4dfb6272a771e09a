// pollard — internals of the mask policies: finiteness checks and selection of the k lowest
// scores of a block in (score, row-major position) order, as a stable ascending sort ranks them.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/mask.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard::detail {

/// The type scores of element type T are compared in (float for 16-bit storage types).
template <class T>
using score_compute_t = compute_type_for<std::remove_cv_t<T>>;

template <class T>
inline score_compute_t<T> score_value(T value) noexcept {
  return to_compute<score_compute_t<T>>(value);
}

/// Formats a number the way a user typed it ("0.5", "-0.1", "nan") for error messages.
inline std::string format_number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

[[noreturn]] inline void throw_non_finite_score(const char* who, index_t i, index_t j,
                                                double value) {
  throw non_finite_error(std::string(who) + ": score at (" + std::to_string(i) + ", " +
                         std::to_string(j) + ") is " + format_number(value));
}

/// Throws non_finite_error naming the first NaN or infinite entry of `scores`, if any; the
/// position named is offset by (r0, c0), the place of `scores` in the caller's matrix.
template <class T>
void check_finite_scores(const char* who, matrix_view<const T, host_space> scores, index_t r0 = 0,
                         index_t c0 = 0) {
  for (index_t i = 0; i < scores.rows(); ++i)
    for (index_t j = 0; j < scores.cols(); ++j) {
      const double v = static_cast<double>(score_value(scores(i, j)));
      if (!std::isfinite(v)) throw_non_finite_score(who, r0 + i, c0 + j, v);
    }
}

/// Unsigned keys whose integer order is the numeric order of finite values, with -0 == +0.
inline std::uint32_t ordered_key(float value) noexcept {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value + 0.0f);  // -0 becomes +0
  const std::uint32_t flip =
      static_cast<std::uint32_t>(static_cast<std::int32_t>(bits) >> 31) | 0x80000000u;
  return bits ^ flip;
}
inline std::uint64_t ordered_key(double value) noexcept {
  const std::uint64_t bits = std::bit_cast<std::uint64_t>(value + 0.0);
  const std::uint64_t flip =
      static_cast<std::uint64_t>(static_cast<std::int64_t>(bits) >> 63) | 0x8000000000000000u;
  return bits ^ flip;
}
inline bool is_non_finite_bits(std::uint32_t bits) noexcept {
  return (bits & 0x7f800000u) == 0x7f800000u;
}
inline bool is_non_finite_bits(std::uint64_t bits) noexcept {
  return (bits & 0x7ff0000000000000u) == 0x7ff0000000000000u;
}

/// Reusable buffers for repeated selections (one per row, per block, ...).
template <class Key>
struct lowest_selection_scratch {
  struct candidate {
    Key key;
    index_t position;
  };
  std::vector<std::uint32_t> histogram;
  std::vector<candidate> candidates;
};

/// Prunes, in `out`, the k lowest entries of the block `scores` (placed at rows [r0, ..) and
/// columns [c0, ..) of `out`), ranked by (score, row-major position in the block); throws
/// non_finite_error (naming the entry) for a NaN or infinite score.
///
/// Radix selection: one pass builds a histogram of the keys' top bits, a second pass prunes
/// every entry below the bucket holding the k-th key and collects that bucket's entries, which
/// are then resolved on finer digits. Two reads of the scores, no sort.
template <class T>
using score_key_t = decltype(ordered_key(score_compute_t<T>{}));

template <class T, class Key>
void prune_lowest_in_block(const char* who, matrix_view<const T, host_space> scores, index_t k,
                           mask& out, index_t r0, index_t c0,
                           lowest_selection_scratch<Key>& scratch) {
  using candidate = typename lowest_selection_scratch<Key>::candidate;
  constexpr int key_bits = std::numeric_limits<Key>::digits;
  const index_t rows = scores.rows();
  const index_t cols = scores.cols();
  const index_t n = rows * cols;
  const T* base = scores.data();
  const index_t rs = scores.row_stride();
  const index_t cs = scores.col_stride();

  // About 8 entries per bucket, between 2^8 and 2^16 buckets.
  const int digit_bits =
      std::clamp(static_cast<int>(std::bit_width(static_cast<std::uint64_t>(n))) - 3, 8, 16);
  const int shift = key_bits - digit_bits;
  auto& histogram = scratch.histogram;
  histogram.assign(std::size_t{1} << digit_bits, 0u);

  // The histogram counts in 32 bits; the finiteness flag is or-ed so the loop has no branch.
  Key bad = 0;
  constexpr Key exponent_mask =
      std::is_same_v<Key, std::uint32_t> ? Key(0x7f800000u) : Key(0x7ff0000000000000u);
  for (index_t i = 0; i < rows; ++i) {
    const T* row = base + i * rs;
    for (index_t j = 0; j < cols; ++j) {
      const auto value = score_value(row[j * cs]);
      const Key raw = std::bit_cast<Key>(value);
      bad |= static_cast<Key>(((raw & exponent_mask) == exponent_mask) ? 1 : 0);
      ++histogram[static_cast<std::size_t>(ordered_key(value) >> shift)];
    }
  }
  if (bad != 0) check_finite_scores(who, scores, r0, c0);
  if (k <= 0) return;
  if (k >= n) {
    for (index_t i = 0; i < rows; ++i)
      for (index_t j = 0; j < cols; ++j) out.prune(r0 + i, c0 + j);
    return;
  }

  // The bucket holding the k-th lowest key, and how many of its entries are pruned.
  std::size_t bucket = 0;
  index_t below = 0;
  while (below + static_cast<index_t>(histogram[bucket]) < k) {
    below += static_cast<index_t>(histogram[bucket]);
    ++bucket;
  }
  index_t take = k - below;
  const Key top = static_cast<Key>(bucket);

  auto& cands = scratch.candidates;
  cands.clear();
  for (index_t i = 0; i < rows; ++i) {
    const T* row = base + i * rs;
    for (index_t j = 0; j < cols; ++j) {
      const Key key = ordered_key(score_value(row[j * cs]));
      const Key digit = key >> shift;
      out.set_pruned(r0 + i, c0 + j, digit < top);
      if (digit == top) cands.push_back(candidate{key, i * cols + j});
    }
  }

  // Refine on the following 8-bit digits while the candidates are many; the filter keeps
  // position order, so equal keys stay ordered by position.
  int low_bit = shift;
  std::uint32_t fine[256];
  auto prune_position = [&](index_t p) { out.prune(r0 + p / cols, c0 + p % cols); };
  while (static_cast<index_t>(cands.size()) > 64 && low_bit > 0 && take > 0 &&
         take < static_cast<index_t>(cands.size())) {
    const int width = std::min(8, low_bit);
    low_bit -= width;
    const Key digit_mask = static_cast<Key>((Key{1} << width) - 1);
    std::fill(std::begin(fine), std::end(fine), 0u);
    for (const auto& c : cands) ++fine[static_cast<std::size_t>((c.key >> low_bit) & digit_mask)];
    std::size_t b = 0;
    index_t under = 0;
    while (under + static_cast<index_t>(fine[b]) < take) {
      under += static_cast<index_t>(fine[b]);
      ++b;
    }
    take -= under;
    std::size_t kept = 0;
    for (const auto& c : cands) {
      const auto d = static_cast<std::size_t>((c.key >> low_bit) & digit_mask);
      if (d < b)
        prune_position(c.position);
      else if (d == b)
        cands[kept++] = c;
    }
    cands.resize(kept);
  }
  if (take <= 0) return;
  const auto order = [](const candidate& a, const candidate& b) {
    return a.key < b.key || (a.key == b.key && a.position < b.position);
  };
  if (take < static_cast<index_t>(cands.size()))
    std::nth_element(cands.begin(), cands.begin() + (take - 1), cands.end(), order);
  for (index_t c = 0; c < take; ++c) prune_position(cands[static_cast<std::size_t>(c)].position);
}

}  // namespace pollard::detail
