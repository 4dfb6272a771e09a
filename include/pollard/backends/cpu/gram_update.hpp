// pollard — the CPU backend's Gram update, H_lower += alpha·XᵀX (a symmetric rank-k update as
// tiles of matrix products spread over threads).
#pragma once

#include <algorithm>
#include <vector>

#include "pollard/backends/cpu/gemm.hpp"
#include "pollard/backends/cpu/parallel_for.hpp"
#include "pollard/backends/cpu/policy.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard::cpu {

/// Side of the square tiles of H computed by one task (fixed, so results never depend on the
/// thread count).
inline constexpr index_t gram_tile = 192;

/// The backend primitive: adds alpha·XᵀX to the lower triangle of h (d x d, adjacent rows or
/// columns) for X tokens x d (adjacent rows or columns). Tiles below the diagonal are matrix
/// products and diagonal tiles symmetric rank-k updates (their lower half), spread over the
/// policy's threads.
template <class T>
void gram_update(const par_t& policy, matrix_view<T> h, matrix_view<const T> x, T alpha) {
  const index_t d = h.rows();
  const index_t tokens = x.rows();
  if (d == 0 || tokens == 0) return;
  const index_t tiles_per_side = (d + gram_tile - 1) / gram_tile;
  std::vector<std::pair<index_t, index_t>> tiles;  // (row tile, column tile), row >= column
  for (index_t tj = 0; tj < tiles_per_side; ++tj)
    for (index_t ti = tj; ti < tiles_per_side; ++ti) tiles.emplace_back(ti, tj);
  parallel_for(
      policy, static_cast<index_t>(tiles.size()), gram_tile * gram_tile * tokens, [&](index_t t) {
        const auto [ti, tj] = tiles[static_cast<std::size_t>(t)];
        const index_t i0 = ti * gram_tile, j0 = tj * gram_tile;
        const index_t ni = std::min(gram_tile, d - i0), nj = std::min(gram_tile, d - j0);
        const bool diagonal = ti == tj;
        detail::with_eigen_map(h.block(i0, j0, ni, nj), [&](auto hm) {
          detail::with_eigen_map(x, [&](const auto& xm) {
            if (diagonal)  // a symmetric rank-k update: the lower half only
              hm.template selfadjointView<Eigen::Lower>().rankUpdate(
                  xm.middleCols(i0, ni).transpose(), alpha);
            else
              hm.noalias() += alpha * (xm.middleCols(i0, ni).transpose() * xm.middleCols(j0, nj));
          });
        });
      });
}

}  // namespace pollard::cpu
