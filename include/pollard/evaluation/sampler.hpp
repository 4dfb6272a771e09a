// pollard — seeded next-token sampling: greedy, temperature, top-k, top-p, repetition penalty.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/token_id.hpp"

namespace pollard::evaluation {

struct sampler_options {
  float temperature = 1.0f;  ///< 0 = greedy (argmax, the lowest id on ties)
  index_t top_k = 0;         ///< keep the k largest logits (ties at the k-th all kept); 0 = off
  float top_p = 1.0f;        ///< nucleus mass in (0, 1]; 1 = off
  float repetition_penalty = 1.0f;  ///< CTRL rule on tokens already seen; 1 = off
  std::uint64_t seed = 0;
};

/// Picks the next token from logits. The steps, in order:
///  1. repetition penalty (CTRL / Hugging Face): for each distinct id in `history`, a positive
///     logit is divided by the penalty, a negative one multiplied by it;
///  2. temperature 0: the argmax; otherwise logits / temperature;
///  3. top-k: keep logits >= the k-th largest;
///  4. softmax (double precision) over the kept tokens;
///  5. top-p: sort kept tokens by probability (descending, lower id first on ties), keep the
///     shortest prefix whose mass reaches top_p, renormalise;
///  6. draw u = (g() >> 11) * 2^-53 in [0, 1) from std::mt19937_64 g(seed) and return the first
///     id, in ascending id order, whose cumulative probability exceeds u.
/// The same seed, logits and history give the same tokens on every platform.
class sampler {
 public:
  explicit sampler(sampler_options options = {}) : options_(options), rng_(options.seed) {
    if (!(options.temperature >= 0.0f) || !std::isfinite(options.temperature))
      throw option_error("sampler: temperature must be finite and >= 0, got " +
                         std::to_string(options.temperature));
    if (options.top_k < 0)
      throw option_error("sampler: top_k must be >= 0, got " + std::to_string(options.top_k));
    if (!(options.top_p > 0.0f && options.top_p <= 1.0f))
      throw option_error("sampler: top_p must be in (0, 1], got " + std::to_string(options.top_p));
    if (!(options.repetition_penalty > 0.0f) || !std::isfinite(options.repetition_penalty))
      throw option_error("sampler: repetition_penalty must be finite and > 0, got " +
                         std::to_string(options.repetition_penalty));
  }

  const sampler_options& options() const noexcept { return options_; }

  /// Logits after the repetition penalty (step 1). Throws non_finite_error on a NaN logit.
  std::vector<float> penalised(std::span<const float> logits,
                               std::span<const token_id> history) const {
    if (logits.empty()) throw shape_error("sampler: no logits");
    std::vector<float> l(logits.begin(), logits.end());
    for (std::size_t i = 0; i < l.size(); ++i)
      if (std::isnan(l[i]))
        throw non_finite_error("sampler: logit " + std::to_string(i) + " is NaN");
    if (options_.repetition_penalty != 1.0f) {
      std::vector<bool> seen(l.size(), false);
      for (token_id t : history) {
        if (t < 0 || static_cast<std::size_t>(t) >= l.size() || seen[static_cast<std::size_t>(t)])
          continue;
        seen[static_cast<std::size_t>(t)] = true;
        float& v = l[static_cast<std::size_t>(t)];
        v = v > 0.0f ? v / options_.repetition_penalty : v * options_.repetition_penalty;
      }
    }
    return l;
  }

  /// The distribution the next token is drawn from (steps 1 and 3-5); temperature must be > 0.
  std::vector<double> distribution(std::span<const float> logits,
                                   std::span<const token_id> history) const {
    if (options_.temperature == 0.0f)
      throw option_error("sampler: greedy sampling (temperature 0) has no distribution");
    std::vector<float> l = penalised(logits, history);
    const std::size_t n = l.size();
    std::vector<double> z(n);
    for (std::size_t i = 0; i < n; ++i)
      z[i] = static_cast<double>(l[i]) / static_cast<double>(options_.temperature);
    std::vector<bool> kept(n, true);
    if (options_.top_k > 0 && static_cast<std::size_t>(options_.top_k) < n) {
      std::vector<double> sorted = z;
      const auto k = static_cast<std::ptrdiff_t>(options_.top_k);
      std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end(),
                       std::greater<double>());
      const double threshold = sorted[static_cast<std::size_t>(k - 1)];
      for (std::size_t i = 0; i < n; ++i) kept[i] = z[i] >= threshold;
    }
    double mx = -std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < n; ++i)
      if (kept[i]) mx = std::max(mx, z[i]);
    std::vector<double> p(n, 0.0);
    if (mx == -std::numeric_limits<double>::infinity()) {
      // Every kept logit is -inf: uniform over them.
      for (std::size_t i = 0; i < n; ++i) p[i] = kept[i] ? 1.0 : 0.0;
    } else {
      for (std::size_t i = 0; i < n; ++i) p[i] = kept[i] ? std::exp(z[i] - mx) : 0.0;
    }
    normalise(p);
    if (options_.top_p < 1.0f) {
      std::vector<std::size_t> order(n);
      std::iota(order.begin(), order.end(), std::size_t{0});
      std::stable_sort(order.begin(), order.end(),
                       [&](std::size_t a, std::size_t b) { return p[a] > p[b]; });
      double mass = 0.0;
      std::size_t keep = 0;
      while (keep < n && p[order[keep]] > 0.0) {
        mass += p[order[keep]];
        ++keep;
        if (mass >= static_cast<double>(options_.top_p)) break;
      }
      for (std::size_t i = std::max<std::size_t>(keep, 1); i < n; ++i) p[order[i]] = 0.0;
      normalise(p);
    }
    return p;
  }

  /// The next token; advances the generator unless greedy.
  token_id sample(std::span<const float> logits, std::span<const token_id> history = {}) {
    if (options_.temperature == 0.0f) {
      const std::vector<float> l = penalised(logits, history);
      return static_cast<token_id>(std::max_element(l.begin(), l.end()) - l.begin());
    }
    const std::vector<double> p = distribution(logits, history);
    const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
    double cumulative = 0.0;
    std::size_t last = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
      if (p[i] <= 0.0) continue;
      cumulative += p[i];
      last = i;
      if (u < cumulative) return static_cast<token_id>(i);
    }
    return static_cast<token_id>(last);  // rounding left u at or above the total
  }

 private:
  static void normalise(std::vector<double>& p) {
    double sum = 0.0;
    for (double v : p) sum += v;
    for (double& v : p) v /= sum;
  }

  sampler_options options_;
  std::mt19937_64 rng_;
};

}  // namespace pollard::evaluation
