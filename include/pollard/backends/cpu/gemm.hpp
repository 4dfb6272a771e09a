// pollard — the CPU backend's matrix products, C −= A·B and C = A·B (BLAS gemm under
// POLLARD_USE_BLAS).
#pragma once

#include <algorithm>

#include <Eigen/Core>

#include "pollard/backends/cpu/eigen_map.hpp"
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

// C −= A·B (Subtract) or C = A·B, row chunks of C spread over the policy's threads.
template <bool Subtract, class T>
void row_chunked_product(const par_t& policy, matrix_view<T> c, matrix_view<const T> a,
                         matrix_view<const T> b) {
  const index_t rows = c.rows();
  const index_t chunks = (rows + gemm_row_chunk - 1) / gemm_row_chunk;
  parallel_for(policy, chunks, gemm_row_chunk * a.cols() * c.cols(), [&](index_t chunk) {
    const index_t r0 = chunk * gemm_row_chunk;
    const index_t nr = std::min(gemm_row_chunk, rows - r0);
    with_eigen_map(c.block(r0, 0, nr, c.cols()), [&](auto cm) {
      with_eigen_map(a.block(r0, 0, nr, a.cols()), [&](const auto& am) {
        with_eigen_map(b, [&](const auto& bm) {
          if constexpr (Subtract)
            cm.noalias() -= am * bm;
          else
            cm.noalias() = am * bm;
        });
      });
    });
  });
}

}  // namespace detail

/// The backend primitive: C −= A·B for host views (each with adjacent rows or columns; C with
/// adjacent columns), C m x n, A m x k, B k x n, C not overlapping A or B. Row chunks of C are
/// spread over the policy's threads.
template <class T>
void subtract_product(const par_t& policy, matrix_view<T> c, matrix_view<const T> a,
                      matrix_view<const T> b) {
  detail::row_chunked_product<true>(policy, c, a, b);
}

/// The backend primitive: C = A·B, with the shapes and layouts of subtract_product.
template <class T>
void multiply(const par_t& policy, matrix_view<T> c, matrix_view<const T> a,
              matrix_view<const T> b) {
  detail::row_chunked_product<false>(policy, c, a, b);
}

}  // namespace pollard::cpu
