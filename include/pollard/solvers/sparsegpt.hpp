// pollard — SparseGPT: adaptive mask selection with the lazy-batch OBS weight update.
#pragma once

#include <type_traits>

#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/solvers/obs_sweep.hpp"

namespace pollard {

/// Options of sparsegpt(); the defaults are the reference implementation's.
/// The mask is unstructured (per block of block_size columns, one threshold over all rows) unless
/// m > 0, which selects N:M: n zeros in every m consecutive input columns of each row.
struct sparsegpt_options {
  double sparsity = 0.5;        ///< unstructured: fraction pruned in each block, in [0, 1)
  index_t n = 0;                ///< N:M: zeros per window (0 < n < m)
  index_t m = 0;                ///< N:M: window width; 0 = unstructured; must divide d_in
  index_t block_size = 128;     ///< B, columns per lazy batch (a multiple of m for N:M)
  double percdamp = 0.01;       ///< λ = percdamp · mean(diag H)
  int max_damping_retries = 5;  ///< failed factorisations retried with λ x 10 each
  /// Unstructured only: prune every score <= the ⌊count·s⌋-th smallest (0-based), as the
  /// reference code's `scores <= sorted[int(count·s)]` does — one weight more per block (plus
  /// ties), even at s = 0 — so outputs can be compared with it weight for weight.
  bool reference_threshold = false;
};

/// Prunes w (d_out x d_in, updated in place) with the SparseGPT sweep of ALGORITHMS.md.
/// hessian is the full symmetric d_in x d_in H (not modified). Unstructured selection prunes the
/// ⌊d_out·nb·s⌋ lowest w²/U_jj² of each block (ties: lower row-major index first), exactly that
/// many — the reference's `scores <= sorted[⌊count·s⌋]` prunes one more (and ties), which
/// options.reference_threshold reproduces. N:M picks,
/// at each column i ≡ 0 (mod m), the n lowest scores among columns i..i+m−1 of each row using
/// the weights as already updated (ties: lower column first).
/// Throws shape_error, non_finite_error (NaN/Inf in w or hessian), option_error,
/// factorization_error (H not positive definite after the damping retries); nothing is written to
/// w when it throws.
template <compute_type T>
sparsegpt_result sparsegpt(matrix_view<T> w, std::type_identity_t<matrix_view<const T>> hessian,
                           const sparsegpt_options& options = {}) {
  detail::obs_sweep_settings s;
  s.who = "sparsegpt";
  s.selection = options.m > 0 || options.n > 0 ? detail::obs_selection::n_m
                                               : detail::obs_selection::block_quantile;
  s.sparsity = options.sparsity;
  s.n = options.n;
  s.m = options.m;
  s.block_size = options.block_size;
  s.percdamp = options.percdamp;
  s.max_damping_retries = options.max_damping_retries;
  s.reference_threshold = options.reference_threshold;
  return detail::obs_sweep<T>(w, hessian, nullptr, s);
}

}  // namespace pollard
