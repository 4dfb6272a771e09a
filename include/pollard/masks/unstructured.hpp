// pollard — unstructured mask policy: prune a fraction s of the scores within a comparison group.
#pragma once

#include <cmath>
#include <string>

#include "pollard/backends/cpu/policy.hpp"
#include "pollard/backends/cpu/select_lowest.hpp"
#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/execution_policy.hpp"
#include "pollard/core/mask.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/masks/mask_policy.hpp"
#include "pollard/masks/score_checks.hpp"

namespace pollard {

/// Comparison group: each row on its own (Wanda's default).
struct per_row_t {};
inline constexpr per_row_t per_row{};

/// Comparison group: the whole matrix (RIA's default, magnitude's usual choice).
struct per_matrix_t {};
inline constexpr per_matrix_t per_matrix{};

/// Comparison group: all rows of each block of `width` consecutive columns (SparseGPT); the
/// last block is narrower when width does not divide d_in.
struct per_column_block {
  index_t width = 128;
};

/// Unstructured pruning: in every comparison group of n scores, prune the floor(n * s) lowest.
/// Ties are ranked as a stable ascending sort ranks them: among equal scores the one earlier in
/// the group (lower column index in a row; lower row-major position in a matrix or column block)
/// is pruned first. Selection is linear-time (radix selection), not a sort.
///
///   pollard::unstructured{0.5}                            // per row
///   pollard::unstructured{0.5, pollard::per_matrix}
///   pollard::unstructured{0.5, pollard::per_column_block{128}}
class unstructured : public detail::default_execution<unstructured> {
 public:
  using detail::default_execution<unstructured>::select;
  enum class group { row, matrix, column_block };

  /// Throws option_error unless 0 <= sparsity < 1.
  explicit unstructured(double sparsity, per_row_t = per_row)
      : sparsity_(checked(sparsity)), group_(group::row) {}
  unstructured(double sparsity, per_matrix_t)
      : sparsity_(checked(sparsity)), group_(group::matrix) {}
  /// Also throws option_error unless block.width > 0.
  unstructured(double sparsity, per_column_block block)
      : sparsity_(checked(sparsity)), group_(group::column_block), width_(block.width) {
    if (width_ <= 0)
      throw option_error("unstructured: column block width must be positive, got " +
                         std::to_string(width_));
  }

  double sparsity() const noexcept { return sparsity_; }
  group comparison_group() const noexcept { return group_; }
  /// Column block width (0 unless the group is column_block).
  index_t block_width() const noexcept { return width_; }

  /// The mask pruning floor(n * s) lowest scores of every group, on `exec`'s backend.
  /// non_finite_error on a NaN or -inf score; +inf means "always keep": it ranks above every
  /// finite score, so it is pruned only when a group must prune more entries than it has finite
  /// ones, and then by position (the earlier first).
  template <execution_policy Exec, class T>
  requires storage_type<std::remove_cv_t<T>> mask select(const Exec& exec,
                                                         matrix_view<T, host_space> scores)
  const {
    using value_type = std::remove_cv_t<T>;
    const matrix_view<const value_type, host_space> s = scores;
    mask out(s.rows(), s.cols());
    const auto prune_count = [this](index_t n) { return count(n); };
    switch (group_) {
      case group::row:
        select_lowest(exec, who, s, 1, s.cols(), prune_count, out);
        break;
      case group::matrix:
        select_lowest(exec, who, s, s.rows(), s.cols(), prune_count, out);
        break;
      case group::column_block:
        select_lowest(exec, who, s, s.rows(), width_, prune_count, out);
        break;
    }
    return out;
  }

 private:
  static constexpr const char* who = "unstructured";

  static double checked(double sparsity) {
    require_in_range(who, "sparsity", sparsity, 0.0, 1.0);
    return sparsity;
  }
  // floor(n * s) computed in double, as the reference implementations do (int(n * s)).
  index_t count(index_t n) const noexcept {
    return static_cast<index_t>(std::floor(static_cast<double>(n) * sparsity_));
  }

  double sparsity_;
  group group_;
  index_t width_ = 0;
};

}  // namespace pollard
