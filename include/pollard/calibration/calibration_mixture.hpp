// pollard — a weighted mixture of calibration sources.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "pollard/calibration/calibration_batch.hpp"
#include "pollard/calibration/calibration_source.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/number_text.hpp"

namespace pollard {

namespace detail {

/// The weights divided by the power of two nearest below the largest (exact, so every ratio
/// and every rounding below is that of the weights as given), so that neither their sum nor
/// n · w overflows a double for weights up to 1.8e308; and the exponent divided out.
inline std::pair<std::vector<double>, int> scaled_weights(const std::vector<double>& weights) {
  double largest = 0.0;
  for (const double w : weights) largest = std::max(largest, w);
  const int exponent = largest > 0.0 && std::isfinite(largest) ? std::ilogb(largest) : 0;
  std::vector<double> scaled;
  for (const double w : weights) scaled.push_back(std::ldexp(w, -exponent));
  return {std::move(scaled), exponent};
}

}  // namespace detail

/// How many of n sequences each of several sources with `weights` (finite, > 0) gives:
/// round-by-largest-remainder(n · w_k / Σw), ties to the earlier source. Weights up to a
/// double's largest are taken as they are (1e308 and 1e308 are an even split).
inline std::vector<index_t> mixture_counts(const std::vector<double>& weights, index_t n) {
  const std::vector<double> scaled = detail::scaled_weights(weights).first;
  double total = 0.0;
  for (const double w : scaled) total += w;
  std::vector<index_t> out(weights.size());
  std::vector<double> remainder(weights.size());
  index_t given = 0;
  for (std::size_t k = 0; k < weights.size(); ++k) {
    const double exact = static_cast<double>(n) * scaled[k] / total;
    out[k] = static_cast<index_t>(std::floor(exact));
    remainder[k] = exact - static_cast<double>(out[k]);
    given += out[k];
  }
  for (; given < n && !weights.empty(); ++given) {
    std::size_t best = 0;
    for (std::size_t k = 1; k < weights.size(); ++k)
      if (remainder[k] > remainder[best]) best = k;
    ++out[best];
    remainder[best] = -1.0;
  }
  return out;
}

/// option_error when a draw of n sequences would give a source of the mixture none (its weight
/// too small against the others', or n smaller than the number of sources), naming the source
/// (`names[k]`) and its weight: a source that was asked for is never dropped without a word.
inline void refuse_empty_mixture_parts(const std::vector<std::string>& names,
                                       const std::vector<double>& weights, index_t n) {
  if (weights.size() < 2 || n <= 0) return;
  const auto c = mixture_counts(weights, n);
  const auto [scaled, exponent] = detail::scaled_weights(weights);
  double total = 0.0;
  for (const double w : scaled) total += w;
  total = std::ldexp(total, exponent);
  const std::string total_text = std::isfinite(total) ? format_number(total) : "more than 1.8e308";
  for (std::size_t k = 0; k < c.size(); ++k)
    if (c[k] == 0)
      throw option_error("calibration mixture: " + names[k] + " (weight " +
                         format_number(weights[k]) + " of " + total_text +
                         " in all) would get 0 of the " + std::to_string(n) +
                         " sequences drawn; raise its weight, draw more sequences or leave it "
                         "out");
}

/// Draws from several sources in proportion to their weights: source k gets
/// round-by-largest-remainder(n · w_k / Σw) sequences (ties to the earlier source), drawn with
/// seed + k so each part is reproducible on its own; parts follow each other in the order the
/// sources were added. A draw that would give a source no sequence is refused
/// (refuse_empty_mixture_parts). A mixture is itself a calibration_source.
class calibration_mixture {
 public:
  /// Adds `source` (copied) with weight w > 0 (option_error otherwise).
  template <calibration_source S>
  calibration_mixture& add(double weight, S source) {
    if (!(std::isfinite(weight) && weight > 0.0))
      throw option_error("calibration mixture: weights must be finite and > 0, got " +
                         format_number(weight));
    parts_.push_back({weight, source.describe(),
                      [s = std::move(source)](index_t n, index_t length, std::uint64_t seed) {
                        return s.draw(n, length, seed);
                      }});
    return *this;
  }

  std::size_t size() const noexcept { return parts_.size(); }

  /// The number of sequences each source contributes to a draw of n.
  std::vector<index_t> counts(index_t n) const {
    std::vector<double> weights;
    for (const auto& p : parts_) weights.push_back(p.weight);
    return mixture_counts(weights, n);
  }

  calibration_batch draw(index_t n, index_t length, std::uint64_t seed) const {
    detail::check_draw_request("calibration mixture", n, length);
    if (parts_.empty()) throw option_error("calibration mixture: no sources were added");
    std::vector<double> weights;
    std::vector<std::string> names;
    for (const auto& p : parts_) {
      weights.push_back(p.weight);
      names.push_back(p.description);
    }
    refuse_empty_mixture_parts(names, weights, n);
    const auto c = counts(n);
    calibration_batch out;
    out.length = length;
    for (std::size_t k = 0; k < parts_.size(); ++k)
      if (c[k] > 0) out.append(parts_[k].draw(c[k], length, seed + k));
    return out;
  }

  std::string describe() const {
    std::string out = "mixture of";
    for (const auto& p : parts_) out += " [" + format_number(p.weight) + ": " + p.description + "]";
    return out;
  }

 private:
  struct part {
    double weight;
    std::string description;
    std::function<calibration_batch(index_t, index_t, std::uint64_t)> draw;
  };
  std::vector<part> parts_;
};

}  // namespace pollard
