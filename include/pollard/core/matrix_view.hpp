// pollard — the one vocabulary type: a non-owning strided 2-D view with its memory space in the
// type.
#pragma once

#include <type_traits>

#include "pollard/core/config.hpp"
#include "pollard/core/memory_space.hpp"

namespace pollard {

/// A rows x cols view of T at `data`, element (i, j) at data[i*row_stride + j*col_stride]
/// (strides in elements, never negative). Host views can be indexed on the CPU; device views
/// only carry the pointer, so handing one to a CPU routine fails to compile.
template <class T, class Space = host_space>
class matrix_view {
  static_assert(is_memory_space_v<Space>, "matrix_view: Space must be host_space or device_space");

 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;
  using memory_space = Space;

  constexpr matrix_view() = default;
  POLLARD_HOST_DEVICE constexpr matrix_view(T* data, index_t rows, index_t cols, index_t row_stride,
                                            index_t col_stride) noexcept
      : data_(data), rows_(rows), cols_(cols), row_stride_(row_stride), col_stride_(col_stride) {}
  /// Contiguous row-major.
  POLLARD_HOST_DEVICE constexpr matrix_view(T* data, index_t rows, index_t cols) noexcept
      : matrix_view(data, rows, cols, cols, 1) {}

  /// A view of non-const T converts to a view of const T.
  template <class U>
  requires(std::is_same_v<const U, T> && !std::is_same_v<U, T>) POLLARD_HOST_DEVICE
      constexpr matrix_view(const matrix_view<U, Space>& other) noexcept
      : matrix_view(other.data(), other.rows(), other.cols(), other.row_stride(),
                    other.col_stride()) {}

  POLLARD_HOST_DEVICE constexpr T* data() const noexcept { return data_; }
  POLLARD_HOST_DEVICE constexpr index_t rows() const noexcept { return rows_; }
  POLLARD_HOST_DEVICE constexpr index_t cols() const noexcept { return cols_; }
  POLLARD_HOST_DEVICE constexpr index_t row_stride() const noexcept { return row_stride_; }
  POLLARD_HOST_DEVICE constexpr index_t col_stride() const noexcept { return col_stride_; }
  POLLARD_HOST_DEVICE constexpr index_t size() const noexcept { return rows_ * cols_; }
  POLLARD_HOST_DEVICE constexpr bool empty() const noexcept { return rows_ == 0 || cols_ == 0; }

  POLLARD_HOST_DEVICE constexpr bool is_row_major_contiguous() const noexcept {
    return col_stride_ == 1 && (row_stride_ == cols_ || rows_ <= 1);
  }
  POLLARD_HOST_DEVICE constexpr bool is_col_major_contiguous() const noexcept {
    return row_stride_ == 1 && (col_stride_ == rows_ || cols_ <= 1);
  }

  /// Element access; host views only on the host, device views only in device code.
  POLLARD_HOST_DEVICE constexpr T& operator()(index_t i, index_t j) const noexcept
      requires(std::is_same_v<Space, host_space>
#if defined(__CUDACC__)
               || std::is_same_v<Space, device_space>
#endif
      ) {
    return data_[i * row_stride_ + j * col_stride_];
  }

  /// The sub-view of rows [r0, r0+nr) and columns [c0, c0+nc).
  POLLARD_HOST_DEVICE constexpr matrix_view block(index_t r0, index_t c0, index_t nr,
                                                  index_t nc) const noexcept {
    return matrix_view(data_ + r0 * row_stride_ + c0 * col_stride_, nr, nc, row_stride_,
                       col_stride_);
  }
  /// The cols x rows view of the same memory.
  POLLARD_HOST_DEVICE constexpr matrix_view transposed() const noexcept {
    return matrix_view(data_, cols_, rows_, col_stride_, row_stride_);
  }

 private:
  T* data_ = nullptr;
  index_t rows_ = 0;
  index_t cols_ = 0;
  index_t row_stride_ = 0;
  index_t col_stride_ = 0;
};

template <class T>
using host_view = matrix_view<T, host_space>;
template <class T>
using device_view = matrix_view<T, device_space>;

}  // namespace pollard
