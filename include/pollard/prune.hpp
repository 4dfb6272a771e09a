// pollard — a one-shot pruning method as criterion + mask policy: score, select, apply.
#pragma once

#include <type_traits>
#include <vector>

#include "pollard/core/mask.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/criteria/criterion_inputs.hpp"
#include "pollard/criteria/pruning_criterion.hpp"
#include "pollard/masks/mask_policy.hpp"

namespace pollard {

/// The mask `policy` chooses from `criterion`'s scores of `weights` (weights are not changed).
/// Scores are computed in T (float by default) whatever the storage type W of the weights.
template <compute_type T = float, class W, class Criterion, class Policy>
requires pruning_criterion<Criterion, T, std::remove_const_t<W>> && mask_policy<Policy, T> mask
select_mask(matrix_view<W, host_space> weights, const Criterion& criterion,
            const criterion_inputs<T>& inputs, const Policy& policy) {
  std::vector<T> scores(static_cast<std::size_t>(weights.size()));
  const matrix_view<T> score_view(scores.data(), weights.rows(), weights.cols());
  criterion.score(matrix_view<const std::remove_const_t<W>>(weights), inputs, score_view);
  return policy.select(matrix_view<const T>(score_view));
}

/// Prunes `weights` in place (pruned entries set to zero) and returns the mask: e.g. Wanda is
/// prune(w, wanda{}, inputs, unstructured{0.5, per_row}), 2:4 magnitude is
/// prune(w, magnitude{}, {}, n_m{2, 4}). Nothing is written when any check fails.
template <compute_type T = float, class W, class Criterion, class Policy>
requires pruning_criterion<Criterion, T, W> && mask_policy<Policy, T> mask
prune(matrix_view<W, host_space> weights, const Criterion& criterion,
      const criterion_inputs<T>& inputs, const Policy& policy) {
  mask m = select_mask<T>(weights, criterion, inputs, policy);
  apply_mask(m, weights);
  return m;
}

}  // namespace pollard
