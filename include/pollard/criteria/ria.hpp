// pollard — the RIA criterion (relative importance and activations).
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "pollard/criteria/element_scores.hpp"
#include "pollard/criteria/pruning_criterion.hpp"

namespace pollard {

/// RIA: scores(i, j) = (|W_ij| / Σ_k |W_kj| + |W_ij| / Σ_k |W_ik|) · sqrt(s_j)^a, with
/// s = inputs.sq_norm_per_sample and a = exponent (0.5 by default), as the reference code computes
/// it (column sum first, then row sum; the sums are accumulated in double, then rounded to T).
/// A zero weight scores 0, the lowest score, as the criterion contract requires; this includes
/// every entry of an all-zero row or column, which the reference scores 0/0 = NaN and so keeps
/// (torch.sort ranks NaN above every number), pruning live weights in their place.
struct ria {
  static constexpr criterion_needs needs{.sq_norm_per_sample = true};

  /// The activation exponent a (finite, >= 0).
  double exponent = 0.5;

  template <class W, compute_type T>
  void score(matrix_view<W> w, const criterion_inputs<T>& in, matrix_view<T> scores) const {
    static_assert(storage_type<std::remove_const_t<W>>, "ria: unsupported weight type");
    require_at_least("ria", "the exponent a", exponent, 0.0);
    detail::check_criterion_operands("ria", w, scores);
    detail::check_criterion_input("ria", in.sq_norm_per_sample, "sq_norm_per_sample",
                                  "moment statistics", w.rows(), w.cols(),
                                  detail::input_sign::non_negative);
    std::vector<double> col(static_cast<std::size_t>(w.cols()), 0.0);
    std::vector<double> row(static_cast<std::size_t>(w.rows()), 0.0);
    for (index_t i = 0; i < w.rows(); ++i)
      for (index_t j = 0; j < w.cols(); ++j) {
        const double v = detail::abs_weight<double>(w(i, j));
        col[static_cast<std::size_t>(j)] += v;
        row[static_cast<std::size_t>(i)] += v;
      }
    std::vector<T> col_t(col.size()), act(col.size());
    const T a = static_cast<T>(exponent);
    for (std::size_t j = 0; j < col.size(); ++j) {
      col_t[j] = static_cast<T>(col[j]);
      act[j] = std::pow(std::sqrt(in.sq_norm_per_sample[j]), a);
    }
    for (index_t i = 0; i < w.rows(); ++i) {
      const T r = static_cast<T>(row[static_cast<std::size_t>(i)]);
      for (index_t j = 0; j < w.cols(); ++j) {
        const auto k = static_cast<std::size_t>(j);
        scores(i, j) =
            detail::ria_score<T>(detail::magnitude_score<T>(w(i, j)), r, col_t[k], act[k]);
      }
    }
  }
};

}  // namespace pollard
