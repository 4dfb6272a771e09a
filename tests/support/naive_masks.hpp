// Test support: naive reference mask policies and layer allocation (plain loops and full stable
// sorts of (score, position) pairs, written from the reference implementations' rules (Wanda's
// prune.py, SparseGPT's sparsegpt.py, OWL's outlier ratio) without the library's code).
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "pollard/core/element_types.hpp"
#include "pollard/core/mask.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard::test {

/// One entry of a comparison group: its score and where it sits in the matrix.
struct naive_entry {
  double score;
  index_t row;
  index_t col;
};

/// int(n * s), as the reference implementations count the weights to prune.
inline index_t naive_prune_count(index_t n, double sparsity) {
  return static_cast<index_t>(static_cast<double>(n) * sparsity);
}

/// Stable-sorts the group ascending by score (so equal scores keep group order) and prunes the
/// first k entries.
inline void naive_prune_lowest(std::vector<naive_entry> group, index_t k, mask& out) {
  std::stable_sort(group.begin(), group.end(),
                   [](const naive_entry& a, const naive_entry& b) { return a.score < b.score; });
  for (index_t t = 0; t < k; ++t) {
    const auto& e = group[static_cast<std::size_t>(t)];
    out.prune(e.row, e.col);
  }
}

/// Score (i, j) as a double (16-bit types through float, exactly).
template <class T>
double naive_score(matrix_view<T> scores, index_t i, index_t j) {
  return to_compute<double>(scores(i, j));
}

/// Each row: prune the int(d_in * s) lowest, ties by lower column first.
template <class T>
mask naive_per_row(matrix_view<T> scores, double sparsity) {
  mask out(scores.rows(), scores.cols());
  for (index_t i = 0; i < scores.rows(); ++i) {
    std::vector<naive_entry> group;
    for (index_t j = 0; j < scores.cols(); ++j) group.push_back({naive_score(scores, i, j), i, j});
    naive_prune_lowest(group, naive_prune_count(scores.cols(), sparsity), out);
  }
  return out;
}

/// Whole matrix: prune the int(rows * cols * s) lowest, ties by lower row-major index first.
template <class T>
mask naive_per_matrix(matrix_view<T> scores, double sparsity) {
  mask out(scores.rows(), scores.cols());
  std::vector<naive_entry> group;
  for (index_t i = 0; i < scores.rows(); ++i)
    for (index_t j = 0; j < scores.cols(); ++j) group.push_back({naive_score(scores, i, j), i, j});
  naive_prune_lowest(group, naive_prune_count(scores.rows() * scores.cols(), sparsity), out);
  return out;
}

/// Each block of `width` columns (the last one narrower): prune int(rows * w * s) lowest, ties
/// by lower row-major position inside the block first.
template <class T>
mask naive_per_column_block(matrix_view<T> scores, double sparsity, index_t width) {
  mask out(scores.rows(), scores.cols());
  for (index_t c0 = 0; c0 < scores.cols(); c0 += width) {
    const index_t w = std::min(width, scores.cols() - c0);
    std::vector<naive_entry> group;
    for (index_t i = 0; i < scores.rows(); ++i)
      for (index_t j = c0; j < c0 + w; ++j) group.push_back({naive_score(scores, i, j), i, j});
    naive_prune_lowest(group, naive_prune_count(scores.rows() * w, sparsity), out);
  }
  return out;
}

/// Each row, each window of m columns: prune the n lowest, ties by lower column first.
template <class T>
mask naive_n_m(matrix_view<T> scores, index_t n, index_t m) {
  mask out(scores.rows(), scores.cols());
  for (index_t i = 0; i < scores.rows(); ++i)
    for (index_t j0 = 0; j0 < scores.cols(); j0 += m) {
      std::vector<naive_entry> group;
      for (index_t j = j0; j < j0 + m; ++j) group.push_back({naive_score(scores, i, j), i, j});
      naive_prune_lowest(group, n, out);
    }
  return out;
}

/// OWL outlier ratio over all given matrices together: 100 * #{A > m * mean(A)} / #A.
template <class T>
double naive_outlier_ratio(const std::vector<matrix_view<T>>& block, double m) {
  double sum = 0.0;
  double count = 0.0;
  for (const auto& s : block)
    for (index_t i = 0; i < s.rows(); ++i)
      for (index_t j = 0; j < s.cols(); ++j) {
        sum += naive_score(s, i, j);
        count += 1.0;
      }
  const double mean = sum / count;
  double outliers = 0.0;
  for (const auto& s : block)
    for (index_t i = 0; i < s.rows(); ++i)
      for (index_t j = 0; j < s.cols(); ++j)
        if (naive_score(s, i, j) > m * mean) outliers += 1.0;
  return 100.0 * outliers / count;
}

/// OWL: normalise D to [0, 2 lambda], centre it, and turn densities into sparsities.
inline std::vector<double> naive_owl(const std::vector<double>& d, double s, double lambda) {
  double lo = d[0], hi = d[0];
  for (double v : d) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  std::vector<double> out;
  if (hi == lo) {
    for (std::size_t l = 0; l < d.size(); ++l) out.push_back(s);
    return out;
  }
  std::vector<double> scaled;
  double mean = 0.0;
  for (double v : d) {
    scaled.push_back((v - lo) / (hi - lo) * 2.0 * lambda);
    mean += scaled.back();
  }
  mean /= static_cast<double>(d.size());
  for (double v : scaled) out.push_back(1.0 - (v - mean + (1.0 - s)));
  return out;
}

}  // namespace pollard::test
