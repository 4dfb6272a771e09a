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

/// Largest side of the square tiles of H one task computes.
inline constexpr index_t gram_tile = 288;

namespace detail {

/// The tiling of H's lower triangle: an even number of tiles per side, each at most gram_tile
/// (a multiple of 16) wide, so that the diagonal tiles (half the work of the others) pair up and
/// every task does the same work: the off-diagonal tiles one each, the diagonal ones two per
/// task. Fixed by d alone, so results never depend on the thread count.
struct gram_tiling {
  index_t tile = 0;   ///< tile side (the last tile of a side may be narrower)
  index_t count = 0;  ///< tiles per side
};

inline gram_tiling gram_tiling_for(index_t d) {
  const index_t pairs = (d + 2 * gram_tile - 1) / (2 * gram_tile);
  const index_t per_side = 2 * pairs;
  index_t tile = (d + per_side - 1) / per_side;
  tile = (tile + 15) / 16 * 16;
  return {tile, (d + tile - 1) / tile};
}

}  // namespace detail

/// The backend primitive: adds alpha·XᵀX to the lower triangle of h (d x d, adjacent rows or
/// columns) for X tokens x d (adjacent rows or columns). Tiles below the diagonal are matrix
/// products and diagonal tiles symmetric rank-k updates (their lower half), two per task, spread
/// over the policy's threads.
template <class T>
void gram_update(const par_t& policy, matrix_view<T> h, matrix_view<const T> x, T alpha) {
  const index_t d = h.rows();
  const index_t tokens = x.rows();
  if (d == 0 || tokens == 0) return;
  const auto [tile, per_side] = detail::gram_tiling_for(d);
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
  parallel_for(policy, static_cast<index_t>(tasks.size()), tile * tile * tokens, [&](index_t k) {
    const task t = tasks[static_cast<std::size_t>(k)];
    detail::with_eigen_map(x, [&](const auto& xm) {
      if (t.diagonal) {
        for (const index_t side : {t.ti, t.tj}) {  // symmetric rank-k updates: lower halves
          const auto [i0, n] = span(side);
          if (n == 0) continue;
          detail::with_eigen_map(h.block(i0, i0, n, n), [&](auto hm) {
            hm.template selfadjointView<Eigen::Lower>().rankUpdate(xm.middleCols(i0, n).transpose(),
                                                                   alpha);
          });
        }
      } else {
        const auto [i0, ni] = span(t.ti);
        const auto [j0, nj] = span(t.tj);
        if (ni == 0 || nj == 0) return;
        detail::with_eigen_map(h.block(i0, j0, ni, nj), [&](auto hm) {
          hm.noalias() += alpha * (xm.middleCols(i0, ni).transpose() * xm.middleCols(j0, nj));
        });
      }
    });
  });
}

}  // namespace pollard::cpu
