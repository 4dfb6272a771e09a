// pollard — Eigen adapter: pollard::view of any Eigen expression with direct access (Matrix, Array,
// Map with any Stride, Ref, Block, Transpose), and pollard::as_eigen back from a host view.
#pragma once

#include <Eigen/Core>
#include <concepts>
#include <string>
#include <type_traits>

#include "pollard/core/config.hpp"
#include "pollard/core/convert.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/core/view.hpp"

namespace pollard {

namespace detail {

/// An Eigen expression whose coefficients live in memory reachable through data() and strides.
template <class X>
concept eigen_direct_access = std::derived_from<X, Eigen::DenseBase<X>> &&
                              ((int(X::Flags) & Eigen::DirectAccessBit) != 0) &&
                              storage_type<std::remove_const_t<typename X::Scalar>>;

}  // namespace detail

/// Views an Eigen expression in place. The element type is const when Eigen gives only const
/// access (a const matrix, Map<const M>, Ref<const M>, a block of a const matrix).
template <class X>
requires detail::eigen_direct_access<X>
struct view_traits<X> {
  template <class E>
  requires std::same_as<std::remove_const_t<E>, X>
  static auto make(E& x) {
    using T = std::remove_pointer_t<decltype(x.data())>;
    const index_t inner = static_cast<index_t>(x.innerStride());
    const index_t outer = static_cast<index_t>(x.outerStride());
    if (inner < 0 || outer < 0)
      throw adapter_error("Eigen: expected non-negative strides, got inner stride " +
                          std::to_string(inner) + ", outer stride " + std::to_string(outer));
    const index_t rows = static_cast<index_t>(x.rows());
    const index_t cols = static_cast<index_t>(x.cols());
    if constexpr (X::IsRowMajor) {
      return matrix_view<T>(x.data(), rows, cols, outer, inner);
    } else {
      return matrix_view<T>(x.data(), rows, cols, inner, outer);
    }
  }
};

// Map, Block and Transpose only refer to storage owned elsewhere; a mutable Ref never copies.
template <class Plain, int Options, class Stride>
inline constexpr bool enable_borrowed_view<Eigen::Map<Plain, Options, Stride>> = true;
template <class Xpr, int Rows, int Cols, bool InnerPanel>
inline constexpr bool enable_borrowed_view<Eigen::Block<Xpr, Rows, Cols, InnerPanel>> = true;
template <class Xpr>
inline constexpr bool enable_borrowed_view<Eigen::Transpose<Xpr>> = true;
template <class Plain, int Options, class Stride>
inline constexpr bool enable_borrowed_view<Eigen::Ref<Plain, Options, Stride>> =
    !std::is_const_v<Plain>;

/// The Eigen::Map type as_eigen returns for a matrix_view<T>: row-major, dynamic strides.
template <class T>
using eigen_map_t =
    Eigen::Map<std::conditional_t<std::is_const_v<T>,
                                  const Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic,
                                                      Eigen::Dynamic, Eigen::RowMajor>,
                                  Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic,
                                                Eigen::Dynamic, Eigen::RowMajor>>,
               Eigen::Unaligned, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;

/// An Eigen::Map over the memory of a host view, for the CPU backend (float/double only).
template <class T>
requires compute_type<std::remove_const_t<T>> eigen_map_t<T> as_eigen(
    matrix_view<T, host_space> v) {
  return eigen_map_t<T>(
      v.data(), v.rows(), v.cols(),
      Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(v.row_stride(), v.col_stride()));
}

/// A dense row-major Eigen matrix of Compute holding a converted copy of any viewable tensor
/// (or host matrix_view) of a storage type.
template <compute_type Compute, class X>
requires viewable<std::remove_reference_t<X>> &&
    std::is_same_v<typename view_t<std::remove_reference_t<X>>::memory_space, host_space>
        Eigen::Matrix<Compute, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> to_dense(X&& x) {
  const auto source = pollard::view(x);
  Eigen::Matrix<Compute, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> dense(source.rows(),
                                                                                source.cols());
  pollard::copy(source, matrix_view<Compute>(dense.data(), source.rows(), source.cols()));
  return dense;
}

}  // namespace pollard
