// pollard — compressed sparse row (CSR) storage of a pruned weight matrix, in the index
// convention of torch.sparse_csr_tensor / scipy.sparse.csr_matrix.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pollard/core/checks.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard::io {

/// The nonzeros of a rows x cols matrix: row i holds values[k] at column column_indices[k] for
/// k in [row_offsets[i], row_offsets[i + 1]), columns increasing. row_offsets has rows + 1
/// entries, the first 0 and the last the number of nonzeros (torch's crow_indices / col_indices).
struct csr_matrix {
  index_t rows = 0;
  index_t cols = 0;
  std::vector<std::int64_t> row_offsets;
  std::vector<std::int64_t> column_indices;
  std::vector<float> values;

  index_t nonzeros() const noexcept { return static_cast<index_t>(values.size()); }
};

/// The nonzero entries of w (exact zeros, either sign, are left out). `what` names w in errors.
/// Throws non_finite_error on NaN/Inf.
inline csr_matrix compress_csr(matrix_view<const float> w, std::string_view what) {
  require_finite(w, "csr", what);
  csr_matrix out;
  out.rows = w.rows();
  out.cols = w.cols();
  out.row_offsets.reserve(static_cast<std::size_t>(w.rows() + 1));
  out.row_offsets.push_back(0);
  for (index_t i = 0; i < w.rows(); ++i) {
    for (index_t j = 0; j < w.cols(); ++j)
      if (w(i, j) != 0.0f) {
        out.column_indices.push_back(j);
        out.values.push_back(w(i, j));
      }
    out.row_offsets.push_back(static_cast<std::int64_t>(out.values.size()));
  }
  return out;
}

/// The dense matrix a csr_matrix holds. Throws format_error when the offsets are not
/// non-decreasing from 0 to the number of values, or a column index is out of range or not
/// increasing within its row (a corrupt or foreign file).
inline matrix<float> decompress(const csr_matrix& s) {
  const std::string who = "csr: ";
  if (s.rows < 0 || s.cols < 0)
    throw format_error(who + "negative shape " + shape_text(s.rows, s.cols));
  if (s.row_offsets.size() != static_cast<std::size_t>(s.rows + 1) ||
      s.column_indices.size() != s.values.size())
    throw format_error(who + std::to_string(s.row_offsets.size()) + " row offsets, " +
                       std::to_string(s.column_indices.size()) + " column indices and " +
                       std::to_string(s.values.size()) + " values do not fit shape " +
                       shape_text(s.rows, s.cols));
  if (s.row_offsets.front() != 0 ||
      s.row_offsets.back() != static_cast<std::int64_t>(s.values.size()))
    throw format_error(who + "row offsets must run from 0 to the number of values (" +
                       std::to_string(s.values.size()) + ")");
  matrix<float> w(s.rows, s.cols);
  for (index_t i = 0; i < s.rows; ++i) {
    const std::int64_t begin = s.row_offsets[static_cast<std::size_t>(i)];
    const std::int64_t end = s.row_offsets[static_cast<std::size_t>(i + 1)];
    if (end < begin) throw format_error(who + "row offsets decrease at row " + std::to_string(i));
    std::int64_t previous = -1;
    for (std::int64_t k = begin; k < end; ++k) {
      const std::int64_t j = s.column_indices[static_cast<std::size_t>(k)];
      if (j <= previous || j >= s.cols)
        throw format_error(who + "column index " + std::to_string(j) + " of row " +
                           std::to_string(i) + " is out of range or not increasing");
      w(i, static_cast<index_t>(j)) = s.values[static_cast<std::size_t>(k)];
      previous = j;
    }
  }
  return w;
}

}  // namespace pollard::io
