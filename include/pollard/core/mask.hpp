// pollard — a pruning mask: which weights of a d_out x d_in matrix are kept and which are pruned.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard {

/// Dense row-major prune flags; a new mask keeps everything. Polarity, in memory and in every
/// file pollard writes (io::write_npy of a mask): 1 = pruned, 0 = kept — the reference
/// implementations' W_mask (W[W_mask] = 0).
class mask {
 public:
  mask() = default;
  mask(index_t rows, index_t cols) : rows_(rows), cols_(cols) {
    if (rows < 0 || cols < 0) throw shape_error("mask: negative shape");
    pruned_.assign(static_cast<std::size_t>(rows * cols), 0);
  }

  index_t rows() const noexcept { return rows_; }
  index_t cols() const noexcept { return cols_; }
  index_t size() const noexcept { return rows_ * cols_; }

  bool pruned(index_t i, index_t j) const noexcept { return pruned_[offset(i, j)] != 0; }
  bool kept(index_t i, index_t j) const noexcept { return !pruned(i, j); }
  void prune(index_t i, index_t j) noexcept { pruned_[offset(i, j)] = 1; }
  void keep(index_t i, index_t j) noexcept { pruned_[offset(i, j)] = 0; }
  void set_pruned(index_t i, index_t j, bool value) noexcept {
    pruned_[offset(i, j)] = value ? 1 : 0;
  }

  /// Number of pruned entries in row i.
  index_t pruned_in_row(index_t i) const noexcept {
    index_t n = 0;
    for (index_t j = 0; j < cols_; ++j) n += pruned(i, j) ? 1 : 0;
    return n;
  }
  index_t pruned_count() const noexcept {
    index_t n = 0;
    for (auto flag : pruned_) n += flag;
    return n;
  }
  index_t kept_count() const noexcept { return size() - pruned_count(); }
  /// Fraction of entries pruned (0 for an empty mask).
  double sparsity() const noexcept {
    return size() == 0 ? 0.0 : static_cast<double>(pruned_count()) / static_cast<double>(size());
  }

  bool operator==(const mask&) const = default;

  /// Raw flags (1 = pruned), row-major.
  const std::vector<std::uint8_t>& flags() const noexcept { return pruned_; }
  /// Raw flags (1 = pruned), row-major, writable: for policies that fill a mask in bulk.
  std::uint8_t* data() noexcept { return pruned_.data(); }

 private:
  std::size_t offset(index_t i, index_t j) const noexcept {
    return static_cast<std::size_t>(i * cols_ + j);
  }

  index_t rows_ = 0;
  index_t cols_ = 0;
  std::vector<std::uint8_t> pruned_;
};

/// Sets the pruned entries of w to zero. Throws shape_error when the shapes differ.
template <class T>
void apply_mask(const mask& m, matrix_view<T, host_space> w) {
  require_same_shape("apply_mask", "mask", m.rows(), m.cols(), "weights", w.rows(), w.cols());
  for (index_t i = 0; i < w.rows(); ++i)
    for (index_t j = 0; j < w.cols(); ++j)
      if (m.pruned(i, j)) w(i, j) = T{};
}

}  // namespace pollard
