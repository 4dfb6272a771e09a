// pollard — the mask policy concept: the rule that turns importance scores into a pruning mask.
#pragma once

#include <concepts>
#include <type_traits>

#include "pollard/backends/cpu/policy.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/mask.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard {

/// A mask policy P for scores of element type T.
///
/// Requires, for `const P p` and a host view `matrix_view<const T> scores`:
///   `p.select(scores)` -> `pollard::mask`.
///
/// Semantic contract (the compiler cannot check it):
/// - scores follow the criterion convention: larger = more important; the policy keeps the
///   largest and decides how many and which of the smaller ones to prune;
/// - the returned mask has the shape of `scores`; `select` reads `scores` only, may be called
///   concurrently on one policy, and is deterministic: equal scores are resolved by position
///   (the lower index is pruned first), never by memory address or thread timing;
/// - bad input raises a `pollard::error` before anything is returned: `non_finite_error` for a
///   NaN or infinite score, `option_error` for options that do not fit the shape (e.g. an N:M
///   window that does not divide d_in).
/// - the criterion contract binds every policy: +inf means "always keep" (it ranks above every
///   finite score and is pruned only when a group must prune more entries than it has finite
///   ones, then by position), and only NaN (and -inf, which no criterion produces) is rejected;
/// - optionally, `p.select(exec, scores)` runs on an execution policy `exec` (same result);
///   generic algorithms given an execution policy call it when present (select_with below).
/// The shipped policies are `unstructured` (per row, per matrix, per column block), `n_m` and
/// `pruned_of<N, M>`.
template <class P, class T>
concept mask_policy = requires(const P& policy, matrix_view<const T, host_space> scores) {
  { policy.select(scores) } -> std::same_as<mask>;
};

namespace detail {

/// policy.select(exec, scores) when the policy takes an execution policy, else
/// policy.select(scores).
template <class Exec, class P, class T>
mask select_with(const Exec& exec, const P& policy, matrix_view<const T, host_space> scores) {
  if constexpr (requires { policy.select(exec, scores); })
    return policy.select(exec, scores);
  else
    return policy.select(scores);
}

/// The select(scores) of a Derived policy that has select(exec, scores): the same on all
/// hardware threads (pollard::cpu::par).
template <class Derived>
struct default_execution {
  template <class T>
  requires storage_type<std::remove_cv_t<T>> mask select(matrix_view<T, host_space> scores)
  const { return static_cast<const Derived&>(*this).select(cpu::par, scores); }
};

}  // namespace detail

}  // namespace pollard
