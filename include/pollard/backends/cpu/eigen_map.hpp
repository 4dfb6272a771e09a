// pollard — Eigen maps of host matrix_views, used by the CPU backend's primitives.
#pragma once

#include <Eigen/Core>

#include "pollard/core/matrix_view.hpp"

namespace pollard::cpu {

/// Row-major dense matrix, the CPU backend's working layout.
template <class T>
using row_major_matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Column-major dense matrix.
template <class T>
using col_major_matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;

namespace detail {

/// A row-major map with an outer stride; only for views whose columns are adjacent (col_stride 1),
/// which is what lets BLAS see them.
template <class T>
using row_major_map = Eigen::Map<
    Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>,
    Eigen::Unaligned, Eigen::OuterStride<>>;

template <class T>
using const_row_major_map = Eigen::Map<
    const Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>,
    Eigen::Unaligned, Eigen::OuterStride<>>;

/// Maps a host view with col_stride 1 (callers check); a single-row view may have any row stride.
template <class T>
row_major_map<T> map_rows(matrix_view<T> v) {
  return row_major_map<T>(v.data(), v.rows(), v.cols(),
                          Eigen::OuterStride<>(v.rows() <= 1 ? v.cols() : v.row_stride()));
}

template <class T>
const_row_major_map<T> map_rows(matrix_view<const T> v) {
  return const_row_major_map<T>(v.data(), v.rows(), v.cols(),
                                Eigen::OuterStride<>(v.rows() <= 1 ? v.cols() : v.row_stride()));
}

}  // namespace detail
}  // namespace pollard::cpu
