// pollard — OBS reconstruction with a given mask: the SparseGPT sweep with the mask fixed
// (RIA's --reconstruction option).
#pragma once

#include <type_traits>

#include "pollard/backends/cpu/cholesky.hpp"
#include "pollard/backends/cpu/gemm.hpp"
#include "pollard/backends/cpu/obs_sweep_block.hpp"
#include "pollard/backends/cpu/policy.hpp"
#include "pollard/backends/cpu/select_lowest.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/execution_policy.hpp"
#include "pollard/core/mask.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/solvers/obs_reconstruction_options.hpp"
#include "pollard/solvers/obs_sweep.hpp"
#include "pollard/solvers/sparsegpt_result.hpp"

namespace pollard {

/// Zeroes the pruned entries of w (d_out x d_in, in place) and updates the kept ones to
/// compensate, column by column, as sparsegpt() does with its own mask, on the execution policy
/// `exec`. Returns the mask given (plus the weights of dead inputs, H_jj = 0, which are zeroed:
/// then with a warning), the loss and the damping used. Throws as sparsegpt() does, and
/// shape_error when the mask does not match w.
template <compute_type T, execution_policy Exec>
sparsegpt_result obs_reconstruct(const Exec& exec, matrix_view<T> w,
                                 std::type_identity_t<matrix_view<const T>> hessian,
                                 const mask& pruned,
                                 const obs_reconstruction_options& options = {}) {
  detail::obs_sweep_settings s;
  s.who = "obs_reconstruct";
  s.selection = detail::obs_selection::fixed;
  s.block_size = options.block_size;
  s.percdamp = options.percdamp;
  s.max_damping_retries = options.max_damping_retries;
  return detail::obs_sweep<T>(exec, w, hessian, &pruned, s);
}

/// The same on all hardware threads (pollard::cpu::par).
template <compute_type T>
sparsegpt_result obs_reconstruct(matrix_view<T> w,
                                 std::type_identity_t<matrix_view<const T>> hessian,
                                 const mask& pruned,
                                 const obs_reconstruction_options& options = {}) {
  return obs_reconstruct<T>(cpu::par, w, hessian, pruned, options);
}

}  // namespace pollard
