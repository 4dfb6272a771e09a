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
/// 1 for a NaN or infinity, else 0; integer-only, so loops that or it together stay branch-free.
inline std::uint32_t non_finite_bit(float value) noexcept {
  return (std::bit_cast<std::uint32_t>(value) & 0x7f800000u) == 0x7f800000u ? 1u : 0u;
}
inline std::uint32_t non_finite_bit(double value) noexcept {
  return (std::bit_cast<std::uint64_t>(value) & 0x7ff0000000000000u) == 0x7ff0000000000000u ? 1u
                                                                                            : 0u;
}

/// Writable row-major flags (1 = pruned) of a mask. pollard::mask exposes its flags read-only;
/// the object itself is not const, so writing through the pointer is well defined.
inline std::uint8_t* mutable_flags(mask& m) noexcept {
  return const_cast<std::uint8_t*>(m.flags().data());
}

/// Reusable buffers for repeated selections (one per row, per block, ...).
template <class Key>
struct lowest_selection_scratch {
  std::vector<std::uint32_t> histogram;
  std::vector<Key> keys;                   // the keys of one row of the block
  std::vector<std::uint32_t> row_matches;  // columns of one row that fall in the bucket
  std::vector<Key> candidate_keys;
  std::vector<index_t> candidate_positions;
};

template <class T>
using score_key_t = decltype(ordered_key(score_compute_t<T>{}));

/// Writes the ordered keys of `count` scores at `row` (stride `stride`) into `keys`; returns
/// non-zero when one of them is NaN or infinite. Branch-free, so it vectorises for stride 1.
template <class T, class Key>
Key load_keys(const T* row, index_t count, index_t stride, Key* keys) noexcept {
  constexpr Key exponent_mask =
      std::is_same_v<Key, std::uint32_t> ? Key(0x7f800000u) : Key(0x7ff0000000000000u);
  Key bad = 0;
  if (stride == 1) {
    for (index_t j = 0; j < count; ++j) {
      const auto value = score_value(row[j]);
      bad |= static_cast<Key>((std::bit_cast<Key>(value) & exponent_mask) == exponent_mask);
      keys[j] = ordered_key(value);
    }
  } else {
    for (index_t j = 0; j < count; ++j) {
      const auto value = score_value(row[j * stride]);
      bad |= static_cast<Key>((std::bit_cast<Key>(value) & exponent_mask) == exponent_mask);
      keys[j] = ordered_key(value);
    }
  }
  return bad;
}

/// Prunes, in `out`, the k lowest entries of the block `scores` (placed at rows [r0, ..) and
/// columns [c0, ..) of `out`, whose flags must be all "kept"), ranked by (score, row-major
/// position in the block); throws non_finite_error (naming the entry) for a NaN or infinite
/// score.
///
/// Radix selection: one pass histograms the keys' top bits; a second pass prunes every entry
/// below the bucket holding the k-th key and collects that bucket's entries, which are then
/// resolved on finer digits. Two reads of the scores, no sort; the per-entry loops are
/// branch-free.
template <class T, class Key>
void prune_lowest_in_block(const char* who, matrix_view<const T, host_space> scores, index_t k,
                           mask& out, index_t r0, index_t c0,
                           lowest_selection_scratch<Key>& scratch) {
  constexpr int key_bits = std::numeric_limits<Key>::digits;
  const index_t rows = scores.rows();
  const index_t cols = scores.cols();
  const index_t n = rows * cols;
  if (n == 0) return;
  const T* base = scores.data();
  const index_t rs = scores.row_stride();
  const index_t cs = scores.col_stride();
  std::uint8_t* const flags = mutable_flags(out);
  const index_t flag_stride = out.cols();

  // About 4 entries per bucket, between 2^8 and 2^16 buckets. Counts are 32-bit; groups of 2^32
  // entries or more fold them into 64-bit totals after every row.
  const int digit_bits =
      std::clamp(static_cast<int>(std::bit_width(static_cast<std::uint64_t>(n))) - 2, 8, 16);
  const int shift = key_bits - digit_bits;
  const std::size_t buckets = std::size_t{1} << digit_bits;
  // Two interleaved histograms (even and odd columns) so that runs of equal buckets do not
  // serialise on one counter.
  auto& histogram = scratch.histogram;
  histogram.assign(2 * buckets, 0u);
  std::uint32_t* const even = histogram.data();
  std::uint32_t* const odd = histogram.data() + buckets;
  auto& keys = scratch.keys;
  if (keys.size() < static_cast<std::size_t>(cols)) keys.resize(static_cast<std::size_t>(cols));
  Key* const row_keys = keys.data();
  std::vector<index_t> wide_counts;  // only for groups of 2^32 entries or more
  if (n > index_t{0xffffffff}) wide_counts.assign(buckets, 0);

  Key bad = 0;
  for (index_t i = 0; i < rows; ++i) {
    bad |= load_keys(base + i * rs, cols, cs, row_keys);
    index_t j = 0;
    for (; j + 1 < cols; j += 2) {
      ++even[static_cast<std::size_t>(row_keys[j] >> shift)];
      ++odd[static_cast<std::size_t>(row_keys[j + 1] >> shift)];
    }
    if (j < cols) ++even[static_cast<std::size_t>(row_keys[j] >> shift)];
    if (!wide_counts.empty()) {
      for (std::size_t b = 0; b < buckets; ++b) {
        wide_counts[b] += static_cast<index_t>(even[b]) + static_cast<index_t>(odd[b]);
        even[b] = odd[b] = 0;
      }
    }
  }
  auto count_of = [&](std::size_t b) {
    return wide_counts.empty() ? static_cast<index_t>(even[b]) + static_cast<index_t>(odd[b])
                               : wide_counts[b];
  };
  if (bad != 0) check_finite_scores(who, scores, r0, c0);
  if (k <= 0) return;
  if (k >= n) {
    for (index_t i = 0; i < rows; ++i)
      std::fill_n(flags + (r0 + i) * flag_stride + c0, cols, std::uint8_t{1});
    return;
  }

  // The bucket holding the k-th lowest key, and how many of its entries are pruned.
  std::size_t bucket = 0;
  index_t below = 0;
  while (below + count_of(bucket) < k) {
    below += count_of(bucket);
    ++bucket;
  }
  index_t take = k - below;
  const Key top = static_cast<Key>(bucket);
  const Key bucket_start = static_cast<Key>(top << shift);

  // Entries below the bucket are pruned; the bucket's entries become candidates, in position
  // order. Candidates are appended branch-free: always written, counted only when they match.
  auto& cand_keys = scratch.candidate_keys;
  auto& cand_pos = scratch.candidate_positions;
  const auto bucket_size = static_cast<std::size_t>(count_of(bucket));
  if (cand_keys.size() < bucket_size) {
    cand_keys.resize(bucket_size);
    cand_pos.resize(bucket_size);
  }
  auto& matches = scratch.row_matches;
  if (matches.size() < static_cast<std::size_t>(cols) + 1)
    matches.resize(static_cast<std::size_t>(cols) + 1);
  std::uint32_t* const match = matches.data();
  index_t found = 0;
  for (index_t i = 0; i < rows; ++i) {
    if (rows > 1) load_keys(base + i * rs, cols, cs, row_keys);
    std::uint8_t* const row_flags = flags + (r0 + i) * flag_stride + c0;
    for (index_t j = 0; j < cols; ++j) row_flags[j] = row_keys[j] < bucket_start ? 1 : 0;
    std::size_t in_row = 0;
    for (index_t j = 0; j < cols; ++j) {
      match[in_row] = static_cast<std::uint32_t>(j);
      in_row += (row_keys[j] >> shift) == top ? 1 : 0;
    }
    for (std::size_t t = 0; t < in_row; ++t, ++found) {
      cand_keys[static_cast<std::size_t>(found)] = row_keys[match[t]];
      cand_pos[static_cast<std::size_t>(found)] = i * cols + static_cast<index_t>(match[t]);
    }
  }

  // Refine on the following 8-bit digits while the candidates are many; the filter keeps
  // position order, so equal keys stay ordered by position.
  auto prune_position = [&](index_t p) {
    flags[(r0 + p / cols) * flag_stride + c0 + p % cols] = 1;
  };
  int low_bit = shift;
  std::uint32_t fine[256];
  while (found > 64 && low_bit > 0 && take > 0 && take < found) {
    const int width = std::min(8, low_bit);
    low_bit -= width;
    const Key digit_mask = static_cast<Key>((Key{1} << width) - 1);
    std::fill(std::begin(fine), std::end(fine), 0u);
    for (index_t c = 0; c < found; ++c)
      ++fine[static_cast<std::size_t>((cand_keys[static_cast<std::size_t>(c)] >> low_bit) &
                                      digit_mask)];
    std::size_t b = 0;
    index_t under = 0;
    while (under + static_cast<index_t>(fine[b]) < take) {
      under += static_cast<index_t>(fine[b]);
      ++b;
    }
    take -= under;
    index_t kept = 0;
    for (index_t c = 0; c < found; ++c) {
      const auto u = static_cast<std::size_t>(c);
      const auto d = static_cast<std::size_t>((cand_keys[u] >> low_bit) & digit_mask);
      if (d < b) {
        prune_position(cand_pos[u]);
      } else if (d == b) {
        cand_keys[static_cast<std::size_t>(kept)] = cand_keys[u];
        cand_pos[static_cast<std::size_t>(kept)] = cand_pos[u];
        ++kept;
      }
    }
    found = kept;
  }
  if (take <= 0) return;
  if (take < found) {
    // Few candidates left: order them by (key, position) and take the first `take`.
    std::vector<index_t> order(static_cast<std::size_t>(found));
    for (index_t c = 0; c < found; ++c) order[static_cast<std::size_t>(c)] = c;
    std::nth_element(order.begin(), order.begin() + (take - 1), order.end(),
                     [&](index_t a, index_t b) {
                       const Key ka = cand_keys[static_cast<std::size_t>(a)];
                       const Key kb = cand_keys[static_cast<std::size_t>(b)];
                       return ka < kb || (ka == kb && a < b);
                     });
    for (index_t c = 0; c < take; ++c)
      prune_position(cand_pos[static_cast<std::size_t>(order[static_cast<std::size_t>(c)])]);
  } else {
    for (index_t c = 0; c < take; ++c) prune_position(cand_pos[static_cast<std::size_t>(c)]);
  }
}

}  // namespace pollard::detail
