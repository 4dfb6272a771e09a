// pollard — the CPU backend's Eigen types and its one way of seeing a host matrix_view as an
// Eigen map.
#pragma once

#include <algorithm>
#include <type_traits>

#include <Eigen/Core>

#include "pollard/core/config.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard::cpu {

/// Row-major dense matrix, the CPU backend's working layout.
template <class T>
using row_major_matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Column-major dense matrix.
template <class T>
using col_major_matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;

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
}  // namespace pollard::cpu
