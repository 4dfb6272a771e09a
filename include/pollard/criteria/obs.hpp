// pollard — the OBS / SparseGPT saliency: score = W_ij² / d_j².
#pragma once

#include "pollard/criteria/pruning_criterion.hpp"

namespace pollard {

/// OBS / SparseGPT saliency: scores(i, j) = W_ij² / d_j², d = inputs.inverse_hessian_diagonal
/// (each d_j > 0). SparseGPT's mask choice uses d_j = U_jj, the diagonal of the upper Cholesky
/// factor U of the damped H⁻¹ (its `W1**2 / diag(Hinv1)**2`); the OBS form (Hassibi & Stork 1993;
/// SparseGPT's paper, Eq. 3) is w² / [H⁻¹]_jj².
struct obs {
  static constexpr criterion_needs needs{.inverse_hessian_diagonal = true};

  template <class W, compute_type T>
  void score(matrix_view<W> w, const criterion_inputs<T>& in, matrix_view<T> scores) const {
    static_assert(storage_type<std::remove_const_t<W>>, "obs: unsupported weight type");
    detail::check_criterion_operands("obs", w, scores);
    detail::check_criterion_input("obs", in.inverse_hessian_diagonal, "inverse_hessian_diagonal",
                                  "the diagonal of the inverse Hessian", w.rows(), w.cols(),
                                  detail::input_sign::positive);
    for (index_t i = 0; i < w.rows(); ++i)
      for (index_t j = 0; j < w.cols(); ++j) {
        const T v = detail::abs_weight<T>(w(i, j));
        const T d = in.inverse_hessian_diagonal[static_cast<std::size_t>(j)];
        scores(i, j) = (v * v) / (d * d);
      }
  }
};

}  // namespace pollard
