// pollard — the lazy-batch OBS sweep shared by sparsegpt (mask chosen in the sweep) and
// obs_reconstruct (mask given), following ALGORITHMS.md "SparseGPT".
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "pollard/backends/cpu/cholesky.hpp"
#include "pollard/backends/cpu/eigen_map.hpp"
#include "pollard/backends/cpu/gemm.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/mask.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard {

/// What an OBS sweep did: the mask it applied, its loss and the damping the Hessian needed.
struct sparsegpt_result {
  pollard::mask mask;          ///< pruned entries of W (all zero in W afterwards)
  double loss = 0.0;           ///< Σ (w − q)² / U_ii² / 2 over all pruned weights
  double damping_used = 0.0;   ///< absolute λ added to the Hessian's diagonal
  double percdamp_used = 0.0;  ///< λ / mean(diag H): percdamp · 10^damping_retries
  int damping_retries = 0;     ///< failed factorisations before the one used
};

namespace detail {

enum class obs_selection { fixed, block_quantile, n_m };

struct obs_sweep_settings {
  const char* who = "sparsegpt";
  obs_selection selection = obs_selection::block_quantile;
  double sparsity = 0.5;
  index_t n = 0, m = 0;
  index_t block_size = 128;
  double percdamp = 0.01;
  int max_damping_retries = 5;
  bool reference_threshold = false;  // block_quantile: prune all scores <= the k-th (0-based)
};

inline std::string shape_string(index_t rows, index_t cols) {
  return std::to_string(rows) + "x" + std::to_string(cols);
}

template <class T>
void require_finite(matrix_view<const T> v, const char* who, const char* what, const char* name) {
  for (index_t i = 0; i < v.rows(); ++i)
    for (index_t j = 0; j < v.cols(); ++j)
      if (!std::isfinite(v(i, j))) {
        std::ostringstream message;
        message << who << ": non-finite " << what << " " << name << "(" << i << ", " << j
                << ") = " << v(i, j);
        throw non_finite_error(message.str());
      }
}

inline void validate_obs_settings(const obs_sweep_settings& s, index_t d_in) {
  const std::string who = s.who;
  if (s.block_size <= 0)
    throw option_error(who + ": block_size must be positive, got " + std::to_string(s.block_size));
  if (!(s.percdamp >= 0.0) || !std::isfinite(s.percdamp)) {
    std::ostringstream message;
    message << who << ": percdamp must be finite and >= 0, got " << s.percdamp;
    throw option_error(message.str());
  }
  if (s.max_damping_retries < 0)
    throw option_error(who + ": max_damping_retries must be >= 0, got " +
                       std::to_string(s.max_damping_retries));
  if (s.selection == obs_selection::block_quantile && !(s.sparsity >= 0.0 && s.sparsity < 1.0)) {
    std::ostringstream message;
    message << who << ": sparsity must be in [0, 1), got " << s.sparsity;
    throw option_error(message.str());
  }
  if (s.selection == obs_selection::n_m) {
    if (s.n <= 0 || s.m <= 0 || s.n >= s.m)
      throw option_error(who + ": N:M needs 0 < N < M, got " + std::to_string(s.n) + ":" +
                         std::to_string(s.m));
    if (d_in % s.m != 0)
      throw option_error(who + ": N:M: M=" + std::to_string(s.m) +
                         " does not divide d_in=" + std::to_string(d_in));
    if (s.block_size % s.m != 0)
      throw option_error(who + ": block_size " + std::to_string(s.block_size) +
                         " is not a multiple of M=" + std::to_string(s.m));
  }
}

/// Scratch buffers of select_block_quantile, kept across blocks.
template <class T>
struct quantile_workspace {
  std::vector<T> scores, candidates;
  std::vector<std::uint32_t> histogram;
};

/// Prunes, in block columns [c0, c0+nb) of w, the ⌊count·s⌋ lowest scores w²/U_jj² over the whole
/// d_out x nb block; ties go to the lower row-major flat index first (torch.sort's stable order):
/// everything below the k-th smallest score, then the first entries equal to it in flat order.
/// The k-th smallest is found by one radix pass on the top 16 bits of the scores (non-negative
/// floats order like their bit patterns) and a selection among the one bucket that holds it.
/// With `inclusive` (the reference's rule), the (k+1)-th smallest score is the threshold and every
/// score <= it is pruned.
template <class T, class WorkMap, class UMatrix>
void select_block_quantile(const WorkMap& w, const UMatrix& u, index_t c0, index_t nb,
                           double sparsity, bool inclusive, mask& out, quantile_workspace<T>& ws) {
  using bits_type = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  constexpr int shift = static_cast<int>(sizeof(T) * 8) - 1 - 16;
  const index_t rows = w.rows();
  const index_t count = rows * nb;
  auto k = static_cast<index_t>(std::floor(static_cast<double>(count) * sparsity));
  if (inclusive) k = std::min(k + 1, count);
  if (k == 0) return;
  ws.scores.resize(static_cast<std::size_t>(count));
  ws.histogram.assign(std::size_t{1} << 16, 0u);
  std::vector<T> d2(static_cast<std::size_t>(nb));
  for (index_t c = 0; c < nb; ++c) {
    const T d = u(c0 + c, c0 + c);
    d2[static_cast<std::size_t>(c)] = d * d;
  }
  for (index_t r = 0; r < rows; ++r) {
    const T* const row = &w(r, c0);
    T* const score = ws.scores.data() + r * nb;
    for (index_t c = 0; c < nb; ++c) score[c] = (row[c] * row[c]) / d2[static_cast<std::size_t>(c)];
  }
  for (const T v : ws.scores)
    ++ws.histogram[static_cast<std::size_t>(std::bit_cast<bits_type>(v) >> shift)];
  std::size_t bucket = 0;
  index_t before = 0;
  while (before + static_cast<index_t>(ws.histogram[bucket]) < k)
    before += static_cast<index_t>(ws.histogram[bucket++]);
  ws.candidates.clear();
  for (const T v : ws.scores)
    if (static_cast<std::size_t>(std::bit_cast<bits_type>(v) >> shift) == bucket)
      ws.candidates.push_back(v);
  const auto nth = static_cast<std::ptrdiff_t>(k - before - 1);
  std::nth_element(ws.candidates.begin(), ws.candidates.begin() + nth, ws.candidates.end());
  const T threshold = ws.candidates[static_cast<std::size_t>(nth)];
  index_t ties_to_prune = nth + 1;
  for (std::ptrdiff_t t = 0; t < nth; ++t)
    ties_to_prune -= ws.candidates[static_cast<std::size_t>(t)] < threshold ? 1 : 0;
  const T* score = ws.scores.data();
  for (index_t r = 0; r < rows; ++r)
    for (index_t c = 0; c < nb; ++c, ++score) {
      bool prune = *score < threshold;
      if (*score == threshold) prune = inclusive || ties_to_prune-- > 0;
      out.set_pruned(r, c0 + c, prune);  // the block's columns start all kept
    }
}

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

/// Rows of W swept together: a panel of rows x block columns stays in L1/L2 during the
/// per-column updates.
template <class T>
inline constexpr index_t obs_panel_rows = 64;

/// The OBS sweep of ALGORITHMS.md step 4 on w (d_out x d_in) with Hessian h (d_in x d_in,
/// symmetric). Validates everything before writing to w.
template <compute_type T>
sparsegpt_result obs_sweep(matrix_view<T> w, matrix_view<const T> h, const mask* fixed,
                           const obs_sweep_settings& s) {
  const std::string who = s.who;
  const index_t d_out = w.rows(), d_in = w.cols();
  if (h.rows() != d_in || h.cols() != d_in)
    throw shape_error(who + ": weights are " + shape_string(d_out, d_in) + " but the Hessian is " +
                      shape_string(h.rows(), h.cols()) + " (expected " + shape_string(d_in, d_in) +
                      ")");
  if (fixed != nullptr && (fixed->rows() != d_out || fixed->cols() != d_in))
    throw shape_error(who + ": weights are " + shape_string(d_out, d_in) + " but the mask is " +
                      shape_string(fixed->rows(), fixed->cols()));
  validate_obs_settings(s, d_in);
  require_finite<T>(w, s.who, "weight", "W");
  require_finite<T>(h, s.who, "Hessian entry", "H");

  sparsegpt_result result;
  result.mask = fixed != nullptr ? *fixed : mask(d_out, d_in);
  if (d_in == 0) return result;

  // Dead inputs (H_jj = 0) get H_jj = 1 and their weights zeroed.
  cpu::row_major_matrix<T> hc(d_in, d_in);
  for (index_t i = 0; i < d_in; ++i)
    for (index_t j = 0; j < d_in; ++j) hc(i, j) = h(i, j);
  std::vector<index_t> dead;
  for (index_t j = 0; j < d_in; ++j)
    if (hc(j, j) == T(0)) {
      hc(j, j) = T(1);
      dead.push_back(j);
    }
  auto factor =
      cpu::upper_cholesky_of_inverse(std::move(hc), s.percdamp, s.max_damping_retries, s.who);
  result.damping_used = factor.damping.damping;
  result.percdamp_used = factor.damping.percdamp;
  result.damping_retries = factor.damping.retries;
  const cpu::row_major_matrix<T>& u = factor.u;
  if (d_out == 0) return result;

  // Work in place when columns are adjacent (what Eigen/BLAS products need), else on a copy.
  const bool in_place = w.col_stride() == 1;
  cpu::row_major_matrix<T> copy;
  if (!in_place) {
    copy.resize(d_out, d_in);
    for (index_t i = 0; i < d_out; ++i)
      for (index_t j = 0; j < d_in; ++j) copy(i, j) = w(i, j);
  }
  auto work = in_place ? cpu::detail::map_rows<T>(w)
                       : cpu::detail::row_major_map<T>(copy.data(), d_out, d_in,
                                                       Eigen::OuterStride<>(d_in));
  for (index_t j : dead)
    for (index_t i = 0; i < d_out; ++i) work(i, j) = T(0);

  mask& chosen = result.mask;
  constexpr index_t P = obs_panel_rows<T>;
  static_assert(P % 8 == 0, "the panel is reduced in eight lanes");
  const index_t block = std::min(s.block_size, d_in);
  std::vector<T> err(static_cast<std::size_t>(d_out * block));    // column-major d_out x nb
  std::vector<T> panel(static_cast<std::size_t>(P * block));      // column-major P x nb
  std::vector<T> panel_err(static_cast<std::size_t>(P * block));  // column-major P x nb
  std::vector<std::uint8_t> panel_pruned(static_cast<std::size_t>(P * block));
  quantile_workspace<T> quantile;
  std::vector<T> window_scores;
  // Group width: 8 columns, or the smallest multiple of M that is at least 8 for N:M.
  const index_t group = s.selection == obs_selection::n_m ? s.m * ((8 + s.m - 1) / s.m) : 8;
  double loss = 0.0;

  for (index_t i1 = 0; i1 < d_in; i1 += block) {
    const index_t nb = std::min(block, d_in - i1);
    if (s.selection == obs_selection::block_quantile)
      select_block_quantile<T>(work, u, i1, nb, s.sparsity, s.reference_threshold, chosen,
                               quantile);

    for (index_t r0 = 0; r0 < d_out; r0 += P) {
      const index_t np = std::min(P, d_out - r0);
      T* const pw = panel.data();
      T* const pe = panel_err.data();
      std::uint8_t* const pm = panel_pruned.data();
      for (index_t c = 0; c < nb; ++c) {
        for (index_t r = 0; r < np; ++r) {
          pw[c * P + r] = work(r0 + r, i1 + c);
          pm[c * P + r] = chosen.pruned(r0 + r, i1 + c) ? 1 : 0;
        }
        for (index_t r = np; r < P; ++r) {  // padding rows: zero weights, zero error
          pw[c * P + r] = T(0);
          pm[c * P + r] = 0;
        }
      }
      const auto select_n_m_in_panel = [&](index_t i) {
        // Per row, the N lowest w²/U_jj² among columns i..i+M−1 as updated so far (ties: lower
        // column first): column j is pruned when fewer than N columns rank before it. The ranks
        // are counted for all panel rows at once (columns are contiguous over rows).
        const index_t m = s.m;
        window_scores.resize(static_cast<std::size_t>(m * P));
        for (index_t j = 0; j < m; ++j) {
          const T d = u(i1 + i + j, i1 + i + j);
          const T d2 = d * d;
          const T* const column = pw + (i + j) * P;
          T* const score = window_scores.data() + j * P;
          for (index_t r = 0; r < P; ++r) score[r] = (column[r] * column[r]) / d2;
        }
        for (index_t j = 0; j < m; ++j) {
          const T* const sj = window_scores.data() + j * P;
          std::int32_t rank[P] = {};
          for (index_t k = 0; k < m; ++k) {
            const T* const sk = window_scores.data() + k * P;
            const bool k_first = k < j;
            for (index_t r = 0; r < P; ++r)
              rank[r] += (sk[r] < sj[r]) | ((sk[r] == sj[r]) & k_first) ? 1 : 0;
          }
          std::uint8_t* const flags = pm + (i + j) * P;
          for (index_t r = 0; r < P; ++r) flags[r] = rank[r] < s.n ? 1 : 0;
          for (index_t r = 0; r < np; ++r)
            if (flags[r] != 0) chosen.prune(r0 + r, i1 + i + j);
        }
      };
      // Columns are taken in groups: inside a group each error updates the group's later
      // columns at once; the group's errors then update the rest of the block together
      // (a rank-`group` update, 4 columns per pass over the panel). N:M windows lie inside a
      // group, so the selection sees fully updated weights.
      for (index_t g0 = 0; g0 < nb; g0 += group) {
        const index_t g1 = std::min(nb, g0 + group);
        for (index_t i = g0; i < g1; ++i) {
          if (s.selection == obs_selection::n_m && i % s.m == 0) select_n_m_in_panel(i);
          const T d = u(i1 + i, i1 + i);
          T* const col = pw + i * P;
          T* const e = pe + i * P;
          const std::uint8_t* const pruned = pm + i * P;
          quantize_column<T, P>(col, e, pruned, d);
          // Eight partial sums, so that the reduction vectorises without reassociation flags.
          T partial[8] = {};
          for (index_t r = 0; r < P; r += 8)
            for (index_t lane = 0; lane < 8; ++lane) partial[lane] += e[r + lane] * e[r + lane];
          for (const T v : partial) loss += static_cast<double>(v);
          const T* const u_row = &u(i1 + i, i1);
          for (index_t k = i + 1; k < g1; ++k) rank_update<T, P>(pw + k * P, u_row[k], e);
        }
        index_t i = g0;
        for (; i + 4 <= g1; i += 4) {
          const T* const u0 = &u(i1 + i, i1);
          const T* const u1 = &u(i1 + i + 1, i1);
          const T* const u2 = &u(i1 + i + 2, i1);
          const T* const u3 = &u(i1 + i + 3, i1);
          for (index_t k = g1; k < nb; ++k)
            rank4_update<T, P>(pw + k * P, u0[k], u1[k], u2[k], u3[k], pe + i * P);
        }
        for (; i < g1; ++i) {
          const T* const u_row = &u(i1 + i, i1);
          for (index_t k = g1; k < nb; ++k) rank_update<T, P>(pw + k * P, u_row[k], pe + i * P);
        }
      }
      for (index_t c = 0; c < nb; ++c)
        for (index_t r = 0; r < np; ++r) {
          work(r0 + r, i1 + c) = pw[c * P + r];
          err[static_cast<std::size_t>(c * d_out + r0 + r)] = pe[c * P + r];
        }
    }

    const index_t rest = d_in - i1 - nb;
    if (rest > 0) {
      Eigen::Map<const cpu::col_major_matrix<T>> err_block(err.data(), d_out, nb);
      cpu::subtract_product(work.block(0, i1 + nb, d_out, rest), err_block,
                            u.block(i1, i1 + nb, nb, rest));
    }
  }

  if (!in_place)
    for (index_t i = 0; i < d_out; ++i)
      for (index_t j = 0; j < d_in; ++j) w(i, j) = copy(i, j);
  result.loss = loss / 2.0;
  return result;
}

}  // namespace detail
}  // namespace pollard
