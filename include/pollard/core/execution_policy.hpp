// pollard — the execution policy concept: the object that says where and how a generic
// algorithm runs (Thrust's model: `prune(pollard::cpu::par, w, criterion, inputs, policy)`).
#pragma once

#include <concepts>
#include <type_traits>

#include "pollard/core/memory_space.hpp"

namespace pollard {

/// An execution policy P.
///
/// Requires, for `const P p`:
///   `typename P::memory_space` — the memory space (`host_space`, `device_space`) whose views the
///   policy's primitives read and write; `p.threads()` -> int, the number of workers (>= 1).
///
/// Semantic contract (the compiler cannot check it):
/// - a policy is a small value (copied freely); copies run work the same way;
/// - the generic algorithms (statistics update, mask selection, the OBS sweep, divergence) call
///   a short list of backend primitives unqualified, with the policy as first argument, so the
///   namespace of P supplies them by argument-dependent lookup:
///     gram_update(p, h_lower, x, alpha)          H_lower += alpha·XᵀX (lower triangle)
///     select_lowest(p, who, scores, group_rows, group_width, prune_count, out, r0, c0)
///                                                prune the k lowest of every comparison group
///     rank_n_m(p, who, scores, pruned, group_size, out)
///                                                prune the N lowest of every window of M
///     upper_cholesky_of_inverse(p, h, percdamp, retries, who)
///                                                U with UᵀU = (H + λI)⁻¹, retrying λ
///     obs_sweep_block(p, work, u, i1, nb, mask, selection, err)
///                                                the OBS panel updates of one column block
///     subtract_product(p, c, a, b)               C −= A·B
///     exp_nonpositive / log_nonnegative          vector exp and log (divergence rows)
///   with the meanings and signatures of the CPU backend's (include/pollard/backends/cpu/);
///   a policy may supply its own or forward some of them to another backend;
/// - results do not depend on the number of workers: every primitive returns bit-identical
///   values whatever `threads()` is (work is split into pieces fixed by the shapes, never by
///   the thread count, and reductions are combined in a fixed order).
/// The shipped policy is `pollard::cpu::par` (include/pollard/backends/cpu/policy.hpp).
template <class P>
concept execution_policy = std::copy_constructible<P> && requires(const P& p) {
  typename P::memory_space;
  requires is_memory_space_v<typename P::memory_space>;
  { p.threads() } -> std::convertible_to<int>;
};

}  // namespace pollard
