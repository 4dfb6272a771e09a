// pollard — streaming, mergeable per-input-channel moments of calibration activations.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/stats/normalisation.hpp"

namespace pollard {

/// Per input channel j of activations X [tokens x channels]: the count, Σ_t x_tj and Σ_t x_tj²
/// (accumulated in Acc), plus mean and M2 = Σ_t (x_tj − mean_j)² kept with Chan's parallel
/// update so that variance() stays accurate when |mean| ≫ std. Merging two statistics gives
/// exactly the statistics of the union of their batches (sums and counts add).
template <class Acc = double>
class moment_statistics {
  static_assert(compute_type<Acc>, "moment_statistics: Acc must be float or double");

 public:
  using value_type = Acc;

  explicit moment_statistics(index_t channels) : channels_(channels) {
    if (channels < 0) throw shape_error("moment_statistics: negative channel count");
    const auto n = static_cast<std::size_t>(channels);
    sum_.assign(n, Acc(0));
    sum_sq_.assign(n, Acc(0));
    mean_.assign(n, Acc(0));
    m2_.assign(n, Acc(0));
  }

  /// Adds one batch X [tokens x channels] (any strides, any storage type) that holds `sequences`
  /// calibration sequences (0 for a chunk of a sequence already counted). Throws shape_error on a
  /// width mismatch, non_finite_error naming the element on NaN/Inf; nothing changes on a throw.
  template <class T>
  void accumulate(matrix_view<T> x, index_t sequences = 1) {
    using value = std::remove_const_t<T>;
    static_assert(storage_type<value>,
                  "moment_statistics: X must be float, double, half or bfloat16");
    const matrix_view<const value> cx = x;
    if (cx.cols() != channels_)
      throw shape_error("moment_statistics: batch is " + shape_text(cx) +
                        " but the statistics have " + std::to_string(channels_) + " channels");
    if (sequences < 0)
      throw option_error("moment_statistics: sequences must be >= 0, got " +
                         std::to_string(sequences));
    require_finite(cx, "moment_statistics", "x");
    const index_t b = cx.rows();
    if (b > 0) {
      const auto n = static_cast<std::size_t>(channels_);
      std::vector<Acc> s(n, Acc(0)), q(n, Acc(0)), d(n, Acc(0)), d2(n, Acc(0));
      // Pass 1: raw sums. Pass 2: deviations from the batch mean (corrected two-pass form).
      for_each(cx, [&](index_t, index_t j, Acc v) {
        s[static_cast<std::size_t>(j)] += v;
        q[static_cast<std::size_t>(j)] += v * v;
      });
      const Acc bn = static_cast<Acc>(b);
      std::vector<Acc> batch_mean(n);
      for (std::size_t j = 0; j < n; ++j) batch_mean[j] = s[j] / bn;
      for_each(cx, [&](index_t, index_t j, Acc v) {
        const auto k = static_cast<std::size_t>(j);
        const Acc dev = v - batch_mean[k];
        d[k] += dev;
        d2[k] += dev * dev;
      });
      // Finite values can still be too large for Acc's sums (or, converted to Acc, become
      // infinite): refused before anything changes. M2 <= Σx², so the sums of squares bound it.
      for (std::size_t j = 0; j < n; ++j)
        if (!std::isfinite(s[j]) || !std::isfinite(d2[j]) || !std::isfinite(sum_sq_[j] + q[j]))
          throw non_finite_error("moment_statistics: the values of channel " + std::to_string(j) +
                                 " are too large for " +
                                 (std::is_same_v<Acc, float> ? "float" : "double") +
                                 " sums (the sum of their squares would be infinite)");
      for (std::size_t j = 0; j < n; ++j) {
        const Acc bm = batch_mean[j] + d[j] / bn;
        const Acc bm2 = d2[j] - d[j] * d[j] / bn;
        combine(j, b, bm, bm2 < Acc(0) ? Acc(0) : bm2);
        sum_[j] += s[j];
        sum_sq_[j] += q[j];
      }
      tokens_ += b;
    }
    sequences_ += sequences;
  }

  /// Adds other's samples to these (the result equals accumulating both sets of batches here).
  void merge(const moment_statistics& other) {
    if (other.channels_ != channels_)
      throw shape_error("moment_statistics: cannot merge statistics of " +
                        std::to_string(other.channels_) + " channels into " +
                        std::to_string(channels_) + " channels");
    if (other.tokens_ > 0)
      for (std::size_t j = 0; j < sum_.size(); ++j) {
        combine(j, other.tokens_, other.mean_[j], other.m2_[j]);
        sum_[j] += other.sum_[j];
        sum_sq_[j] += other.sum_sq_[j];
      }
    tokens_ += other.tokens_;
    sequences_ += other.sequences_;
  }

  index_t channels() const noexcept { return channels_; }
  index_t tokens() const noexcept { return tokens_; }
  index_t sequences() const noexcept { return sequences_; }
  bool empty() const noexcept { return tokens_ == 0; }

  /// Σ_t x_tj (0 before any sample).
  Acc sum(index_t j) const { return sum_[checked(j, "sum")]; }
  /// Σ_t x_tj² (0 before any sample).
  Acc sum_squares(index_t j) const { return sum_sq_[checked(j, "sum_squares")]; }
  /// Mean over tokens of channel j.
  Acc mean(index_t j) const {
    const auto k = checked(j, "mean");
    require_samples("mean");
    return mean_[k];
  }
  /// Population variance over tokens, Σ_t (x_tj − mean_j)² / tokens (divides by T, not T − 1).
  Acc variance(index_t j) const {
    const auto k = checked(j, "variance");
    require_samples("variance");
    return m2_[k] / static_cast<Acc>(tokens_);
  }
  /// Wanda's activation statistic ‖x_j‖² / N (the reference's `scaler_row`; = diag(H)/2).
  Acc sq_norm_per_sample(index_t j, normalisation n = normalisation::by_sequences) const {
    const auto k = checked(j, "sq_norm_per_sample");
    return sum_sq_[k] / divisor(n);
  }
  /// sq_norm_per_sample(j) for every channel, converted to T.
  template <class T = Acc>
  std::vector<T> sq_norms_per_sample(normalisation n = normalisation::by_sequences) const {
    const Acc div = divisor(n);
    std::vector<T> out(sum_sq_.size());
    for (std::size_t j = 0; j < out.size(); ++j) out[j] = static_cast<T>(sum_sq_[j] / div);
    return out;
  }
  /// Σ_t x_tj / N for every channel, N counted in sequences (default) or tokens: with sequences,
  /// DSnoT's reference statistic `sum_metric_row` (the per-token mean times the tokens per
  /// sequence).
  template <class T = Acc>
  std::vector<T> sums_per_sample(normalisation n = normalisation::by_sequences) const {
    const Acc div = divisor(n);
    std::vector<T> out(sum_.size());
    for (std::size_t j = 0; j < out.size(); ++j) out[j] = static_cast<T>(sum_[j] / div);
    return out;
  }
  /// mean(j) for every channel.
  std::vector<Acc> means() const {
    require_samples("mean");
    return mean_;
  }
  /// variance(j) for every channel.
  std::vector<Acc> variances() const {
    require_samples("variance");
    std::vector<Acc> out(m2_.size());
    for (std::size_t j = 0; j < out.size(); ++j) out[j] = m2_[j] / static_cast<Acc>(tokens_);
    return out;
  }

 private:
  // Visits x in the order of its smaller stride, handing f (row, col, value as Acc).
  template <class T, class F>
  static void for_each(matrix_view<const T> x, F&& f) {
    if (x.col_stride() <= x.row_stride()) {
      for (index_t i = 0; i < x.rows(); ++i)
        for (index_t j = 0; j < x.cols(); ++j) f(i, j, to_compute<Acc>(x(i, j)));
    } else {
      for (index_t j = 0; j < x.cols(); ++j)
        for (index_t i = 0; i < x.rows(); ++i) f(i, j, to_compute<Acc>(x(i, j)));
    }
  }

  // Chan et al.'s pairwise update of (mean, M2) with a block of nb samples.
  void combine(std::size_t j, index_t nb, Acc mean_b, Acc m2_b) {
    const Acc na = static_cast<Acc>(tokens_);
    const Acc nbb = static_cast<Acc>(nb);
    const Acc n = na + nbb;
    const Acc delta = mean_b - mean_[j];
    mean_[j] += delta * (nbb / n);
    m2_[j] += m2_b + delta * delta * (na * nbb / n);
  }

  std::size_t checked(index_t j, const char* what) const {
    if (j < 0 || j >= channels_)
      throw shape_error(std::string("moment_statistics: ") + what + "(" + std::to_string(j) +
                        ") is outside the " + std::to_string(channels_) + " channels");
    return static_cast<std::size_t>(j);
  }
  void require_samples(const char* what) const {
    if (tokens_ == 0)
      throw empty_statistics_error(std::string("moment_statistics: ") + what +
                                   " asked before any token was accumulated");
  }
  Acc divisor(normalisation n) const {
    require_samples("sq_norm_per_sample");
    if (n == normalisation::by_tokens) return static_cast<Acc>(tokens_);
    if (sequences_ == 0)
      throw empty_statistics_error(
          "moment_statistics: sq_norm_per_sample normalised by sequences, but no sequence was "
          "counted (accumulate(x, sequences) with sequences = 0 only)");
    return static_cast<Acc>(sequences_);
  }

  index_t channels_ = 0;
  index_t tokens_ = 0;
  index_t sequences_ = 0;
  std::vector<Acc> sum_, sum_sq_, mean_, m2_;
};

}  // namespace pollard
