// pollard — a one-shot pruning method as criterion + mask policy: score, select, apply.
#pragma once

#include <type_traits>
#include <vector>

#include "pollard/backends/cpu/policy.hpp"
#include "pollard/core/execution_policy.hpp"
#include "pollard/core/mask.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/criteria/criterion_inputs.hpp"
#include "pollard/criteria/pruning_criterion.hpp"
#include "pollard/masks/mask_policy.hpp"

namespace pollard {

/// The mask `policy` chooses from `criterion`'s scores of `weights` (weights are not changed).
/// Scores are computed in T (float by default) whatever the storage type W of the weights.
/// The selection runs on the execution policy `exec` (e.g. pollard::cpu::par.threads(2)).
template <compute_type T = float, execution_policy Exec, class W, class Criterion, class Policy>
requires pruning_criterion<Criterion, T, std::remove_const_t<W>> && mask_policy<Policy, T> mask
select_mask(const Exec& exec, matrix_view<W, host_space> weights, const Criterion& criterion,
            const criterion_inputs<T>& inputs, const Policy& policy) {
  std::vector<T> scores(static_cast<std::size_t>(weights.size()));
  const matrix_view<T> score_view(scores.data(), weights.rows(), weights.cols());
  criterion.score(matrix_view<const std::remove_const_t<W>>(weights), inputs, score_view);
  return detail::select_with(exec, policy, matrix_view<const T>(score_view));
}
template <compute_type T = float, class W, class Criterion, class Policy>
requires pruning_criterion<Criterion, T, std::remove_const_t<W>> && mask_policy<Policy, T> mask
select_mask(matrix_view<W, host_space> weights, const Criterion& criterion,
            const criterion_inputs<T>& inputs, const Policy& policy) {
  return select_mask<T>(cpu::par, weights, criterion, inputs, policy);
}

/// Prunes `weights` in place (pruned entries set to zero) and returns the mask: e.g. Wanda is
/// prune(w, wanda{}, inputs, unstructured{0.5, per_row}), 2:4 magnitude is
/// prune(w, magnitude{}, {}, n_m::pruned_of(2, 4)); prune(cpu::par.threads(2), w, ...) runs on
/// two threads (same result). Nothing is written when any check fails.
template <compute_type T = float, execution_policy Exec, class W, class Criterion, class Policy>
requires pruning_criterion<Criterion, T, W> && mask_policy<Policy, T> mask
prune(const Exec& exec, matrix_view<W, host_space> weights, const Criterion& criterion,
      const criterion_inputs<T>& inputs, const Policy& policy) {
  mask m = select_mask<T>(exec, weights, criterion, inputs, policy);
  apply_mask(m, weights);
  return m;
}
template <compute_type T = float, class W, class Criterion, class Policy>
requires pruning_criterion<Criterion, T, W> && mask_policy<Policy, T> mask
prune(matrix_view<W, host_space> weights, const Criterion& criterion,
      const criterion_inputs<T>& inputs, const Policy& policy) {
  return prune<T>(cpu::par, weights, criterion, inputs, policy);
}

}  // namespace pollard
