// pollard — CPU factorisation primitives for OBS solvers: damped Cholesky with retries and the
// upper Cholesky factor of the inverse. Built on Eigen's LLT and triangular products, so the
// EIGEN_USE_LAPACKE / EIGEN_USE_BLAS switch (CMake option POLLARD_USE_BLAS) sends the work to
// LAPACK potrf and BLAS trmm.
#pragma once

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <string_view>

#include "pollard/backends/cpu/eigen_map.hpp"
#include "pollard/backends/cpu/policy.hpp"
#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard::cpu {

/// The damping a factorisation ended up needing.
struct damping_report {
  double damping = 0.0;   ///< absolute λ added to the diagonal
  double percdamp = 0.0;  ///< λ / mean(diag)
  int retries = 0;        ///< failed attempts before the one that succeeded
};

namespace detail {
/// Throws factorisation_error naming the first negative diagonal entry of `a` (of H, whose
/// order is reversed in `a` when `reversed`): damping adds percdamp · mean(diag) · 10^k, which
/// with a negative diagonal could escalate a negative damping, and such a matrix is no Hessian.
template <class T>
void refuse_negative_diagonal(const row_major_matrix<T>& a, std::string_view who, bool reversed) {
  const index_t n = a.rows();
  for (index_t k = 0; k < n; ++k) {
    const index_t j = reversed ? n - 1 - k : k;
    if (a(j, j) < T(0))
      throw_not_positive_semidefinite(who, n, reversed ? k : j, static_cast<double>(a(j, j)));
  }
}

/// Called when a + λI failed to factor: throws factorisation_error (throw_indefinite_hessian)
/// when the symmetric matrix held by a's strict upper triangle and `diagonal` has an eigenvalue
/// below −τ, τ = sqrt(ε_T) · max |a_jj| (rounding in an accumulated XᵀX stays far below it), so
/// that damping is tried only on a matrix that is positive semidefinite up to rounding. A
/// Cholesky factorisation of the matrix + τI in double decides; the smallest eigenvalue, named
/// in the error, is computed only when it fails.
template <class T>
void refuse_indefinite(const row_major_matrix<T>& a,
                       const Eigen::Matrix<T, Eigen::Dynamic, 1>& diagonal, std::string_view who) {
  const index_t n = a.rows();
  Eigen::MatrixXd m(n, n);
  double scale = 0.0;
  for (index_t i = 0; i < n; ++i) {
    m(i, i) = static_cast<double>(diagonal(i));
    scale = std::max(scale, std::abs(m(i, i)));
    for (index_t j = i + 1; j < n; ++j) m(i, j) = m(j, i) = static_cast<double>(a(i, j));
  }
  const double tolerance =
      std::sqrt(static_cast<double>(std::numeric_limits<T>::epsilon())) * scale;
  Eigen::MatrixXd shifted = m;
  shifted.diagonal().array() += tolerance;
  if (Eigen::internal::llt_inplace<double, Eigen::Lower>::blocked(shifted) < 0) return;
  const double smallest =
      Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(m, Eigen::EigenvaluesOnly).eigenvalues()(0);
  if (smallest < -tolerance) throw_indefinite_hessian(who, n, smallest, tolerance);
}

}  // namespace detail

/// Factors a + λI = L·Lᵀ in place (L in the lower triangle; the strict upper triangle keeps the
/// input). a is symmetric; its strict upper triangle must hold the matrix, it is what a retry
/// restores the lower triangle from. λ = percdamp · mean(diag a) · 10^k for the k-th retry,
/// k = 0..max_retries, tried only when the matrix is positive semidefinite up to rounding (an
/// indefinite one is refused naming its smallest eigenvalue, see refuse_indefinite). Throws
/// factorisation_error naming `who` and the last damping tried.
template <class T>
damping_report damped_cholesky(row_major_matrix<T>& a, double percdamp, int max_retries,
                               std::string_view who = "cholesky") {
  const index_t n = a.rows();
  Eigen::Matrix<T, Eigen::Dynamic, 1> diagonal = a.diagonal();
  double mean_diagonal = 0.0;
  for (index_t j = 0; j < n; ++j) mean_diagonal += static_cast<double>(diagonal(j));
  mean_diagonal = n == 0 ? 0.0 : mean_diagonal / static_cast<double>(n);
  detail::refuse_negative_diagonal(a, who, false);

  double factor = percdamp;
  for (int attempt = 0; attempt <= max_retries; ++attempt, factor *= 10.0) {
    if (attempt > 0)
      for (index_t i = 1; i < n; ++i)
        for (index_t j = 0; j < i; ++j) a(i, j) = a(j, i);
    const double damping = factor * mean_diagonal;
    a.diagonal() = diagonal.array() + static_cast<T>(damping);
    // The in-place kernel behind Eigen::LLT (potrf under EIGEN_USE_LAPACKE), called directly to
    // skip LLT's condition-number bookkeeping, a strided O(n²) pass over the matrix.
    bool ok = Eigen::internal::llt_inplace<T, Eigen::Lower>::blocked(a) < 0;
    for (index_t j = 0; ok && j < n; ++j) ok = std::isfinite(a(j, j)) && a(j, j) > T(0);
    if (ok) return {damping, factor, attempt};
    if (attempt == 0) detail::refuse_indefinite(a, diagonal, who);
    if (attempt == max_retries)
      throw_not_positive_definite(who, n, damping, factor, mean_diagonal, max_retries);
  }
  return {};  // unreachable: the last attempt returns or throws
}

namespace detail {

/// A square row-major block addressed by pointer and row stride: one type at every recursion
/// level (Eigen blocks of blocks would instantiate a new type per level).
template <class T>
using strided_square = Eigen::Map<row_major_matrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

template <class T>
strided_square<T> sub_square(strided_square<T> l, index_t r0, index_t c0, index_t rows,
                             index_t cols) {
  return strided_square<T>(l.data() + r0 * l.outerStride() + c0, rows, cols,
                           Eigen::OuterStride<>(l.outerStride()));
}

/// In-place inverse of the lower triangle of a square block (unblocked; small blocks only).
template <class T>
void invert_lower_unblocked(strided_square<T> l) {
  const index_t n = l.rows();
  Eigen::Matrix<T, Eigen::Dynamic, 1> column(n);
  for (index_t j = n - 1; j >= 0; --j) {
    l(j, j) = T(1) / l(j, j);
    const index_t below = n - 1 - j;
    if (below == 0) continue;
    column.head(below) = l.col(j).tail(below);
    l.col(j).tail(below).noalias() =
        l.bottomRightCorner(below, below).template triangularView<Eigen::Lower>() *
        column.head(below);
    l.col(j).tail(below) *= -l(j, j);
  }
}

/// In-place inverse of the lower triangle: [A 0; B C]⁻¹ = [A⁻¹ 0; −C⁻¹·B·A⁻¹ C⁻¹], recursively,
/// so almost all the work is in triangular matrix products (n³/3 flops in all).
template <class T>
void invert_lower_recursive(strided_square<T> l) {
  const index_t n = l.rows();
  if (n <= 64) {
    invert_lower_unblocked<T>(l);
    return;
  }
  const index_t n1 = ((n / 2 + 31) / 32) * 32;
  const index_t n2 = n - n1;
  const strided_square<T> a = sub_square<T>(l, 0, 0, n1, n1);
  const strided_square<T> c = sub_square<T>(l, n1, n1, n2, n2);
  strided_square<T> b = sub_square<T>(l, n1, 0, n2, n1);
  invert_lower_recursive<T>(a);
  invert_lower_recursive<T>(c);
  row_major_matrix<T> b_ainv(n2, n1);
  b_ainv.noalias() = b * a.template triangularView<Eigen::Lower>();
  b.noalias() = c.template triangularView<Eigen::Lower>() * b_ainv;
  b = -b;
}

}  // namespace detail

/// Replaces the lower triangle of the square matrix l by its inverse (the strict upper triangle
/// is left as it was).
template <class T>
void invert_lower_in_place(row_major_matrix<T>& l) {
  detail::invert_lower_recursive<T>(
      detail::strided_square<T>(l.data(), l.rows(), l.cols(), Eigen::OuterStride<>(l.cols())));
}

/// The upper Cholesky factor U of (H + λI)⁻¹ (UᵀU = (H + λI)⁻¹) together with the damping used.
template <class T>
struct upper_inverse_factor {
  row_major_matrix<T> u;
  damping_report damping;

  /// U as a host view.
  matrix_view<const T> view() const noexcept {
    return matrix_view<const T>(u.data(), u.rows(), u.cols());
  }
};

namespace detail {

/// upper_cholesky_of_inverse from JHJ (H with its rows and columns in reverse order), whose
/// storage becomes U.
template <class T>
upper_inverse_factor<T> upper_cholesky_of_reversed_inverse(row_major_matrix<T> jhj, double percdamp,
                                                           int max_retries, std::string_view who) {
  refuse_negative_diagonal(jhj, who, true);
  const damping_report report = damped_cholesky(jhj, percdamp, max_retries, who);
  invert_lower_in_place(jhj);
  jhj.template triangularView<Eigen::StrictlyUpper>().setZero();
  std::reverse(jhj.data(), jhj.data() + jhj.size());
  return {std::move(jhj), report};
}

}  // namespace detail

/// U = upper Cholesky factor of (H + λI)⁻¹ for symmetric H (taken by value: its storage becomes
/// U). With J the order reversal, JHJ = M·Mᵀ gives (H + λI)⁻¹ = (J M⁻ᵀ J)(J M⁻¹ J), so one
/// factorisation of the reversed matrix and one triangular inverse replace the reference chain
/// cholesky(H) → inverse → cholesky(upper). Damping and retries as in damped_cholesky.
template <class T>
upper_inverse_factor<T> upper_cholesky_of_inverse(row_major_matrix<T> h, double percdamp,
                                                  int max_retries,
                                                  std::string_view who = "cholesky") {
  require_square(who, "the Hessian", h.rows(), h.cols());
  // Reversing the row-major storage of an n x n matrix gives the row-major storage of JAJ.
  std::reverse(h.data(), h.data() + h.size());
  return detail::upper_cholesky_of_reversed_inverse(std::move(h), percdamp, max_retries, who);
}

/// The backend primitive: U = upper Cholesky factor of (H + λI)⁻¹ for a symmetric host view H
/// (read whole; not modified). Runs on the calling thread: Eigen's blocked LLT and triangular
/// products are sequential, which keeps U the same at every thread count.
template <class T>
upper_inverse_factor<T> upper_cholesky_of_inverse(const par_t&, matrix_view<const T> h,
                                                  double percdamp, int max_retries,
                                                  std::string_view who = "cholesky") {
  require_square(who, "the Hessian", h.rows(), h.cols());
  // Copied straight into reversed order (JHJ), the form the factorisation starts from.
  const index_t n = h.rows();
  row_major_matrix<T> reversed(n, n);
  for (index_t i = 0; i < n; ++i) {
    T* const out = reversed.data() + (n - 1 - i) * n + (n - 1);
    for (index_t j = 0; j < n; ++j) out[-j] = h(i, j);
  }
  return detail::upper_cholesky_of_reversed_inverse(std::move(reversed), percdamp, max_retries,
                                                    who);
}

}  // namespace pollard::cpu
