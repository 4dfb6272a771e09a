// pollard — the CPU backend's OBS panel update: one column block of the lazy-batch OBS sweep
// (SparseGPT, Frantar & Alistarh 2023, Algorithm 1), rows in panels spread over threads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "pollard/backends/cpu/parallel_for.hpp"
#include "pollard/backends/cpu/policy.hpp"
#include "pollard/backends/cpu/rank_n_m.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/mask.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard::cpu {

namespace detail {

/// Column i of a panel: q = w with pruned entries zeroed, e = (w − q)/d, w ← q.
template <class T, index_t P>
inline void quantize_column(T* __restrict__ col, T* __restrict__ e,
                            const std::uint8_t* __restrict__ pruned, T d) {
  for (index_t r = 0; r < P; ++r) {  // branch-free: pruned[r] is 0 or 1
    const T removed = col[r] * static_cast<T>(pruned[r]);
    e[r] = removed / d;
    col[r] -= removed;
  }
}

/// target[0..P) −= a·e[0..P).
template <class T, index_t P>
inline void rank_update(T* __restrict__ target, T a, const T* __restrict__ e) {
  for (index_t r = 0; r < P; ++r) target[r] -= a * e[r];
}

/// target[0..P) −= a0·e[0..P) + a1·e[P..2P) + a2·e[2P..3P) + a3·e[3P..4P): one pass over
/// the target for four columns' errors.
template <class T, index_t P>
inline void rank4_update(T* __restrict__ target, T a0, T a1, T a2, T a3, const T* __restrict__ e) {
  for (index_t r = 0; r < P; ++r)
    target[r] -= a0 * e[r] + a1 * e[P + r] + a2 * e[2 * P + r] + a3 * e[3 * P + r];
}

}  // namespace detail

/// Rows of W swept together: a panel of rows x block columns stays in L1/L2 during the
/// per-column updates.
inline constexpr index_t obs_panel_rows = 64;

/// What the in-sweep selection of one block does: nothing (the mask is given), or N:M (per row,
/// at each column i ≡ 0 mod group_size, the `pruned` lowest w²/U_jj² among columns
/// i..i+group_size−1 as updated so far, ties to the lower column).
struct obs_block_selection {
  index_t pruned = 0;
  index_t group_size = 0;  ///< 0: the mask is given
};

/// The backend primitive: sweeps block columns [i1, i1+nb) of `work` (d_out x d_in, adjacent
/// columns) with U (upper, d_in x d_in): each column's pruned entries (flags of `chosen`, which
/// an N:M selection writes first) are zeroed and their error, scaled by 1/U_ii, updates the
/// block's later columns. Writes the errors to `err` (d_out x nb) for the caller's lazy update
/// of the columns after the block, and returns Σ e² (the loss before halving), summed per panel
/// in panel order, so the result does not depend on the thread count.
template <class T>
double obs_sweep_block(const par_t& policy, matrix_view<T> work, matrix_view<const T> u, index_t i1,
                       index_t nb, mask& chosen, obs_block_selection selection,
                       matrix_view<T> err) {
  constexpr index_t P = obs_panel_rows;
  static_assert(P % 8 == 0, "the panel is reduced in eight lanes");
  const index_t d_out = work.rows();
  const index_t m = selection.group_size;
  // Group width: 8 columns, or the smallest multiple of M that is at least 8 for N:M.
  const index_t group = m > 0 ? m * ((8 + m - 1) / m) : 8;
  const index_t panels = (d_out + P - 1) / P;
  std::vector<double> panel_loss(static_cast<std::size_t>(panels), 0.0);

  parallel_for(policy, panels, P * nb * nb, [&](index_t panel_index) {
    const index_t r0 = panel_index * P;
    const index_t np = std::min(P, d_out - r0);
    std::vector<T> panel(static_cast<std::size_t>(P * nb));      // column-major P x nb
    std::vector<T> panel_err(static_cast<std::size_t>(P * nb));  // column-major P x nb
    std::vector<std::uint8_t> panel_pruned(static_cast<std::size_t>(P * nb));
    std::vector<T> window(static_cast<std::size_t>(m));
    std::vector<std::uint8_t> window_flags(static_cast<std::size_t>(m));
    T* const pw = panel.data();
    T* const pe = panel_err.data();
    std::uint8_t* const pm = panel_pruned.data();
    // Rows of W (and of the mask) are read along their adjacent columns: walking a column of W
    // instead touches addresses d_in apart, which share one L1 set when d_in is a multiple of
    // 1024 and made these copies cost more than the panel's arithmetic.
    for (index_t r = 0; r < np; ++r) {
      const T* const row = &work(r0 + r, i1);
      for (index_t c = 0; c < nb; ++c) {
        pw[c * P + r] = row[c];
        pm[c * P + r] = chosen.pruned(r0 + r, i1 + c) ? 1 : 0;
      }
    }
    for (index_t c = 0; c < nb; ++c)
      for (index_t r = np; r < P; ++r) {  // padding rows: zero weights, zero error
        pw[c * P + r] = T(0);
        pm[c * P + r] = 0;
      }
    const auto select_n_m = [&](index_t i) {
      for (index_t r = 0; r < np; ++r) {
        for (index_t j = 0; j < m; ++j) {
          const T d = u(i1 + i + j, i1 + i + j);
          const T value = pw[(i + j) * P + r];
          window[static_cast<std::size_t>(j)] = (value * value) / (d * d);
        }
        rank_window_flags(window.data(), m, selection.pruned, window_flags.data());
        for (index_t j = 0; j < m; ++j) {
          pm[(i + j) * P + r] = window_flags[static_cast<std::size_t>(j)];
          if (window_flags[static_cast<std::size_t>(j)] != 0) chosen.prune(r0 + r, i1 + i + j);
        }
      }
    };
    double loss = 0.0;
    // Columns are taken in groups: inside a group each error updates the group's later columns
    // at once; the group's errors then update the rest of the block together (a rank-`group`
    // update, 4 columns per pass over the panel). N:M windows lie inside a group, so the
    // selection sees fully updated weights.
    for (index_t g0 = 0; g0 < nb; g0 += group) {
      const index_t g1 = std::min(nb, g0 + group);
      for (index_t i = g0; i < g1; ++i) {
        if (m > 0 && i % m == 0) select_n_m(i);
        const T d = u(i1 + i, i1 + i);
        T* const col = pw + i * P;
        T* const e = pe + i * P;
        detail::quantize_column<T, P>(col, e, pm + i * P, d);
        // Eight partial sums, so that the reduction vectorises without reassociation flags.
        T partial[8] = {};
        for (index_t r = 0; r < P; r += 8)
          for (index_t lane = 0; lane < 8; ++lane) partial[lane] += e[r + lane] * e[r + lane];
        for (const T v : partial) loss += static_cast<double>(v);
        const T* const u_row = &u(i1 + i, i1);
        for (index_t k = i + 1; k < g1; ++k) detail::rank_update<T, P>(pw + k * P, u_row[k], e);
      }
      index_t i = g0;
      for (; i + 4 <= g1; i += 4) {
        const T* const u0 = &u(i1 + i, i1);
        const T* const u1 = &u(i1 + i + 1, i1);
        const T* const u2 = &u(i1 + i + 2, i1);
        const T* const u3 = &u(i1 + i + 3, i1);
        for (index_t k = g1; k < nb; ++k)
          detail::rank4_update<T, P>(pw + k * P, u0[k], u1[k], u2[k], u3[k], pe + i * P);
      }
      for (; i < g1; ++i) {
        const T* const u_row = &u(i1 + i, i1);
        for (index_t k = g1; k < nb; ++k)
          detail::rank_update<T, P>(pw + k * P, u_row[k], pe + i * P);
      }
    }
    for (index_t r = 0; r < np; ++r) {
      T* const row = &work(r0 + r, i1);
      for (index_t c = 0; c < nb; ++c) row[c] = pw[c * P + r];
    }
    for (index_t c = 0; c < nb; ++c)
      for (index_t r = 0; r < np; ++r) err(r0 + r, c) = pe[c * P + r];
    panel_loss[static_cast<std::size_t>(panel_index)] = loss;
  });
  double loss = 0.0;
  for (const double l : panel_loss) loss += l;
  return loss;
}

}  // namespace pollard::cpu
