// pollard — views of raw pointers, checked: pollard::make_view(ptr, rows, cols[, row_stride,
// col_stride]).
#pragma once

#include <string>

#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/core/memory_space.hpp"

namespace pollard {

/// A rows x cols view of ptr with element (i, j) at ptr[i*row_stride + j*col_stride].
/// Throws shape_error for a negative extent or stride, or a null ptr with a non-empty shape.
/// Space says where ptr points (device_space for CUDA memory); nothing is dereferenced here.
template <class Space = host_space, class T>
matrix_view<T, Space> make_view(T* ptr, index_t rows, index_t cols, index_t row_stride,
                                index_t col_stride) {
  if (rows < 0 || cols < 0)
    throw shape_error("make_view: negative extent " + shape_text(rows, cols));
  if (row_stride < 0 || col_stride < 0)
    throw shape_error("make_view: negative stride (row stride " + std::to_string(row_stride) +
                      ", col stride " + std::to_string(col_stride) + ")");
  if (ptr == nullptr && rows != 0 && cols != 0)
    throw shape_error("make_view: null pointer for a non-empty " + shape_text(rows, cols) +
                      " view");
  return matrix_view<T, Space>(ptr, rows, cols, row_stride, col_stride);
}

/// A contiguous row-major rows x cols view of ptr (row stride = cols), checked as above.
template <class Space = host_space, class T>
matrix_view<T, Space> make_view(T* ptr, index_t rows, index_t cols) {
  return make_view<Space>(ptr, rows, cols, cols, 1);
}

}  // namespace pollard
