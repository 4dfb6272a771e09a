// Test support: plain-loop double-precision references for the pruning criteria (row-major output).
#pragma once

#include <cmath>
#include <vector>

#include "pollard/core/element_types.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard::test {

template <class W>
double naive_weight(matrix_view<W> w, index_t i, index_t j) {
  return to_compute<double>(static_cast<std::remove_const_t<W>>(w(i, j)));
}

/// |W_ij|.
template <class W>
std::vector<double> naive_magnitude(matrix_view<W> w) {
  std::vector<double> s;
  for (index_t i = 0; i < w.rows(); ++i)
    for (index_t j = 0; j < w.cols(); ++j) s.push_back(std::fabs(naive_weight(w, i, j)));
  return s;
}

/// |W_ij| · sqrt(sq_j).
template <class W>
std::vector<double> naive_wanda(matrix_view<W> w, const std::vector<double>& sq) {
  std::vector<double> s;
  for (index_t i = 0; i < w.rows(); ++i)
    for (index_t j = 0; j < w.cols(); ++j)
      s.push_back(std::fabs(naive_weight(w, i, j)) * std::sqrt(sq[static_cast<std::size_t>(j)]));
  return s;
}

/// The reference RIA expression taken literally: (|W|/colsum + |W|/rowsum) · sqrt(sq)^a, so an
/// entry of an all-zero row or column is 0/0 = NaN, as in the reference.
template <class W>
std::vector<double> naive_ria(matrix_view<W> w, const std::vector<double>& sq, double a) {
  std::vector<double> s;
  for (index_t i = 0; i < w.rows(); ++i)
    for (index_t j = 0; j < w.cols(); ++j) {
      double col = 0.0, row = 0.0;
      for (index_t k = 0; k < w.rows(); ++k) col += std::fabs(naive_weight(w, k, j));
      for (index_t k = 0; k < w.cols(); ++k) row += std::fabs(naive_weight(w, i, k));
      const double v = std::fabs(naive_weight(w, i, j));
      s.push_back((v / col + v / row) * std::pow(std::sqrt(sq[static_cast<std::size_t>(j)]), a));
    }
  return s;
}

/// W_ij² / d_j².
template <class W>
std::vector<double> naive_obs(matrix_view<W> w, const std::vector<double>& d) {
  std::vector<double> s;
  for (index_t i = 0; i < w.rows(); ++i)
    for (index_t j = 0; j < w.cols(); ++j) {
      const double v = naive_weight(w, i, j);
      const double dj = d[static_cast<std::size_t>(j)];
      s.push_back(v * v / (dj * dj));
    }
  return s;
}

}  // namespace pollard::test
