// Test support for the solver tests: seeded layers with calibration inputs and their Hessians.
#pragma once

#include <cmath>
#include <vector>

#include "support/naive_solvers.hpp"
#include "support/random.hpp"

namespace pollard::test {

/// A layer W (d_out x d_in), calibration inputs X (tokens x d_in) and H = (2/N)·XᵀX.
template <class T>
struct layer_problem {
  dense_matrix<T> w;
  dense_matrix<T> x;
  dense_matrix<T> h;
  naive::dmat h_exact;  // H in double, from X
};

/// Inputs mixed through a random matrix so that channels correlate (OBS updates matter), with
/// the listed input channels identically zero (dead) and the listed channels scaled up.
template <class T>
layer_problem<T> make_layer(index_t d_out, index_t d_in, index_t tokens, std::uint64_t seed,
                            const std::vector<index_t>& dead = {},
                            const std::vector<index_t>& outliers = {}, double outlier_scale = 1) {
  layer_problem<T> p;
  p.w = random_normal<T>(d_out, d_in, seed);
  const auto z = random_normal<double>(tokens, d_in, seed + 1000);
  const auto mix = random_normal<double>(d_in, d_in, seed + 2000);
  p.x = dense_matrix<T>(tokens, d_in);
  for (index_t t = 0; t < tokens; ++t)
    for (index_t j = 0; j < d_in; ++j) {
      double v = z(t, j);
      for (index_t k = 0; k < std::min<index_t>(d_in, 4); ++k)
        v += 0.5 * z(t, (j + k + 1) % d_in) * mix(j, k);
      p.x(t, j) = static_cast<T>(v);
    }
  for (index_t j : outliers)
    for (index_t t = 0; t < tokens; ++t) p.x(t, j) = static_cast<T>(p.x(t, j) * outlier_scale);
  for (index_t j : dead)
    for (index_t t = 0; t < tokens; ++t) p.x(t, j) = T(0);
  p.h_exact = naive::hessian(p.x);
  p.h = dense_matrix<T>(d_in, d_in);
  for (std::size_t k = 0; k < p.h.values.size(); ++k)
    p.h.values[k] = static_cast<T>(p.h_exact.values[k]);
  return p;
}

/// max |a − b| / max |b|.
template <class A>
double max_relative_difference(const dense_matrix<A>& a, const naive::dmat& b) {
  double diff = 0.0, scale = 0.0;
  for (std::size_t k = 0; k < b.values.size(); ++k) {
    diff = std::max(diff, std::abs(static_cast<double>(a.values[k]) - b.values[k]));
    scale = std::max(scale, std::abs(b.values[k]));
  }
  return diff / scale;
}

}  // namespace pollard::test
