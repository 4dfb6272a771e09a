// pollard — the CPU backend's lowest-k selection: in every comparison group of a score matrix,
// prune the k lowest in (score, row-major position) order, as a stable ascending sort ranks
// them; radix selection, no sort.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "pollard/backends/cpu/parallel_for.hpp"
#include "pollard/backends/cpu/policy.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/mask.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/masks/score_checks.hpp"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace pollard::cpu::detail {

using pollard::detail::check_rankable_scores;
using pollard::detail::score_compute_t;
using pollard::detail::score_value;

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
/// Writable row-major flags (1 = pruned) of a mask.
inline std::uint8_t* mutable_flags(mask& m) noexcept { return m.data(); }

/// Reusable buffers for repeated selections (one per row, per block, ...).
template <class Key>
struct lowest_selection_scratch {
  /// What one comparison group still has to decide after the first pass.
  struct group_state {
    index_t take = 0;       // how many of the candidates to prune
    bool all = false;       // prune the whole group
    Key top = 0;            // the bucket (top digit) holding the k-th lowest key
    Key bucket_start = 0;   // the lowest key of that bucket
    index_t found = 0;      // candidates collected so far
    std::vector<Key> keys;  // candidates' keys, in position order
    std::vector<index_t> positions;
  };
  std::vector<std::uint32_t> histogram;
  std::vector<index_t> wide_counts;        // only for groups of 2^32 entries or more
  std::vector<Key> keys;                   // the keys of one row
  std::vector<std::uint32_t> row_matches;  // columns of one row that fall in a bucket
  std::vector<group_state> groups;
  std::vector<index_t> order;
};

template <class T>
using score_key_t = decltype(ordered_key(score_compute_t<T>{}));

/// Writes the ordered keys of `count` scores at `row` (stride `stride`) into `keys`; returns
/// non-zero when one of them is NaN or -inf (+inf ranks above every finite score: "always
/// keep"). Branch-free, so it vectorises for stride 1.
template <class T, class Key>
Key load_keys(const T* row, index_t count, index_t stride, Key* keys) noexcept {
  constexpr Key exponent_mask =
      std::is_same_v<Key, std::uint32_t> ? Key(0x7f800000u) : Key(0x7ff0000000000000u);
  Key bad = 0;
  if (stride == 1) {
    for (index_t j = 0; j < count; ++j) {
      const auto value = score_value(row[j]);
      const Key bits = std::bit_cast<Key>(value);
      bad |= static_cast<Key>(((bits & exponent_mask) == exponent_mask) & (bits != exponent_mask));
      keys[j] = ordered_key(value);
    }
  } else {
    for (index_t j = 0; j < count; ++j) {
      const auto value = score_value(row[j * stride]);
      const Key bits = std::bit_cast<Key>(value);
      bad |= static_cast<Key>(((bits & exponent_mask) == exponent_mask) & (bits != exponent_mask));
      keys[j] = ordered_key(value);
    }
  }
  return bad;
}

#if defined(__AVX2__)
/// For each 8-bit lane mask, the indices of its set lanes packed to the front (one per byte).
inline constexpr std::array<std::uint64_t, 256> left_pack_lanes = [] {
  std::array<std::uint64_t, 256> table{};
  for (unsigned m = 0; m < 256; ++m) {
    std::uint64_t packed = 0;
    unsigned out = 0;
    for (unsigned lane = 0; lane < 8; ++lane)
      if ((m >> lane) & 1u) packed |= std::uint64_t{lane} << (8 * out++);
    table[m] = packed;
  }
  return table;
}();
#endif

/// Writes to `match` the columns j < count whose key has the top digit `top` (keys >> shift),
/// in order, and returns how many there are. Branch-free; `match` needs room for count + 8.
template <class Key>
std::size_t collect_bucket(const Key* keys, index_t count, int shift, Key top,
                           std::uint32_t* match) noexcept {
  std::size_t found = 0;
  index_t j = 0;
#if defined(__AVX2__)
  if constexpr (std::is_same_v<Key, std::uint32_t>) {
    // Eight keys at a time: compare, then store their columns left-packed by the lane mask.
    if (count < index_t{0x7fffffff}) {
      const __m256i wanted = _mm256_set1_epi32(static_cast<int>(top));
      const __m128i bits = _mm_cvtsi32_si128(shift);
      __m256i columns = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
      const __m256i eight = _mm256_set1_epi32(8);
      for (; j + 8 <= count; j += 8) {
        const __m256i k = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(keys + j));
        const __m256i hit = _mm256_cmpeq_epi32(_mm256_srl_epi32(k, bits), wanted);
        const auto lanes = static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(hit)));
        const __m256i order =
            _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<long long>(left_pack_lanes[lanes])));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(match + found),
                            _mm256_permutevar8x32_epi32(columns, order));
        found += static_cast<std::size_t>(std::popcount(lanes));
        columns = _mm256_add_epi32(columns, eight);
      }
    }
  }
#endif
  for (; j < count; ++j) {
    match[found] = static_cast<std::uint32_t>(j);
    found += (keys[j] >> shift) == top ? 1 : 0;
  }
  return found;
}

/// Resolves a group's candidates: prunes (through `prune_position`) the `take` lowest by (key,
/// position), refining on 8-bit digits below `low_bit` while they are many, then a partial
/// selection. Candidates are in position order, and every filter keeps that order.
template <class Key, class Prune>
void resolve_candidates(typename lowest_selection_scratch<Key>::group_state& g, int low_bit,
                        std::vector<index_t>& order, Prune prune_position) {
  index_t take = g.take;
  index_t found = g.found;
  Key* const keys = g.keys.data();
  index_t* const positions = g.positions.data();
  std::uint32_t fine[256];
  while (found > 64 && low_bit > 0 && take > 0 && take < found) {
    const int width = std::min(8, low_bit);
    low_bit -= width;
    const Key digit_mask = static_cast<Key>((Key{1} << width) - 1);
    std::fill(std::begin(fine), std::end(fine), 0u);
    for (index_t c = 0; c < found; ++c)
      ++fine[static_cast<std::size_t>((keys[c] >> low_bit) & digit_mask)];
    std::size_t b = 0;
    index_t under = 0;
    while (under + static_cast<index_t>(fine[b]) < take) {
      under += static_cast<index_t>(fine[b]);
      ++b;
    }
    take -= under;
    index_t kept = 0;
    for (index_t c = 0; c < found; ++c) {
      const auto d = static_cast<std::size_t>((keys[c] >> low_bit) & digit_mask);
      if (d < b) {
        prune_position(positions[c]);
      } else if (d == b) {
        keys[kept] = keys[c];
        positions[kept] = positions[c];
        ++kept;
      }
    }
    found = kept;
  }
  if (take <= 0) return;
  if (take < found) {
    order.resize(static_cast<std::size_t>(found));
    for (index_t c = 0; c < found; ++c) order[static_cast<std::size_t>(c)] = c;
    std::nth_element(
        order.begin(), order.begin() + (take - 1), order.end(),
        [&](index_t a, index_t b) { return keys[a] < keys[b] || (keys[a] == keys[b] && a < b); });
    for (index_t c = 0; c < take; ++c)
      prune_position(positions[order[static_cast<std::size_t>(c)]]);
  } else {
    for (index_t c = 0; c < take; ++c) prune_position(positions[c]);
  }
}

/// Prunes, in `out`, the lowest entries of every comparison group of `scores`: a group is all
/// rows of a block of `width` consecutive columns (the last one narrower), and prune_count(n)
/// says how many of its n entries go. Entries are ranked by (score, row-major position in the
/// group), as a stable ascending sort ranks them. `scores` sits at rows [r0, ..) and columns
/// [c0, ..) of `out`, whose flags there must all be "kept". Throws non_finite_error (naming
/// the entry) for a NaN or -inf score; +inf ranks above every finite score, so it is pruned
/// only when a group must prune more entries than it has finite ones (then by position).
///
/// Radix selection in two row-major sweeps over the scores, shared by all groups: the first
/// histograms the keys' top bits per group; the second prunes every entry below the bucket
/// holding the group's k-th key and collects that bucket's entries, which are then resolved
/// on finer digits. No sort; the per-entry loops are branch-free.
template <class T, class Key, class PruneCount>
void prune_lowest_in_column_blocks(const char* who, matrix_view<const T, host_space> scores,
                                   index_t width, PruneCount prune_count, mask& out, index_t r0,
                                   index_t c0, lowest_selection_scratch<Key>& scratch) {
  using group_state = typename lowest_selection_scratch<Key>::group_state;
  constexpr int key_bits = std::numeric_limits<Key>::digits;
  const index_t rows = scores.rows();
  const index_t cols = scores.cols();
  if (rows == 0 || cols == 0) return;
  const index_t group_count = (cols + width - 1) / width;
  const index_t group_size = rows * std::min(width, cols);  // the largest group
  const T* base = scores.data();
  const index_t rs = scores.row_stride();
  const index_t cs = scores.col_stride();
  std::uint8_t* const flags = mutable_flags(out);
  const index_t flag_stride = out.cols();

  // About 4 entries per bucket, 2^8 to 2^16 buckets (2^11 when many groups share the cache).
  // Two interleaved histograms per group (even and odd columns) keep runs of equal buckets
  // from serialising on one counter. Counts are 32-bit; groups of 2^32 entries or more fold
  // them into 64-bit totals after every row.
  const int digit_bits =
      std::clamp(static_cast<int>(std::bit_width(static_cast<std::uint64_t>(group_size))) - 2, 8,
                 group_count > 1 ? 11 : 16);
  const int shift = key_bits - digit_bits;
  const std::size_t buckets = std::size_t{1} << digit_bits;
  auto& histogram = scratch.histogram;
  histogram.assign(2 * buckets * static_cast<std::size_t>(group_count), 0u);
  const bool wide = group_size > index_t{0xffffffff};
  auto& wide_counts = scratch.wide_counts;
  if (wide) wide_counts.assign(buckets * static_cast<std::size_t>(group_count), 0);
  auto& keys = scratch.keys;
  if (keys.size() < static_cast<std::size_t>(cols)) keys.resize(static_cast<std::size_t>(cols));
  Key* const row_keys = keys.data();
  auto group_start = [&](index_t g) { return g * width; };
  auto group_width = [&](index_t g) { return std::min(width, cols - g * width); };

  Key bad = 0;
  for (index_t i = 0; i < rows; ++i) {
    bad |= load_keys(base + i * rs, cols, cs, row_keys);
    for (index_t g = 0; g < group_count; ++g) {
      std::uint32_t* const even = histogram.data() + 2 * buckets * static_cast<std::size_t>(g);
      std::uint32_t* const odd = even + buckets;
      const Key* const k = row_keys + group_start(g);
      const index_t w = group_width(g);
      index_t j = 0;
      for (; j + 1 < w; j += 2) {
        ++even[static_cast<std::size_t>(k[j] >> shift)];
        ++odd[static_cast<std::size_t>(k[j + 1] >> shift)];
      }
      if (j < w) ++even[static_cast<std::size_t>(k[j] >> shift)];
      if (wide) {
        index_t* const total = wide_counts.data() + buckets * static_cast<std::size_t>(g);
        for (std::size_t b = 0; b < buckets; ++b) {
          total[b] += static_cast<index_t>(even[b]) + static_cast<index_t>(odd[b]);
          even[b] = odd[b] = 0;
        }
      }
    }
  }
  if (bad != 0) check_rankable_scores(who, scores, r0, c0);

  // Per group: the bucket holding the k-th lowest key, and how many of its entries go.
  auto& groups = scratch.groups;
  if (groups.size() < static_cast<std::size_t>(group_count))
    groups.resize(static_cast<std::size_t>(group_count));
  bool any = false;
  for (index_t g = 0; g < group_count; ++g) {
    group_state& state = groups[static_cast<std::size_t>(g)];
    const index_t n = rows * group_width(g);
    const index_t k = prune_count(n);
    state.found = 0;
    state.take = 0;
    state.all = k >= n;
    any = any || k > 0;
    if (k <= 0 || state.all) continue;
    const std::uint32_t* const even = histogram.data() + 2 * buckets * static_cast<std::size_t>(g);
    const std::uint32_t* const odd = even + buckets;
    auto count_of = [&](std::size_t b) {
      return wide ? wide_counts[buckets * static_cast<std::size_t>(g) + b]
                  : static_cast<index_t>(even[b]) + static_cast<index_t>(odd[b]);
    };
    std::size_t bucket = 0;
    index_t below = 0;
    while (below + count_of(bucket) < k) {
      below += count_of(bucket);
      ++bucket;
    }
    state.take = k - below;
    state.top = static_cast<Key>(bucket);
    state.bucket_start = static_cast<Key>(state.top << shift);
    const auto size = static_cast<std::size_t>(count_of(bucket));
    if (state.keys.size() < size) {
      state.keys.resize(size);
      state.positions.resize(size);
    }
  }
  if (!any) return;

  // Entries below their group's bucket are pruned; the bucket's entries become candidates.
  auto& matches = scratch.row_matches;
  if (matches.size() < static_cast<std::size_t>(cols) + 8)
    matches.resize(static_cast<std::size_t>(cols) + 8);
  for (index_t i = 0; i < rows; ++i) {
    if (rows > 1) load_keys(base + i * rs, cols, cs, row_keys);
    std::uint8_t* const row_flags = flags + (r0 + i) * flag_stride + c0;
    for (index_t g = 0; g < group_count; ++g) {
      group_state& state = groups[static_cast<std::size_t>(g)];
      const index_t start = group_start(g);
      const index_t w = group_width(g);
      if (state.all) {
        std::fill_n(row_flags + start, w, std::uint8_t{1});
        continue;
      }
      if (state.take <= 0) continue;
      const Key* const k = row_keys + start;
      std::uint8_t* const f = row_flags + start;
      const Key bucket_start = state.bucket_start;
      for (index_t j = 0; j < w; ++j) f[j] = k[j] < bucket_start ? 1 : 0;
      const std::size_t in_row = collect_bucket(k, w, shift, state.top, matches.data());
      for (std::size_t t = 0; t < in_row; ++t, ++state.found) {
        state.keys[static_cast<std::size_t>(state.found)] = k[matches[t]];
        state.positions[static_cast<std::size_t>(state.found)] =
            i * w + static_cast<index_t>(matches[t]);
      }
    }
  }

  for (index_t g = 0; g < group_count; ++g) {
    group_state& state = groups[static_cast<std::size_t>(g)];
    if (state.all || state.take <= 0) continue;
    const index_t start = group_start(g);
    const index_t w = group_width(g);
    resolve_candidates<Key>(state, shift, scratch.order, [&](index_t p) {
      const index_t row = rows == 1 ? 0 : p / w;
      flags[(r0 + row) * flag_stride + c0 + start + (p - row * w)] = 1;
    });
  }
}

}  // namespace pollard::cpu::detail

namespace pollard::cpu {

/// Rows of a per-row selection handled by one task (fixed, so results never depend on the
/// thread count).
inline constexpr index_t select_lowest_row_chunk = 32;

/// The backend primitive: prunes, in `out`, the lowest entries of every comparison group of
/// `scores` (at rows [r0, ..), columns [c0, ..) of `out`, whose flags there must be "kept").
/// A group is `group_rows` rows (1, or all rows) of a block of `group_width` consecutive columns
/// (the last block narrower); prune_count(n) says how many of a group's n entries go. Ranking by
/// (score, row-major position in the group); +inf ranks above every finite score; NaN and -inf
/// are a non_finite_error naming the first such entry of the first bad piece (rows for per-row
/// groups, else column blocks; `out` is then partly written). Those pieces are spread over the
/// policy's threads.
template <class T, class PruneCount>
void select_lowest(const par_t& policy, const char* who, matrix_view<const T, host_space> scores,
                   index_t group_rows, index_t group_width, PruneCount prune_count, mask& out,
                   index_t r0 = 0, index_t c0 = 0) {
  using key = detail::score_key_t<T>;
  const index_t rows = scores.rows(), cols = scores.cols();
  if (rows == 0 || cols == 0) return;
  if (group_rows == 1 && rows > 1) {
    const index_t chunks = (rows + select_lowest_row_chunk - 1) / select_lowest_row_chunk;
    parallel_for(policy, chunks, select_lowest_row_chunk * cols, [&](index_t chunk) {
      detail::lowest_selection_scratch<key> scratch;
      const index_t first = chunk * select_lowest_row_chunk;
      const index_t last = std::min(rows, first + select_lowest_row_chunk);
      for (index_t i = first; i < last; ++i)
        detail::prune_lowest_in_column_blocks(who, scores.block(i, 0, 1, cols), group_width,
                                              prune_count, out, r0 + i, c0, scratch);
    });
    return;
  }
  const index_t blocks = (cols + group_width - 1) / group_width;
  if (blocks > 1) {
    parallel_for(policy, blocks, rows * group_width, [&](index_t b) {
      detail::lowest_selection_scratch<key> scratch;
      const index_t first = b * group_width;
      const index_t width = std::min(group_width, cols - first);
      detail::prune_lowest_in_column_blocks(who, scores.block(0, first, rows, width), width,
                                            prune_count, out, r0, c0 + first, scratch);
    });
    return;
  }
  detail::lowest_selection_scratch<key> scratch;
  detail::prune_lowest_in_column_blocks(who, scores, group_width, prune_count, out, r0, c0,
                                        scratch);
}

}  // namespace pollard::cpu
