// pollard — the magnitude criterion: score = |W_ij|.
#pragma once

#include "pollard/criteria/element_scores.hpp"
#include "pollard/criteria/pruning_criterion.hpp"

namespace pollard {

/// Magnitude pruning: scores(i, j) = |W_ij|; reads no statistics.
struct magnitude {
  static constexpr criterion_needs needs{};

  template <class W, compute_type T>
  void score(matrix_view<W> w, const criterion_inputs<T>&, matrix_view<T> scores) const {
    static_assert(storage_type<std::remove_const_t<W>>, "magnitude: unsupported weight type");
    detail::check_criterion_operands("magnitude", w, scores);
    for (index_t i = 0; i < w.rows(); ++i)
      for (index_t j = 0; j < w.cols(); ++j) scores(i, j) = detail::magnitude_score<T>(w(i, j));
  }
};

}  // namespace pollard
