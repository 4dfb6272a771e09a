// pollard — the Wanda criterion: score = |W_ij| · sqrt(‖x_j‖² / N).
#pragma once

#include <cmath>

#include "pollard/criteria/element_scores.hpp"
#include "pollard/criteria/pruning_criterion.hpp"

namespace pollard {

/// Wanda (pruning by weights and activations): scores(i, j) = |W_ij| · sqrt(s_j), where
/// s = inputs.sq_norm_per_sample (the reference's scaler_row, Σ_t x_tj² / N).
struct wanda {
  static constexpr criterion_needs needs{.sq_norm_per_sample = true};

  template <class W, compute_type T>
  void score(matrix_view<W> w, const criterion_inputs<T>& in, matrix_view<T> scores) const {
    static_assert(storage_type<std::remove_const_t<W>>, "wanda: unsupported weight type");
    detail::check_criterion_operands("wanda", w, scores);
    detail::check_criterion_input("wanda", in.sq_norm_per_sample, "sq_norm_per_sample",
                                  "moment statistics", w.rows(), w.cols(),
                                  detail::input_sign::non_negative);
    for (index_t i = 0; i < w.rows(); ++i)
      for (index_t j = 0; j < w.cols(); ++j)
        scores(i, j) = detail::wanda_score<T>(
            w(i, j), std::sqrt(in.sq_norm_per_sample[static_cast<std::size_t>(j)]));
  }
};

}  // namespace pollard
