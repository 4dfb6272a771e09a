// pollard — the streaming, mergeable Gram matrix (layer Hessian) H = (2/N)·Σ_t x_t x_tᵀ.
#pragma once

#include <algorithm>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "pollard/backends/cpu/gram_update.hpp"
#include "pollard/backends/cpu/policy.hpp"
#include "pollard/backends/cpu/require_finite.hpp"
#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/execution_policy.hpp"
#include "pollard/core/matrix.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/core/number_text.hpp"
#include "pollard/stats/moment_statistics.hpp"
#include "pollard/stats/normalisation.hpp"

namespace pollard {

/// Accumulates H = (2/N)·Σ_t x_t x_tᵀ over batches X [tokens x d] with the reference
/// implementations' streaming update: H ← H·n/(n+b); n ← n+b; H ← H + (2/n)·X_bᵀX_b, where n and
/// b count sequences (default) or tokens. Only the lower triangle is computed (a symmetric rank-k
/// update); hessian() returns the full symmetric matrix. Contract: after any accumulate, H is
/// symmetric positive semi-definite up to rounding in Acc.
template <class Acc = float>
class gram_accumulator {
  static_assert(compute_type<Acc>, "gram_accumulator: Acc must be float or double");

 public:
  using value_type = Acc;
  using matrix_type = matrix<Acc>;

  /// Token rows converted per block when X is not Acc with a unit row or column stride.
  static constexpr index_t conversion_block = 256;

  explicit gram_accumulator(index_t channels, normalisation n = normalisation::by_sequences)
      : channels_(channels), normalisation_(n) {
    if (channels < 0) throw shape_error("gram_accumulator: negative channel count");
    h_ = matrix_type(channels, channels);
  }

  /// Adds one batch X [tokens x d] (any strides, any storage type) holding `sequences`
  /// calibration sequences (0 for a further chunk of an already counted sequence). Throws
  /// shape_error on a width mismatch, non_finite_error naming the element on NaN/Inf (and, naming
  /// the largest |x|, when values that large could take H past Acc's range), and option_error
  /// when the batch would leave N = 0; H is unchanged on a throw. The rank-k update
  /// runs on `exec` (its gram_update primitive); the result does not depend on its threads.
  template <execution_policy Exec, class T>
  void accumulate(const Exec& exec, matrix_view<T> x, index_t sequences = 1) {
    using value = std::remove_const_t<T>;
    static_assert(storage_type<value>,
                  "gram_accumulator: X must be float, double, half or bfloat16");
    const matrix_view<const value> cx = x;
    if (cx.cols() != channels_)
      throw shape_error("gram_accumulator: batch is " + shape_text(cx) +
                        " but the accumulator has " + std::to_string(channels_) + " channels");
    if (sequences < 0)
      throw option_error("gram_accumulator: sequences must be >= 0, got " +
                         std::to_string(sequences));
    const index_t b = normalisation_ == normalisation::by_tokens ? cx.rows() : sequences;
    if (samples_ + b == 0) {
      if (cx.rows() == 0) {
        sequences_ += sequences;
        return;
      }
      throw option_error(
          "gram_accumulator: the first batch with tokens must count at least one sequence "
          "(N would be 0)");
    }
    double largest = 0.0;  // max |x|
    if constexpr (std::is_same_v<Exec, cpu::par_t>) {
      largest = cpu::largest_finite_magnitude(exec, cx, "gram_accumulator", "x");
    } else {
      require_finite(cx, "gram_accumulator", "x");
      largest = largest_magnitude(cx);
    }

    const index_t n_new = samples_ + b;
    require_representable(n_new, cx.rows(), largest);
    if (samples_ > 0 && b > 0)
      scale_lower(static_cast<Acc>(static_cast<double>(samples_) / static_cast<double>(n_new)));
    samples_ = n_new;
    tokens_ += cx.rows();
    sequences_ += sequences;
    if (cx.rows() == 0) return;
    const Acc alpha = static_cast<Acc>(2.0 / static_cast<double>(n_new));

    const matrix_view<Acc> h = h_.view();
    if constexpr (std::is_same_v<value, Acc>) {
      if (cx.col_stride() == 1 || cx.row_stride() == 1) {
        gram_update(exec, h, cx, alpha);
        return;
      }
    }
    // Convert blocks of rows into a contiguous row-major block x d buffer in Acc.
    const index_t block = std::min(conversion_block, cx.rows());
    matrix_type buffer(block, channels_);
    for (index_t t0 = 0; t0 < cx.rows(); t0 += block) {
      const index_t nb = std::min(block, cx.rows() - t0);
      for (index_t t = 0; t < nb; ++t)
        for (index_t j = 0; j < channels_; ++j) buffer(t, j) = to_compute<Acc>(cx(t0 + t, j));
      gram_update(exec, h, matrix_view<const Acc>(buffer.data(), nb, channels_), alpha);
    }
  }
  /// The same on all hardware threads (pollard::cpu::par).
  template <class T>
  void accumulate(matrix_view<T> x, index_t sequences = 1) {
    accumulate(cpu::par, x, sequences);
  }

  /// Adds other's samples: the result is the H of the union of both sets of batches.
  void merge(const gram_accumulator& other) {
    if (other.channels_ != channels_)
      throw shape_error("gram_accumulator: cannot merge " + std::to_string(other.channels_) +
                        " channels into " + std::to_string(channels_) + " channels");
    if (other.normalisation_ != normalisation_)
      throw option_error(
          "gram_accumulator: cannot merge accumulators normalised by different units "
          "(sequences vs tokens)");
    const index_t n = samples_ + other.samples_;
    if (n > 0 && other.samples_ > 0) {
      const Acc wa = static_cast<Acc>(static_cast<double>(samples_) / static_cast<double>(n));
      const Acc wb = static_cast<Acc>(static_cast<double>(other.samples_) / static_cast<double>(n));
      for (index_t i = 0; i < channels_; ++i)
        for (index_t j = 0; j <= i; ++j) h_(i, j) = wa * h_(i, j) + wb * other.h_(i, j);
    }
    samples_ = n;
    tokens_ += other.tokens_;
    sequences_ += other.sequences_;
  }

  index_t channels() const noexcept { return channels_; }
  index_t tokens() const noexcept { return tokens_; }
  index_t sequences() const noexcept { return sequences_; }
  /// N: sequences or tokens, as normalised_by() says.
  index_t samples() const noexcept { return samples_; }
  normalisation normalised_by() const noexcept { return normalisation_; }
  bool empty() const noexcept { return tokens_ == 0; }

  /// The full symmetric H (d x d).
  matrix_type hessian() const {
    matrix_type full(channels_, channels_);
    write_hessian(full.view());
    return full;
  }
  /// Writes the full symmetric H into out (d x d, any strides, float or double).
  template <class T>
  void write_hessian(matrix_view<T> out) const {
    static_assert(compute_type<T>, "gram_accumulator: write_hessian needs a float or double view");
    require_samples("hessian");
    if (out.rows() != channels_ || out.cols() != channels_)
      throw shape_error("gram_accumulator: hessian is " + shape_text(channels_, channels_) +
                        " but the output view is " + shape_text(out));
    for (index_t i = 0; i < channels_; ++i)
      for (index_t j = 0; j <= i; ++j) {
        out(i, j) = static_cast<T>(h_(i, j));
        out(j, i) = static_cast<T>(h_(i, j));
      }
  }
  /// diag(H) = (2/N)·Σ_t x_tj² (twice Wanda's ‖x_j‖²/N).
  std::vector<Acc> diagonal() const {
    require_samples("diagonal");
    std::vector<Acc> d(static_cast<std::size_t>(channels_));
    for (index_t j = 0; j < channels_; ++j) d[static_cast<std::size_t>(j)] = h_(j, j);
    return d;
  }
  /// The internal d x d matrix: only its lower triangle (diagonal included) holds H.
  matrix_view<const Acc> lower_triangle() const {
    require_samples("lower_triangle");
    return h_.view();
  }

 private:
  /// Throws non_finite_error, before anything changes, when adding rows x rows of values up to
  /// `largest` in magnitude could take an entry of H past Acc's range: every entry is bounded by
  /// the largest diagonal entry (H is positive semi-definite), which becomes at most
  /// H_ii·n/n_new + (2/n_new)·rows·largest².
  void require_representable(index_t n_new, index_t rows, double largest) const {
    double diagonal = 0.0;
    for (index_t i = 0; i < channels_; ++i)
      diagonal = std::max(diagonal, static_cast<double>(h_(i, i)));
    const double scale =
        samples_ > 0 ? static_cast<double>(samples_) / static_cast<double>(n_new) : 1.0;
    const double bound = diagonal * scale + 2.0 / static_cast<double>(n_new) *
                                                static_cast<double>(rows) * largest * largest;
    if (!(bound <= static_cast<double>(std::numeric_limits<Acc>::max())))
      throw non_finite_error(
          "gram_accumulator: x holds values up to |x| = " + format_number(largest) +
          ", which could take H past the range of its " + std::string(acc_name()) +
          " entries (up to " + format_number(bound) + "); accumulate in double or scale x");
  }
  static constexpr const char* acc_name() noexcept {
    return std::is_same_v<Acc, float> ? "float" : "double";
  }

  void scale_lower(Acc factor) {
    for (index_t i = 0; i < channels_; ++i)
      for (index_t j = 0; j <= i; ++j) h_(i, j) *= factor;
  }

  void require_samples(const char* what) const {
    if (tokens_ == 0)
      throw empty_statistics_error(std::string("gram_accumulator: ") + what +
                                   " asked before any token was accumulated");
  }

  index_t channels_ = 0;
  normalisation normalisation_ = normalisation::by_sequences;
  index_t samples_ = 0;
  index_t tokens_ = 0;
  index_t sequences_ = 0;
  matrix_type h_;
};

}  // namespace pollard
