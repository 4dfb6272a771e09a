// pollard — prune_by_magnitude: a weight matrix that is no block's linear (the token embedding
// table, the classifier) pruned by |w| with a recipe's mask rule, for a user who asks for it.
#pragma once

#include <string>

#include "pollard/core/error.hpp"
#include "pollard/core/execution_policy.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/criteria/criterion_inputs.hpp"
#include "pollard/criteria/magnitude.hpp"
#include "pollard/metrics/sparsity.hpp"
#include "pollard/model/prune_model.hpp"
#include "pollard/model/prune_recipe.hpp"
#include "pollard/model/prune_report.hpp"
#include "pollard/prune.hpp"

namespace pollard::model {

/// Prunes w [rows x cols] in place by magnitude with the mask rule of `recipe`: N:M along each
/// row when the recipe is N:M, else unstructured at sparsity `s` in the recipe's comparison group
/// (recipe.group_used(): per row, per matrix or per column block). Meant for the matrices
/// prune_model never touches, the token embedding table (row t is token t's vector) and the
/// classifier: a lookup multiplies no activation and the classifier's input is not a block's, so
/// no calibration statistic applies and |w| is the criterion whatever recipe.method says. The
/// report has block -1 (no block): keep it out of prune_report::linears, whose block_sparsity is
/// per block. Throws option_error for a bad recipe, `s` outside [0, 1), or an N:M group that does
/// not divide cols, before w changes.
template <execution_policy Exec>
linear_report prune_by_magnitude(const Exec& exec, const std::string& name, matrix_view<float> w,
                                 const prune_recipe& recipe, double s) {
  recipe.validate();
  if (!recipe.is_n_m() && !(s >= 0.0 && s < 1.0))
    throw option_error("prune_by_magnitude: " + name + ": sparsity must be in [0, 1), got " +
                       format_number(s));
  if (recipe.is_n_m() && w.cols() % recipe.n_m_group != 0)
    throw option_error("prune_by_magnitude: N:M group " + std::to_string(recipe.n_m_group) +
                       " does not divide the " + std::to_string(w.cols()) + " columns of " + name);
  linear_report r;
  r.name = name;
  r.block = -1;
  r.rows = w.rows();
  r.cols = w.cols();
  r.target_sparsity = recipe.is_n_m() ? static_cast<double>(recipe.n_m_pruned) /
                                            static_cast<double>(recipe.n_m_group)
                                      : s;
  detail::with_mask_policy(recipe, s, [&](const auto& policy) {
    return prune(exec, w, magnitude{}, criterion_inputs<float>{}, policy);
  });
  r.sparsity = r.sparsity_before_storing = sparsity(matrix_view<const float>(w));
  if (recipe.is_n_m())  // unknown (null in a report) for an unstructured recipe, as for linears
    r.n_m_valid = satisfies_n_m(matrix_view<const float>(w), recipe.n_m_pruned, recipe.n_m_group);
  return r;
}

}  // namespace pollard::model
