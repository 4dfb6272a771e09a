// pollard — N:M semi-structured mask policy: N zeros in every window of M consecutive columns.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/mask.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/masks/lowest_selection.hpp"

namespace pollard {

namespace detail {

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

// Prunes the n lowest of each window of m columns of every row (m <= 64); M > 0 fixes m at
// compile time. No sort, no branch per entry.
template <index_t M, class T>
void prune_n_m_rank(const char* who, matrix_view<const T, host_space> s, index_t n, index_t m,
                    mask& out) {
  using C = score_compute_t<T>;
  constexpr index_t capacity = M > 0 ? M : 64;
  if constexpr (M > 0) m = M;
  std::uint8_t* const flags = mutable_flags(out);
  const index_t cols = s.cols();
  const index_t cs = s.col_stride();
  for (index_t i = 0; i < s.rows(); ++i) {
    const T* const row = s.data() + i * s.row_stride();
    std::uint8_t* const row_flags = flags + i * cols;
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
        for (index_t l = 0; l < M; ++l) bad |= non_finite_bit(v[l]);
      } else {
        for (index_t l = 0; l < m; ++l) {
          v[l] = score_value(row[(j0 + l) * cs]);
          bad |= non_finite_bit(v[l]);
        }
      }
      rank_window<M>(v, m, n, row_flags + j0);
    }
    if (bad != 0) check_finite_scores(who, s);
  }
}

// The same for wide windows: a partial selection of each window on (score, column).
template <class T>
void prune_n_m_select(const char* who, matrix_view<const T, host_space> s, index_t n, index_t m,
                      mask& out) {
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
        if (!std::isfinite(value)) check_finite_scores(who, s);
        window[static_cast<std::size_t>(l)] = entry{value, j0 + l};
      }
      std::nth_element(window.begin(), window.begin() + (n - 1), window.end(), order);
      for (index_t l = 0; l < n; ++l) out.prune(i, window[static_cast<std::size_t>(l)].column);
    }
}

inline void check_n_m_options(index_t n, index_t m) {
  if (n <= 0 || m <= 0 || n >= m)
    throw option_error("n_m: N:M needs 0 < N < M (N zeros out of M), got " + std::to_string(n) +
                       ":" + std::to_string(m));
}

template <index_t M, class T>
mask select_n_m(matrix_view<const T, host_space> s, index_t n, index_t m) {
  constexpr const char* who = "n_m";
  if (s.cols() % m != 0)
    throw option_error("n_m: M=" + std::to_string(m) +
                       " does not divide d_in=" + std::to_string(s.cols()));
  mask out(s.rows(), s.cols());
  if (m <= 64)
    prune_n_m_rank<M>(who, s, n, m, out);
  else
    prune_n_m_select(who, s, n, m, out);
  return out;
}

}  // namespace detail

/// N:M semi-structured sparsity with N and M chosen at run time. Convention: "N:M" means N
/// ZEROS out of every M: in each row, in each window of M consecutive input columns starting at
/// a multiple of M, the N lowest scores are pruned (ties: the lower column is pruned first).
/// So n_m{2, 4} keeps 2 of every 4 weights (50 %), the pattern sparse tensor cores accelerate.
class n_m {
 public:
  /// Throws option_error unless 0 < n < m.
  n_m(index_t n, index_t m) : n_(n), m_(m) { detail::check_n_m_options(n, m); }

  index_t n() const noexcept { return n_; }
  index_t m() const noexcept { return m_; }

  /// Throws option_error when m does not divide d_in, non_finite_error on a NaN/inf score.
  template <class T>
  requires storage_type<std::remove_cv_t<T>> mask select(matrix_view<T, host_space> scores)
  const {
    using value_type = std::remove_cv_t<T>;
    const matrix_view<const value_type, host_space> s = scores;
    if (m_ == 4) return detail::select_n_m<4>(s, n_, m_);
    if (m_ == 8) return detail::select_n_m<8>(s, n_, m_);
    return detail::select_n_m<0>(s, n_, m_);
  }

 private:
  index_t n_;
  index_t m_;
};

/// N:M with N and M fixed at compile time (same convention: N zeros out of every M), e.g.
/// `n_m_pattern<2, 4>`; an invalid pattern (N >= M, N <= 0) does not compile.
template <index_t N, index_t M>
struct n_m_pattern {
  static_assert(0 < N && N < M, "n_m_pattern<N, M>: N:M means N zeros out of M; needs 0 < N < M");

  static constexpr index_t n() noexcept { return N; }
  static constexpr index_t m() noexcept { return M; }

  /// Throws option_error when M does not divide d_in, non_finite_error on a NaN/inf score.
  template <class T>
  requires storage_type<std::remove_cv_t<T>> mask select(matrix_view<T, host_space> scores)
  const {
    using value_type = std::remove_cv_t<T>;
    const matrix_view<const value_type, host_space> s = scores;
    return detail::select_n_m<(M <= 64 ? M : 0)>(s, N, M);
  }
};

}  // namespace pollard
