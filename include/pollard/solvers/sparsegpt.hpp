// pollard — SparseGPT: adaptive mask selection with the lazy-batch OBS weight update.
#pragma once

#include <string>
#include <type_traits>

#include "pollard/backends/cpu/cholesky.hpp"
#include "pollard/backends/cpu/gemm.hpp"
#include "pollard/backends/cpu/obs_sweep_block.hpp"
#include "pollard/backends/cpu/policy.hpp"
#include "pollard/backends/cpu/select_lowest.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/execution_policy.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/masks/n_m.hpp"
#include "pollard/masks/unstructured.hpp"
#include "pollard/solvers/obs_sweep.hpp"
#include "pollard/solvers/sparsegpt_options.hpp"
#include "pollard/solvers/sparsegpt_result.hpp"

namespace pollard {

namespace detail {

inline obs_sweep_settings sparsegpt_numerics(const sparsegpt_options& o, index_t block_size) {
  obs_sweep_settings s;
  s.who = "sparsegpt";
  s.block_size = block_size;
  s.percdamp = o.percdamp;
  s.max_damping_retries = o.max_damping_retries;
  return s;
}

inline obs_sweep_settings sparsegpt_settings(const unstructured& policy,
                                             const sparsegpt_options& o) {
  if (policy.comparison_group() != unstructured::group::column_block)
    throw option_error(
        "sparsegpt: chooses its unstructured mask per column block as it sweeps; pass "
        "unstructured(s, per_column_block{B}) (B = 128 in the reference), or choose a per-row or "
        "per-matrix mask with a criterion and apply it with obs_reconstruct");
  obs_sweep_settings s = sparsegpt_numerics(o, policy.block_width());
  s.selection = obs_selection::block_quantile;
  s.sparsity = policy.sparsity();
  s.reference_threshold = o.reference_threshold;
  return s;
}

template <n_m_policy NM>
obs_sweep_settings sparsegpt_settings(const NM& policy, const sparsegpt_options& o) {
  if (o.reference_threshold)
    throw option_error("sparsegpt: reference_threshold applies to unstructured selection only");
  obs_sweep_settings s = sparsegpt_numerics(o, o.block_size);
  s.selection = obs_selection::n_m;
  s.pruned = policy.pruned();
  s.group_size = policy.group_size();
  return s;
}

template <class Policy>
concept sparsegpt_mask_policy = requires(const Policy& p, const sparsegpt_options& o) {
  sparsegpt_settings(p, o);
};

}  // namespace detail

/// Prunes w (d_out x d_in, updated in place) with the SparseGPT sweep (Frantar & Alistarh 2023,
/// Algorithm 1) on the execution policy `exec`. hessian is the full symmetric d_in x d_in H (not
/// modified; an asymmetric one is refused). The mask rule:
/// - unstructured(s, per_column_block{B}): SparseGPT's adaptive selection: in each block of B
///   columns, the ⌊d_out·nb·s⌋ lowest w²/U_jj² over all rows as updated so far (ties: lower
///   row-major index first) — the reference's `scores <= sorted[⌊count·s⌋]` prunes one more (and
///   ties), which options.reference_threshold reproduces; per_row and per_matrix are refused
///   (choose such a mask with a criterion and apply it with obs_reconstruct);
/// - n_m::pruned_of(N, M) or pruned_of<N, M>: at each column i ≡ 0 (mod M), the N lowest scores
///   among columns i..i+M−1 of each row using the weights as already updated (ties: lower column
///   first); M must divide d_in.
/// Dead inputs (H_jj = 0) have their weights zeroed and marked pruned; the result then carries
/// a warning with the real sparsity, as it does when the damping had to be raised.
/// Throws shape_error, non_finite_error (NaN/Inf in w or hessian), option_error,
/// factorisation_error (H not positive definite after the damping retries); nothing is written to
/// w when it throws.
template <compute_type T, execution_policy Exec, detail::sparsegpt_mask_policy Policy>
sparsegpt_result sparsegpt(const Exec& exec, matrix_view<T> w,
                           std::type_identity_t<matrix_view<const T>> hessian, const Policy& policy,
                           const sparsegpt_options& options = {}) {
  return detail::obs_sweep<T>(exec, w, hessian, nullptr,
                              detail::sparsegpt_settings(policy, options));
}

/// The same on all hardware threads (pollard::cpu::par).
template <compute_type T, detail::sparsegpt_mask_policy Policy>
sparsegpt_result sparsegpt(matrix_view<T> w, std::type_identity_t<matrix_view<const T>> hessian,
                           const Policy& policy, const sparsegpt_options& options = {}) {
  return sparsegpt<T>(cpu::par, w, hessian, policy, options);
}

}  // namespace pollard
