// pollard — the CPU backend's Gram update, H_lower += alpha·XᵀX (a symmetric rank-k update as
// tiles of matrix products spread over threads).
#pragma once

#include <algorithm>
#include <utility>
#include <vector>

#include "pollard/backends/cpu/gemm.hpp"
#include "pollard/backends/cpu/parallel_for.hpp"
#include "pollard/backends/cpu/policy.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard::cpu {

/// Largest side of the square tiles of H one task computes (d <= 4·gram_tile).
inline constexpr index_t gram_tile = 288;

/// Largest tile side above d = 4·gram_tile: wider products and symmetric updates run closer to
/// the GEMM rate per flop (benchmarks/results/cpu-2026-12-01.md: 0.83-0.87 of the 2-thread GEMM
/// at d = 1536, 4096 and 11008 against 0.78-0.82 with tiles of at most 288), and there are still
/// at least 8 tasks.
inline constexpr index_t gram_wide_tile = 640;

/// Diagonal blocks at most this wide are one symmetric rank-k update; wider ones are split.
inline constexpr index_t gram_diagonal_block = 320;

/// Fewest tokens in each half when the tokens are split between two tasks (see gram_update).
inline constexpr index_t gram_slice_tokens = 64;

namespace detail {

/// The tiling of H's lower triangle: an even number of tiles per side, each at most gram_tile
/// (gram_wide_tile above d = 4·gram_tile; a multiple of 16) wide, so that the diagonal tiles (half
/// the work of the others) pair up and every task does the same work: the off-diagonal tiles one
/// each, the diagonal ones two per task. Fixed by d alone, so results never depend on the thread
/// count.
struct gram_tiling {
  index_t tile = 0;   ///< tile side (the last tile of a side may be narrower)
  index_t count = 0;  ///< tiles per side
};

inline gram_tiling gram_tiling_for(index_t d) {
  const index_t widest = d > 4 * gram_tile ? gram_wide_tile : gram_tile;
  index_t pairs = (d + 2 * widest - 1) / (2 * widest);
  if (d > 2 * gram_tile) pairs = std::max<index_t>(pairs, 2);  // two tiles per side: d <= 576
  const index_t per_side = 2 * pairs;
  index_t tile = (d + per_side - 1) / per_side;
  tile = (tile + 15) / 16 * 16;
  return {tile, (d + tile - 1) / tile};
}

/// h_lower += alpha·xᵀx for a diagonal tile (h n x n, x tokens x n). Eigen's symmetric update
/// runs below its matrix product's rate per flop, the more so the wider it is, so a tile wider
/// than gram_diagonal_block is cut into column panels of equal width (a multiple of 16): a
/// symmetric update for each panel's diagonal block and one product for the part below it.
template <class HMap, class XMap, class T>
void lower_rank_update(HMap& hm, const XMap& xm, T alpha) {
  const index_t n = hm.rows();
  const index_t panels = (n + gram_diagonal_block - 1) / gram_diagonal_block;
  const index_t width = ((n + panels - 1) / panels + 15) / 16 * 16;
  for (index_t j0 = 0; j0 < n; j0 += width) {
    const index_t w = std::min(width, n - j0);
    hm.block(j0, j0, w, w)
        .template selfadjointView<Eigen::Lower>()
        .rankUpdate(xm.middleCols(j0, w).transpose(), alpha);
    const index_t below = n - j0 - w;
    if (below > 0)
      hm.block(j0 + w, j0, below, w).noalias() +=
          alpha * (xm.middleCols(j0 + w, below).transpose() * xm.middleCols(j0, w));
  }
}

}  // namespace detail

/// The backend primitive: adds alpha·XᵀX to the lower triangle of h (d x d, adjacent rows or
/// columns) for X tokens x d (adjacent rows or columns). Tiles below the diagonal are matrix
/// products and diagonal tiles symmetric rank-k updates (their lower half; split once more when
/// wide), two per task, spread over the policy's threads; with only two tiles per side, the
/// tokens are split in two halves instead, each one symmetric update of the whole width. The
/// pieces depend on the shapes alone.
template <class T>
void gram_update(const par_t& policy, matrix_view<T> h, matrix_view<const T> x, T alpha) {
  const index_t d = h.rows();
  const index_t tokens = x.rows();
  if (d == 0 || tokens == 0) return;
  const auto [tile, per_side] = detail::gram_tiling_for(d);
  if (per_side == 2 && tokens >= 2 * gram_slice_tokens) {
    // Two tiles per side (d <= 2·gram_tile): two tile tasks (a product and a pair of symmetric
    // updates, which run slower per flop) cannot keep two threads equally busy, so the tokens are
    // split in halves instead, each half's whole triangle one task: the first adds into h, the
    // second into a scratch that is added afterwards.
    const index_t half = tokens / 2;
    std::vector<T> scratch(static_cast<std::size_t>(d * d), T(0));
    const matrix_view<T> second(scratch.data(), d, d);
    parallel_for(policy, 2, d * d * half, [&](index_t slice) {
      const matrix_view<const T> xs =
          slice == 0 ? x.block(0, 0, half, d) : x.block(half, 0, tokens - half, d);
      // One symmetric update of the whole width per half: on the project's 2-core machine it runs
      // 0.02-0.04 of the GEMM rate closer than the half's tiles (cpu-2026-12-01.md).
      detail::with_eigen_map(xs, [&](const auto& xm) {
        detail::with_eigen_map(slice == 0 ? h : second, [&](auto hm) {
          hm.template selfadjointView<Eigen::Lower>().rankUpdate(xm.transpose(), alpha);
        });
      });
    });
    for (index_t i = 0; i < d; ++i)
      for (index_t j = 0; j <= i; ++j) h(i, j) += second(i, j);
    return;
  }
  // Each task: one off-diagonal tile (ti > tj), or the diagonal tiles ti and tj (= ti + 1).
  struct task {
    index_t ti, tj;
    bool diagonal;
  };
  // The diagonal pairs (whose symmetric updates run somewhat below the GEMM rate) spread evenly
  // through the list, so that any contiguous share of it holds its share of them.
  std::vector<task> off_diagonal;
  for (index_t tj = 0; tj < per_side; ++tj)
    for (index_t ti = tj + 1; ti < per_side; ++ti) off_diagonal.push_back({ti, tj, false});
  const index_t pairs = (per_side + 1) / 2;
  const auto total = static_cast<index_t>(off_diagonal.size()) + pairs;
  std::vector<task> tasks;
  for (index_t k = 0, pair = 0, next_off = 0; k < total; ++k)
    if (pair < pairs && k == (2 * pair + 1) * total / (2 * pairs)) {
      tasks.push_back({2 * pair, 2 * pair + 1, true});
      ++pair;
    } else {
      tasks.push_back(off_diagonal[static_cast<std::size_t>(next_off++)]);
    }
  const auto span = [&](index_t t) {
    const index_t begin = t * tile;
    return std::pair{begin, std::max<index_t>(std::min(tile, d - begin), 0)};
  };
  // target += alpha·xsᵀxs on task t's tiles.
  const auto run_task = [&](const task& t, matrix_view<T> target, matrix_view<const T> xs) {
    detail::with_eigen_map(xs, [&](const auto& xm) {
      if (t.diagonal) {
        for (const index_t side : {t.ti, t.tj}) {  // symmetric rank-k updates: lower halves
          const auto [i0, n] = span(side);
          if (n == 0) continue;
          detail::with_eigen_map(target.block(i0, i0, n, n), [&](auto hm) {
            detail::lower_rank_update(hm, xm.middleCols(i0, n), alpha);
          });
        }
      } else {
        const auto [i0, ni] = span(t.ti);
        const auto [j0, nj] = span(t.tj);
        if (ni == 0 || nj == 0) return;
        detail::with_eigen_map(target.block(i0, j0, ni, nj), [&](auto hm) {
          hm.noalias() += alpha * (xm.middleCols(i0, ni).transpose() * xm.middleCols(j0, nj));
        });
      }
    });
  };
  parallel_for(policy, static_cast<index_t>(tasks.size()), tile * tile * tokens,
               [&](index_t k) { run_task(tasks[static_cast<std::size_t>(k)], h, x); });
}

}  // namespace pollard::cpu
