// pollard — relative layer reconstruction error ||X·Wᵀ − X·Ŵᵀ||² / ||X·Wᵀ||², from X or from a Gram
// H.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <utility>

#include "pollard/backends/cpu/gemm.hpp"
#include "pollard/backends/cpu/policy.hpp"
#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix.hpp"
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

// Rows [r0, r0+nr) of v converted to the compute type S.
template <compute_type S, class T>
matrix<S> reconstruction_rows(matrix_view<const T, host_space> v, index_t r0, index_t nr) {
  matrix<S> out(nr, v.cols());
  for (index_t i = 0; i < nr; ++i)
    for (index_t j = 0; j < v.cols(); ++j) out(i, j) = to_compute<S>(v(r0 + i, j));
  return out;
}

// v itself when it is of type S with adjacent rows or columns (what the product primitive
// reads), otherwise a converted row-major copy held in `storage`.
template <compute_type S, class T>
matrix_view<const S> reconstruction_operand(matrix_view<const T, host_space> v,
                                            matrix<S>& storage) {
  if constexpr (std::is_same_v<T, S>)
    if (v.col_stride() == 1 || v.row_stride() == 1) return v;
  storage = reconstruction_rows<S>(v, 0, v.rows());
  return storage.view();
}

// Σ a_ij·b_ij in double (a·a for a squared norm).
template <class S>
double sum_of_products(const matrix<S>& a, const matrix<S>& b) {
  double sum = 0.0;
  for (std::size_t k = 0; k < a.values().size(); ++k)
    sum += static_cast<double>(a.values()[k]) * static_cast<double>(b.values()[k]);
  return sum;
}

// W − Ŵ for one block of rows.
template <class S>
matrix<S> row_difference(const matrix<S>& wb, const matrix<S>& hb) {
  matrix<S> d(wb.rows(), wb.cols());
  for (std::size_t k = 0; k < d.values().size(); ++k)
    d.values()[k] = wb.values()[k] - hb.values()[k];
  return d;
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

// Checks W, Ŵ and the third operand (X or H, named `what`) for NaN/Inf, then sums
// energy(W_b, ΔW_b, operand) = (error, reference) over blocks of rows of W converted to S, the
// operand seen in S too.
template <compute_type S, class TW, class TH, class TO, class Energy>
reconstruction_error_result reconstruction_over_row_blocks(const char* who,
                                                           matrix_view<const TW, host_space> w,
                                                           matrix_view<const TH, host_space> w_hat,
                                                           matrix_view<const TO, host_space> other,
                                                           const char* what, Energy&& energy) {
  require_finite(w, who, "W");
  require_finite(w_hat, who, "W_hat");
  require_finite(other, who, what);
  matrix<S> storage;
  const matrix_view<const S> operand = reconstruction_operand<S>(other, storage);
  double err = 0.0, ref = 0.0;
  for (index_t r0 = 0; r0 < w.rows(); r0 += reconstruction_row_block) {
    const index_t nr = std::min(reconstruction_row_block, w.rows() - r0);
    const matrix<S> wb = reconstruction_rows<S>(w, r0, nr);
    const matrix<S> db = row_difference(wb, reconstruction_rows<S>(w_hat, r0, nr));
    const auto [block_err, block_ref] = energy(wb, db, operand);
    err += block_err;
    ref += block_ref;
  }
  return make_reconstruction_result(err, ref);
}

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
  using VW = std::remove_cv_t<TW>;
  using VH = std::remove_cv_t<TH>;
  using VX = std::remove_cv_t<TX>;
  return detail::reconstruction_over_row_blocks<S>(
      who, matrix_view<const VW, host_space>(w), matrix_view<const VH, host_space>(w_hat),
      matrix_view<const VX, host_space>(x), "X",
      [&](const matrix<S>& wb, const matrix<S>& db, matrix_view<const S> xm) {
        matrix<S> y(xm.rows(), wb.rows()), e(xm.rows(), wb.rows());
        cpu::multiply(cpu::par, y.view(), xm, wb.view().transposed());
        cpu::multiply(cpu::par, e.view(), xm, db.view().transposed());
        return std::pair{detail::sum_of_products(e, e), detail::sum_of_products(y, y)};
      });
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
  using VW = std::remove_cv_t<TW>;
  using VH = std::remove_cv_t<TH>;
  using VG = std::remove_cv_t<TG>;
  return detail::reconstruction_over_row_blocks<S>(
      who, matrix_view<const VW, host_space>(w), matrix_view<const VH, host_space>(w_hat),
      matrix_view<const VG, host_space>(h), "H",
      [&](const matrix<S>& wb, const matrix<S>& db, matrix_view<const S> hm) {
        matrix<S> wh(wb.rows(), hm.cols()), dh(wb.rows(), hm.cols());
        cpu::multiply(cpu::par, wh.view(), matrix_view<const S>(wb.view()), hm);
        cpu::multiply(cpu::par, dh.view(), matrix_view<const S>(db.view()), hm);
        return std::pair{detail::sum_of_products(dh, db), detail::sum_of_products(wh, wb)};
      });
}

}  // namespace pollard
