// pollard — the CPU backend's N:M ranker: in every window of M consecutive columns of each row,
// prune the N lowest scores (ties: the lower column first).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "pollard/backends/cpu/parallel_for.hpp"
#include "pollard/backends/cpu/policy.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/mask.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/masks/score_checks.hpp"

namespace pollard::cpu {

namespace detail {

using pollard::detail::check_rankable_scores;
using pollard::detail::score_compute_t;
using pollard::detail::score_value;
using pollard::detail::unrankable_bit;

// Writes the pruned flags (rank < n) of one window of m scores. The rank of an entry is the
// number of entries ordered before it by (score, column), from one comparison per pair.
template <index_t M, class C>
inline void rank_window(const C* v, index_t m, index_t n, std::uint8_t* flags) noexcept {
  constexpr index_t capacity = M > 0 ? M : 64;
  int rank[capacity];
  if constexpr (M > 0) {
    // Fully unrolled so that v and rank live in registers.
#pragma GCC unroll 16
    for (index_t l = 0; l < M; ++l) rank[l] = 0;
#pragma GCC unroll 16
    for (index_t j = 1; j < M; ++j)
#pragma GCC unroll 16
      for (index_t l = 0; l < j; ++l) {
        const int l_first = v[l] <= v[j] ? 1 : 0;  // ties: the lower column comes first
        rank[j] += l_first;
        rank[l] += 1 - l_first;
      }
#pragma GCC unroll 16
    for (index_t l = 0; l < M; ++l) flags[l] = rank[l] < n ? 1 : 0;
  } else {
    for (index_t l = 0; l < m; ++l) rank[l] = 0;
    for (index_t j = 1; j < m; ++j)
      for (index_t l = 0; l < j; ++l) {
        const int l_first = v[l] <= v[j] ? 1 : 0;
        rank[j] += l_first;
        rank[l] += 1 - l_first;
      }
    for (index_t l = 0; l < m; ++l) flags[l] = rank[l] < n ? 1 : 0;
  }
}

// Prunes the n lowest of each window of m columns of every row of s (m <= 64) into the rows
// [r0, ..) of out; M > 0 fixes m at compile time. No sort, no branch per entry.
template <index_t M, class T>
void prune_n_m_rank(const char* who, matrix_view<const T, host_space> s, index_t n, index_t m,
                    mask& out, index_t r0) {
  using C = score_compute_t<T>;
  constexpr index_t capacity = M > 0 ? M : 64;
  if constexpr (M > 0) m = M;
  std::uint8_t* const flags = out.data();
  const index_t cols = s.cols();
  const index_t cs = s.col_stride();
  for (index_t i = 0; i < s.rows(); ++i) {
    const T* const row = s.data() + i * s.row_stride();
    std::uint8_t* const row_flags = flags + (r0 + i) * cols;
    std::uint32_t bad = 0;
    for (index_t j0 = 0; j0 < cols; j0 += m) {
      C v[capacity];
      if constexpr (M > 0) {
        const T* const window = row + j0 * cs;
        if (cs == 1) {
#pragma GCC unroll 16
          for (index_t l = 0; l < M; ++l) v[l] = score_value(window[l]);
        } else {
#pragma GCC unroll 16
          for (index_t l = 0; l < M; ++l) v[l] = score_value(window[l * cs]);
        }
#pragma GCC unroll 16
        for (index_t l = 0; l < M; ++l) bad |= unrankable_bit(v[l]);
      } else {
        for (index_t l = 0; l < m; ++l) {
          v[l] = score_value(row[(j0 + l) * cs]);
          bad |= unrankable_bit(v[l]);
        }
      }
      rank_window<M>(v, m, n, row_flags + j0);
    }
    if (bad != 0) check_rankable_scores(who, s);
  }
}

// The same for wide windows: a partial selection of each window on (score, column).
template <class T>
void prune_n_m_select(const char* who, matrix_view<const T, host_space> s, index_t n, index_t m,
                      mask& out, index_t r0) {
  using C = score_compute_t<T>;
  struct entry {
    C value;
    index_t column;
  };
  std::vector<entry> window(static_cast<std::size_t>(m));
  const auto order = [](const entry& a, const entry& b) {
    return a.value < b.value || (a.value == b.value && a.column < b.column);
  };
  for (index_t i = 0; i < s.rows(); ++i)
    for (index_t j0 = 0; j0 < s.cols(); j0 += m) {
      for (index_t l = 0; l < m; ++l) {
        const C value = score_value(s(i, j0 + l));
        if (unrankable_bit(value) != 0) check_rankable_scores(who, s);
        window[static_cast<std::size_t>(l)] = entry{value, j0 + l};
      }
      std::nth_element(window.begin(), window.begin() + (n - 1), window.end(), order);
      for (index_t l = 0; l < n; ++l) out.prune(r0 + i, window[static_cast<std::size_t>(l)].column);
    }
}

}  // namespace detail

/// Flags (1 = pruned) the `pruned` lowest of the m values v[0..m) of one window, ties to the
/// lower index: the ranker behind rank_n_m, for callers that hold one window at a time (the
/// OBS sweep's in-sweep N:M selection). v must be finite or +inf.
template <class C>
void rank_window_flags(const C* v, index_t m, index_t pruned, std::uint8_t* flags) {
  if (m == 4) {
    detail::rank_window<4>(v, m, pruned, flags);
  } else if (m == 8) {
    detail::rank_window<8>(v, m, pruned, flags);
  } else if (m <= 64) {
    detail::rank_window<0>(v, m, pruned, flags);
  } else {
    std::vector<index_t> order(static_cast<std::size_t>(m));
    for (index_t l = 0; l < m; ++l) order[static_cast<std::size_t>(l)] = l;
    std::nth_element(order.begin(), order.begin() + (pruned - 1), order.end(),
                     [&](index_t a, index_t b) { return v[a] < v[b] || (v[a] == v[b] && a < b); });
    std::fill_n(flags, m, std::uint8_t{0});
    for (index_t l = 0; l < pruned; ++l) flags[order[static_cast<std::size_t>(l)]] = 1;
  }
}

/// Rows ranked by one task (fixed, so results never depend on the thread count).
inline constexpr index_t rank_n_m_row_chunk = 64;

/// The backend primitive: prunes, in `out` (all kept, the shape of `scores`), the `pruned`
/// lowest scores of every window of `group_size` consecutive columns of each row (columns
/// [0, group_size), [group_size, 2·group_size), ...; group_size divides the width, callers
/// check). Ties: the lower column first; +inf ranks above every finite score; NaN and -inf are
/// a non_finite_error naming the first such entry of the first bad chunk of rows. Rows are
/// spread over the policy's threads.
template <class T>
void rank_n_m(const par_t& policy, const char* who, matrix_view<const T, host_space> scores,
              index_t pruned, index_t group_size, mask& out) {
  const index_t rows = scores.rows();
  const index_t chunks = (rows + rank_n_m_row_chunk - 1) / rank_n_m_row_chunk;
  parallel_for(policy, chunks, rank_n_m_row_chunk * scores.cols(), [&](index_t chunk) {
    const index_t first = chunk * rank_n_m_row_chunk;
    const auto part =
        scores.block(first, 0, std::min(rank_n_m_row_chunk, rows - first), scores.cols());
    if (group_size == 4)
      detail::prune_n_m_rank<4>(who, part, pruned, group_size, out, first);
    else if (group_size == 8)
      detail::prune_n_m_rank<8>(who, part, pruned, group_size, out, first);
    else if (group_size <= 64)
      detail::prune_n_m_rank<0>(who, part, pruned, group_size, out, first);
    else
      detail::prune_n_m_select(who, part, pruned, group_size, out, first);
  });
}

}  // namespace pollard::cpu
