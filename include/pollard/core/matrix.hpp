// pollard — a small owning row-major matrix: the value type returned where a view cannot be.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard {

/// rows x cols values of T in one contiguous row-major buffer; element (i, j) at
/// data()[i * cols + j]. A new matrix is value-initialised (zeros). view() gives the
/// matrix_view every pollard routine takes; it stays valid until the matrix is resized,
/// moved from or destroyed.
template <class T>
class matrix {
 public:
  using value_type = T;

  matrix() = default;
  matrix(index_t rows, index_t cols) : rows_(rows), cols_(cols) {
    if (rows < 0 || cols < 0) throw shape_error("matrix: negative shape");
    values_.resize(static_cast<std::size_t>(rows * cols));
  }
  /// Takes `values` (row-major, rows * cols of them).
  matrix(index_t rows, index_t cols, std::vector<T> values)
      : rows_(rows), cols_(cols), values_(std::move(values)) {
    if (rows < 0 || cols < 0) throw shape_error("matrix: negative shape");
    if (values_.size() != static_cast<std::size_t>(rows * cols))
      throw shape_error("matrix: " + std::to_string(values_.size()) + " values cannot fill " +
                        shape_text(rows, cols));
  }

  index_t rows() const noexcept { return rows_; }
  index_t cols() const noexcept { return cols_; }
  index_t size() const noexcept { return rows_ * cols_; }
  bool empty() const noexcept { return size() == 0; }

  T* data() noexcept { return values_.data(); }
  const T* data() const noexcept { return values_.data(); }
  /// The row-major buffer itself.
  const std::vector<T>& values() const noexcept { return values_; }
  std::vector<T>& values() noexcept { return values_; }

  T& operator()(index_t i, index_t j) noexcept {
    return values_[static_cast<std::size_t>(i * cols_ + j)];
  }
  const T& operator()(index_t i, index_t j) const noexcept {
    return values_[static_cast<std::size_t>(i * cols_ + j)];
  }

  matrix_view<T> view() noexcept { return {values_.data(), rows_, cols_}; }
  matrix_view<const T> view() const noexcept { return {values_.data(), rows_, cols_}; }

  bool operator==(const matrix&) const = default;

 private:
  index_t rows_ = 0;
  index_t cols_ = 0;
  std::vector<T> values_;
};

/// pollard::view(m) of a matrix (the free-function tier of the viewable concept).
template <class T>
matrix_view<T> pollard_view(matrix<T>& m) noexcept {
  return m.view();
}
template <class T>
matrix_view<const T> pollard_view(const matrix<T>& m) noexcept {
  return m.view();
}

}  // namespace pollard
