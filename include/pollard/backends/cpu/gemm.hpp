// pollard — the CPU backend's matrix-product update, C −= A·B (BLAS gemm under POLLARD_USE_BLAS).
#pragma once

#include <algorithm>

#include <Eigen/Core>

#include "pollard/backends/cpu/parallel_for.hpp"
#include "pollard/backends/cpu/policy.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard::cpu {

/// C −= A·B for Eigen expressions (maps, blocks, matrices) of matching shapes; C must not alias
/// A or B. Runs as Eigen decides (its own threads when OpenMP is on).
template <class C, class A, class B>
void subtract_product(C&& c, const A& a, const B& b) {
  c.noalias() -= a * b;
}

/// Rows of C updated by one task of the policy form (fixed, so results never depend on the
/// thread count: every row sees the same single-threaded product blocking).
inline constexpr index_t gemm_row_chunk = 128;

namespace detail {

/// Calls f with an Eigen map of the host view v, whose columns (col_stride 1) or rows
/// (row_stride 1) are adjacent.
template <class T, class F>
decltype(auto) with_eigen_map(matrix_view<T> v, F&& f) {
  using value = std::remove_const_t<T>;
  using row_major = Eigen::Matrix<value, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using col_major = Eigen::Matrix<value, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
  using row_map = Eigen::Map<std::conditional_t<std::is_const_v<T>, const row_major, row_major>,
                             Eigen::Unaligned, Eigen::OuterStride<>>;
  using col_map = Eigen::Map<std::conditional_t<std::is_const_v<T>, const col_major, col_major>,
                             Eigen::Unaligned, Eigen::OuterStride<>>;
  if (v.col_stride() == 1 || v.cols() <= 1)
    return f(row_map(
        v.data(), v.rows(), v.cols(),
        Eigen::OuterStride<>(v.rows() <= 1 ? std::max<index_t>(v.cols(), 1) : v.row_stride())));
  return f(col_map(
      v.data(), v.rows(), v.cols(),
      Eigen::OuterStride<>(v.cols() <= 1 ? std::max<index_t>(v.rows(), 1) : v.col_stride())));
}

}  // namespace detail

/// The backend primitive: C −= A·B for host views (each with adjacent rows or columns; C with
/// adjacent columns), C m x n, A m x k, B k x n, C not overlapping A or B. Row chunks of C are
/// spread over the policy's threads.
template <class T>
void subtract_product(const par_t& policy, matrix_view<T> c, matrix_view<const T> a,
                      matrix_view<const T> b) {
  const index_t rows = c.rows();
  const index_t chunks = (rows + gemm_row_chunk - 1) / gemm_row_chunk;
  parallel_for(policy, chunks, gemm_row_chunk * a.cols() * c.cols(), [&](index_t chunk) {
    const index_t r0 = chunk * gemm_row_chunk;
    const index_t nr = std::min(gemm_row_chunk, rows - r0);
    detail::with_eigen_map(c.block(r0, 0, nr, c.cols()), [&](auto cm) {
      detail::with_eigen_map(a.block(r0, 0, nr, a.cols()), [&](const auto& am) {
        detail::with_eigen_map(b, [&](const auto& bm) { cm.noalias() -= am * bm; });
      });
    });
  });
}

}  // namespace pollard::cpu
