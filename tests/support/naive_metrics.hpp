// Test support: naive reference implementations of the metrics (plain loops, long double).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "support/random.hpp"

namespace pollard::test {

/// Softmax over a whole logits row, from the definition exp(l_i) / Σ exp(l_j), shifted by the
/// maximum only to stay representable.
inline std::vector<long double> naive_softmax(const std::vector<float>& logits) {
  long double max = logits[0];
  for (float v : logits) max = std::max(max, static_cast<long double>(v));
  std::vector<long double> p(logits.size());
  long double sum = 0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    p[i] = std::exp(static_cast<long double>(logits[i]) - max);
    sum += p[i];
  }
  for (auto& v : p) v /= sum;
  return p;
}

/// Σ a_i log(a_i / b_i), skipping a_i = 0.
inline long double naive_kl(const std::vector<long double>& a, const std::vector<long double>& b) {
  long double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i] > 0) s += a[i] * std::log(a[i] / b[i]);
  return s;
}

/// Jensen–Shannon divergence in nats from its definition.
inline long double naive_js(const std::vector<long double>& p, const std::vector<long double>& q) {
  std::vector<long double> m(p.size());
  for (std::size_t i = 0; i < p.size(); ++i) m[i] = (p[i] + q[i]) / 2;
  return naive_kl(p, m) / 2 + naive_kl(q, m) / 2;
}

/// First index of the largest value.
inline std::size_t naive_argmax(const std::vector<float>& v) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < v.size(); ++i)
    if (v[i] > v[best]) best = i;
  return best;
}

/// Percentile by sorting and interpolating between 1-based ranks 1 + f·(n−1).
inline long double naive_percentile(std::vector<float> values, long double fraction) {
  std::sort(values.begin(), values.end());
  const long double rank = 1 + fraction * static_cast<long double>(values.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(rank));
  if (below >= values.size()) return values.back();
  const long double weight = rank - static_cast<long double>(below);
  return values[below - 1] + weight * (static_cast<long double>(values[below]) - values[below - 1]);
}

inline long double naive_mean(const std::vector<double>& x) {
  long double s = 0;
  for (double v : x) s += v;
  return s / static_cast<long double>(x.size());
}

/// llama.cpp's form: sqrt((mean(x²) − mean(x)²) / (n − 1)).
inline long double naive_standard_error(const std::vector<double>& x) {
  const long double n = static_cast<long double>(x.size());
  long double s = 0, s2 = 0;
  for (double v : x) {
    s += v;
    s2 += static_cast<long double>(v) * v;
  }
  const long double mean = s / n;
  return std::sqrt((s2 / n - mean * mean) / (n - 1));
}

/// ||X·Wᵀ − X·Ŵᵀ||² / ||X·Wᵀ||² with triple loops, outputs formed separately.
template <class T>
long double naive_reconstruction_error(const dense_matrix<T>& w, const dense_matrix<T>& w_hat,
                                       const dense_matrix<T>& x) {
  long double err = 0, ref = 0;
  for (index_t t = 0; t < x.rows; ++t)
    for (index_t i = 0; i < w.rows; ++i) {
      long double y = 0, y_hat = 0;
      for (index_t j = 0; j < w.cols; ++j) {
        y += static_cast<long double>(to_compute<double>(x(t, j))) * to_compute<double>(w(i, j));
        y_hat +=
            static_cast<long double>(to_compute<double>(x(t, j))) * to_compute<double>(w_hat(i, j));
      }
      err += (y - y_hat) * (y - y_hat);
      ref += y * y;
    }
  return err / ref;
}

/// (2/N)·XᵀX with N = `sequences`, in double.
template <class T>
dense_matrix<double> naive_gram(const dense_matrix<T>& x, double sequences) {
  dense_matrix<double> h(x.cols, x.cols);
  for (index_t a = 0; a < x.cols; ++a)
    for (index_t b = 0; b < x.cols; ++b) {
      long double s = 0;
      for (index_t t = 0; t < x.rows; ++t)
        s += static_cast<long double>(to_compute<double>(x(t, a))) * to_compute<double>(x(t, b));
      h(a, b) = static_cast<double>(2 * s / sequences);
    }
  return h;
}

}  // namespace pollard::test
