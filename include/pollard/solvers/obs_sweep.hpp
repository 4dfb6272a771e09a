// pollard — the lazy-batch OBS sweep shared by sparsegpt (mask chosen in the sweep) and
// obs_reconstruct (mask given): SparseGPT's Algorithm 1 (Frantar & Alistarh 2023) written
// against an execution policy's primitives.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/execution_policy.hpp"
#include "pollard/core/mask.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/solvers/sparsegpt_result.hpp"

namespace pollard::detail {

/// How the sweep chooses its mask: given (fixed), the ⌊count·s⌋ lowest w²/U_jj² of each column
/// block over all rows (block_quantile), or N:M inside the sweep.
enum class obs_selection { fixed, block_quantile, n_m };

struct obs_sweep_settings {
  const char* who = "sparsegpt";
  obs_selection selection = obs_selection::block_quantile;
  double sparsity = 0.5;
  index_t pruned = 0, group_size = 0;  // N:M: pruned of every group_size
  index_t block_size = 128;
  double percdamp = 0.01;
  int max_damping_retries = 5;
  bool reference_threshold = false;  // block_quantile: prune all scores <= the k-th (0-based)
};

/// Throws option_error for the pair (i, j) of an asymmetric Hessian: "<who>: the Hessian is not
/// symmetric: H(i, j) = a but H(j, i) = b (allowed difference t); pass the full symmetric
/// matrix, not one triangle".
[[noreturn]] inline void throw_asymmetric_hessian(std::string_view who, index_t i, index_t j,
                                                  double h_ij, double h_ji, double tolerance) {
  std::ostringstream message;
  message << who << ": the Hessian is not symmetric: H(" << i << ", " << j << ") = " << h_ij
          << " but H(" << j << ", " << i << ") = " << h_ji << " (allowed difference " << tolerance
          << "); pass the full symmetric matrix, not one triangle";
  throw option_error(message.str());
}

/// Adds to result the warning that the factorisation needed more damping than `requested`
/// (when it did).
inline void warn_if_damping_raised(std::string_view who, double requested,
                                   sparsegpt_result& result) {
  if (result.damping_retries == 0) return;
  std::ostringstream message;
  message << who << ": the Hessian needed percdamp " << result.percdamp_used << " (requested "
          << requested << ", " << result.damping_retries
          << " retries) to factor; the updates are weaker and the result closer to magnitude "
             "pruning";
  result.warnings.push_back(message.str());
}

/// Marks every weight of the dead input columns (H_jj = 0, weights already zeroed) pruned in
/// result.mask and, when that prunes more than the sweep chose, adds the warning that says so.
inline void prune_dead_inputs(std::string_view who, const std::vector<index_t>& dead,
                              sparsegpt_result& result) {
  mask& chosen = result.mask;
  index_t newly_pruned = 0;
  for (const index_t j : dead)
    for (index_t i = 0; i < chosen.rows(); ++i)
      if (chosen.kept(i, j)) {
        chosen.prune(i, j);
        ++newly_pruned;
      }
  if (newly_pruned == 0) return;
  std::ostringstream message;
  message << who << ": " << dead.size() << " dead input channel" << (dead.size() == 1 ? "" : "s")
          << " (H_jj = 0, e.g. column " << dead.front()
          << ") had their weights zeroed: " << newly_pruned
          << " weights beyond the requested ones are pruned, sparsity " << chosen.sparsity();
  result.warnings.push_back(message.str());
}

/// Throws option_error naming the first pair (i < j, row-major) with |H_ij − H_ji| above
/// sqrt(ε_T) · max |H_kk|: rounding in an accumulated XᵀX stays far below it, while a matrix
/// given as one triangle (the other zero or stale) exceeds it. The sweep reads both triangles,
/// so it must not guess which one was meant.
template <class T>
void require_symmetric(matrix_view<const T> h, const char* who) {
  const index_t n = h.rows();
  double scale = 0.0;
  for (index_t k = 0; k < n; ++k) scale = std::max(scale, std::abs(static_cast<double>(h(k, k))));
  const double tolerance =
      std::sqrt(static_cast<double>(std::numeric_limits<T>::epsilon())) * scale;
  const auto differs = [&](index_t i, index_t j) {
    return std::abs(static_cast<double>(h(i, j)) - static_cast<double>(h(j, i))) > tolerance;
  };
  // Tiles of 64 x 64 against their mirror, so that reading H by columns stays in cache; the
  // first offending pair in row-major order is the one named.
  constexpr index_t tile = 64;
  index_t bad_i = n, bad_j = n;
  for (index_t i0 = 0; i0 < n && bad_i == n; i0 += tile)
    for (index_t j0 = i0; j0 < n; j0 += tile)
      for (index_t i = i0; i < std::min(n, i0 + tile); ++i)
        for (index_t j = std::max(j0, i + 1); j < std::min(n, j0 + tile); ++j)
          if (differs(i, j) && (i < bad_i || (i == bad_i && j < bad_j))) {
            bad_i = i;
            bad_j = j;
          }
  if (bad_i == n) return;
  throw_asymmetric_hessian(who, bad_i, bad_j, static_cast<double>(h(bad_i, bad_j)),
                           static_cast<double>(h(bad_j, bad_i)), tolerance);
}

/// The lazy-batch width for N:M: min(block_size, d_in) rounded down to a multiple of M (M
/// divides d_in, so this is at least M), so that windows never straddle blocks.
inline index_t n_m_block_width(index_t block_size, index_t d_in, index_t group_size) {
  const index_t width = std::min(block_size, d_in);
  return std::max(group_size, width - width % group_size);
}

inline void validate_obs_settings(const obs_sweep_settings& s, index_t d_in) {
  const std::string who = s.who;
  if (s.block_size <= 0)
    throw option_error(who + ": block_size must be positive, got " + std::to_string(s.block_size));
  require_at_least(who, "percdamp", s.percdamp, 0.0);
  if (s.max_damping_retries < 0)
    throw option_error(who + ": max_damping_retries must be >= 0, got " +
                       std::to_string(s.max_damping_retries));
  if (s.selection == obs_selection::block_quantile)
    require_in_range(who, "sparsity", s.sparsity, 0.0, 1.0);
  if (s.selection == obs_selection::n_m) require_n_m(who, s.pruned, s.group_size, d_in);
}

/// The OBS sweep on w (d_out x d_in) with Hessian h (d_in x d_in, symmetric), on `exec`'s
/// primitives (upper_cholesky_of_inverse, select_lowest, obs_sweep_block, subtract_product).
/// Validates everything before writing to w.
template <compute_type T, execution_policy Exec>
sparsegpt_result obs_sweep(const Exec& exec, matrix_view<T> w, matrix_view<const T> h,
                           const mask* fixed, const obs_sweep_settings& s) {
  const std::string who = s.who;
  const index_t d_out = w.rows(), d_in = w.cols();
  if (h.rows() != d_in || h.cols() != d_in)
    throw shape_error(who + ": weights are " + shape_text(d_out, d_in) + " but the Hessian is " +
                      shape_text(h.rows(), h.cols()) + " (expected " + shape_text(d_in, d_in) +
                      ")");
  if (fixed != nullptr)
    require_same_shape(who, "weights", d_out, d_in, "mask", fixed->rows(), fixed->cols());
  validate_obs_settings(s, d_in);
  require_finite(matrix_view<const T>(w), who, "weight W");
  require_finite(h, who, "Hessian entry H");
  require_symmetric<T>(h, s.who);

  sparsegpt_result result;
  result.mask = fixed != nullptr ? *fixed : mask(d_out, d_in);
  if (d_in == 0) return result;

  // Dead inputs (H_jj = 0) get H_jj = 1 (in a copy of H, made only when there are some) and
  // their weights zeroed (and marked pruned).
  std::vector<index_t> dead;
  for (index_t j = 0; j < d_in; ++j)
    if (h(j, j) == T(0)) dead.push_back(j);
  std::vector<T> damped_input;
  matrix_view<const T> factor_input = h;
  if (!dead.empty()) {
    damped_input.resize(static_cast<std::size_t>(d_in * d_in));
    const matrix_view<T> hc(damped_input.data(), d_in, d_in);
    for (index_t i = 0; i < d_in; ++i)
      for (index_t j = 0; j < d_in; ++j) hc(i, j) = h(i, j);
    for (index_t j : dead) hc(j, j) = T(1);
    factor_input = hc;
  }
  const auto factor =
      upper_cholesky_of_inverse(exec, factor_input, s.percdamp, s.max_damping_retries, s.who);
  damped_input = {};
  result.damping_used = factor.damping.damping;
  result.percdamp_used = factor.damping.percdamp;
  result.damping_retries = factor.damping.retries;
  warn_if_damping_raised(who, s.percdamp, result);
  const matrix_view<const T> u = factor.view();
  if (d_out == 0) return result;

  // Work in place when columns are adjacent (what the products need), else on a copy.
  const bool in_place = w.col_stride() == 1;
  std::vector<T> copy;
  if (!in_place) {
    copy.resize(static_cast<std::size_t>(d_out * d_in));
    for (index_t i = 0; i < d_out; ++i)
      for (index_t j = 0; j < d_in; ++j) copy[static_cast<std::size_t>(i * d_in + j)] = w(i, j);
  }
  const matrix_view<T> work = in_place ? w : matrix_view<T>(copy.data(), d_out, d_in);
  for (index_t j : dead)
    for (index_t i = 0; i < d_out; ++i) work(i, j) = T(0);

  mask& chosen = result.mask;
  const index_t block = s.selection == obs_selection::n_m
                            ? n_m_block_width(s.block_size, d_in, s.group_size)
                            : std::min(s.block_size, d_in);
  std::vector<T> err(static_cast<std::size_t>(d_out * block));  // column-major d_out x nb
  std::vector<T> scores;
  std::vector<T> diagonal_squared(static_cast<std::size_t>(block));  // U_jj² of the block
  const auto prune_count = [&](index_t n) {
    const auto k = static_cast<index_t>(std::floor(static_cast<double>(n) * s.sparsity));
    return s.reference_threshold ? std::min(k + 1, n) : k;
  };
  double loss = 0.0;

  for (index_t i1 = 0; i1 < d_in; i1 += block) {
    const index_t nb = std::min(block, d_in - i1);
    if (s.selection == obs_selection::block_quantile) {
      scores.resize(static_cast<std::size_t>(d_out * nb));
      const matrix_view<T> block_scores(scores.data(), d_out, nb);
      for (index_t c = 0; c < nb; ++c) {
        const T d = u(i1 + c, i1 + c);
        diagonal_squared[static_cast<std::size_t>(c)] = d * d;
      }
      for (index_t r = 0; r < d_out; ++r) {
        const T* const row = &work(r, i1);
        T* const out = &block_scores(r, 0);
        for (index_t c = 0; c < nb; ++c)
          out[c] = (row[c] * row[c]) / diagonal_squared[static_cast<std::size_t>(c)];
      }
      select_lowest(exec, s.who, matrix_view<const T>(block_scores), d_out, nb, prune_count, chosen,
                    0, i1);
      if (s.reference_threshold && prune_count(d_out * nb) > 0) {
        // The reference's rule: every score <= the largest one selected goes.
        T threshold = -std::numeric_limits<T>::infinity();
        for (index_t r = 0; r < d_out; ++r)
          for (index_t c = 0; c < nb; ++c)
            if (chosen.pruned(r, i1 + c)) threshold = std::max(threshold, block_scores(r, c));
        for (index_t r = 0; r < d_out; ++r)
          for (index_t c = 0; c < nb; ++c)
            if (block_scores(r, c) <= threshold) chosen.prune(r, i1 + c);
      }
    }
    const matrix_view<T> block_err(err.data(), d_out, nb, 1, d_out);
    loss += obs_sweep_block(exec, work, u, i1, nb, chosen,
                            {s.selection == obs_selection::n_m ? s.pruned : 0,
                             s.selection == obs_selection::n_m ? s.group_size : 0},
                            block_err);

    const index_t rest = d_in - i1 - nb;
    if (rest > 0)
      subtract_product(exec, work.block(0, i1 + nb, d_out, rest), matrix_view<const T>(block_err),
                       u.block(i1, i1 + nb, nb, rest));
  }

  // Every weight the mask prunes is exactly zero: a dead input column, zeroed before the sweep,
  // still receives the updates of the columns before it (tiny when H is nearly singular there).
  prune_dead_inputs(who, dead, result);
  for (index_t i = 0; i < d_out; ++i)
    for (index_t j = 0; j < d_in; ++j)
      if (chosen.pruned(i, j)) work(i, j) = T(0);
  if (!in_place)
    for (index_t i = 0; i < d_out; ++i)
      for (index_t j = 0; j < d_in; ++j) w(i, j) = work(i, j);

  result.loss = loss / 2.0;
  return result;
}

}  // namespace pollard::detail
