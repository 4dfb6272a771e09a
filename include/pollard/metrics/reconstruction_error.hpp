// pollard — relative layer reconstruction error ||X·Wᵀ − X·Ŵᵀ||² / ||X·Wᵀ||², from X or from a Gram
// H.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>

#include <Eigen/Core>

#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard {

/// The two energies behind a relative reconstruction error and their ratio.
/// From activations: squared_error = ||X·(W−Ŵ)ᵀ||_F², reference = ||X·Wᵀ||_F².
/// From a Gram H = c·XᵀX: squared_error = tr(ΔW H ΔWᵀ), reference = tr(W H Wᵀ); both carry the
/// factor c, which cancels in `relative`. relative is 0 when both energies are 0 and +inf when
/// only the reference is 0.
struct reconstruction_error_result {
  double squared_error = 0.0;
  double reference = 0.0;
  double relative = 0.0;
};

namespace detail {

template <class S>
using reconstruction_matrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// An Eigen view of a compute-type matrix_view (any non-negative strides, no copy).
template <compute_type S>
auto reconstruction_map(matrix_view<const S, host_space> v) {
  using stride = Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>;
  return Eigen::Map<const reconstruction_matrix<S>, Eigen::Unaligned, stride>(
      v.data(), v.rows(), v.cols(), stride(v.row_stride(), v.col_stride()));
}

// Rows [r0, r0+nr) of v converted to the compute type S.
template <compute_type S, class T>
reconstruction_matrix<S> reconstruction_rows(matrix_view<const T, host_space> v, index_t r0,
                                             index_t nr) {
  reconstruction_matrix<S> out(nr, v.cols());
  for (index_t i = 0; i < nr; ++i)
    for (index_t j = 0; j < v.cols(); ++j) out(i, j) = to_compute<S>(v(r0 + i, j));
  return out;
}

inline reconstruction_error_result make_reconstruction_result(double err, double ref) {
  reconstruction_error_result r{err, ref, 0.0};
  if (ref > 0.0)
    r.relative = err / ref;
  else
    r.relative = err > 0.0 ? HUGE_VAL : 0.0;
  return r;
}

// Every product of `rhs` with a block of rows of W and ΔW, bounded in memory by the block size.
inline constexpr index_t reconstruction_row_block = 256;

}  // namespace detail

/// Relative reconstruction error of Ŵ against W on activations X [tokens x d_in]
/// (layer outputs are X·Wᵀ): ||X·(W−Ŵ)ᵀ||² / ||X·Wᵀ||². W, Ŵ are d_out x d_in, any storage
/// type; products run in compute_type_for<T> and energies are summed in double. The error is
/// formed from ΔW = W − Ŵ, not from the difference of two outputs, so it does not cancel.
/// Throws shape_error on mismatched shapes, non_finite_error on NaN/Inf input.
template <class TW, class TH, class TX>
requires storage_type<std::remove_cv_t<TW>> && storage_type<std::remove_cv_t<TH>> &&
    storage_type<std::remove_cv_t<TX>>
        reconstruction_error_result relative_reconstruction_error(matrix_view<TW, host_space> w,
                                                                  matrix_view<TH, host_space> w_hat,
                                                                  matrix_view<TX, host_space> x) {
  using S = compute_type_for<std::remove_cv_t<TW>>;
  constexpr const char* who = "relative_reconstruction_error";
  require_same_shape(who, "W", w, "W_hat", w_hat);
  if (x.cols() != w.cols())
    throw shape_error(std::string(who) + ": W is " + shape_text(w) + " but the activations are " +
                      shape_text(x) + " (expected tokens x " + std::to_string(w.cols()) + ")");
  const matrix_view<const std::remove_cv_t<TW>, host_space> wc = w;
  const matrix_view<const std::remove_cv_t<TH>, host_space> hc = w_hat;
  const matrix_view<const std::remove_cv_t<TX>, host_space> xc = x;
  require_finite(wc, who, "W");
  require_finite(hc, who, "W_hat");
  require_finite(xc, who, "X");

  double err = 0.0, ref = 0.0;
  auto accumulate = [&](const auto& xm) {
    for (index_t r0 = 0; r0 < w.rows(); r0 += detail::reconstruction_row_block) {
      const index_t nr = std::min(detail::reconstruction_row_block, w.rows() - r0);
      detail::reconstruction_matrix<S> wb = detail::reconstruction_rows<S>(wc, r0, nr);
      detail::reconstruction_matrix<S> db = wb - detail::reconstruction_rows<S>(hc, r0, nr);
      const detail::reconstruction_matrix<S> y = xm * wb.transpose();
      const detail::reconstruction_matrix<S> e = xm * db.transpose();
      ref += y.template cast<double>().squaredNorm();
      err += e.template cast<double>().squaredNorm();
    }
  };
  if constexpr (std::is_same_v<std::remove_cv_t<TX>, S>) {
    accumulate(detail::reconstruction_map<S>(xc));
  } else {
    accumulate(detail::reconstruction_rows<S>(xc, 0, x.rows()));
  }
  return detail::make_reconstruction_result(err, ref);
}

/// Relative reconstruction error from a Gram/Hessian H = c·XᵀX (d_in x d_in, any c > 0, e.g.
/// SparseGPT's 2/N): tr(ΔW H ΔWᵀ) / tr(W H Wᵀ), equal to the activation form since c cancels.
/// Throws shape_error on mismatched shapes, non_finite_error on NaN/Inf input.
template <class TW, class TH, class TG>
requires storage_type<std::remove_cv_t<TW>> && storage_type<std::remove_cv_t<TH>> &&
    storage_type<std::remove_cv_t<TG>>
        reconstruction_error_result relative_reconstruction_error_from_gram(
            matrix_view<TW, host_space> w, matrix_view<TH, host_space> w_hat,
            matrix_view<TG, host_space> h) {
  using S = compute_type_for<std::remove_cv_t<TW>>;
  constexpr const char* who = "relative_reconstruction_error_from_gram";
  require_same_shape(who, "W", w, "W_hat", w_hat);
  if (h.rows() != w.cols() || h.cols() != w.cols())
    throw shape_error(std::string(who) + ": W is " + shape_text(w) + " but the Gram matrix is " +
                      shape_text(h) + " (expected " + shape_text(w.cols(), w.cols()) + ")");
  const matrix_view<const std::remove_cv_t<TW>, host_space> wc = w;
  const matrix_view<const std::remove_cv_t<TH>, host_space> hc = w_hat;
  const matrix_view<const std::remove_cv_t<TG>, host_space> gc = h;
  require_finite(wc, who, "W");
  require_finite(hc, who, "W_hat");
  require_finite(gc, who, "H");

  double err = 0.0, ref = 0.0;
  auto accumulate = [&](const auto& hm) {
    for (index_t r0 = 0; r0 < w.rows(); r0 += detail::reconstruction_row_block) {
      const index_t nr = std::min(detail::reconstruction_row_block, w.rows() - r0);
      detail::reconstruction_matrix<S> wb = detail::reconstruction_rows<S>(wc, r0, nr);
      detail::reconstruction_matrix<S> db = wb - detail::reconstruction_rows<S>(hc, r0, nr);
      const detail::reconstruction_matrix<S> wh = wb * hm;
      const detail::reconstruction_matrix<S> dh = db * hm;
      ref += wh.template cast<double>().cwiseProduct(wb.template cast<double>()).sum();
      err += dh.template cast<double>().cwiseProduct(db.template cast<double>()).sum();
    }
  };
  if constexpr (std::is_same_v<std::remove_cv_t<TG>, S>) {
    accumulate(detail::reconstruction_map<S>(gc));
  } else {
    accumulate(detail::reconstruction_rows<S>(gc, 0, h.rows()));
  }
  return detail::make_reconstruction_result(err, ref);
}

}  // namespace pollard
