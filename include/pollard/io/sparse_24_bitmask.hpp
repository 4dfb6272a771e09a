// pollard — the 2:4 "sparse-24-bitmask" layout of a pruned weight matrix, as compressed-tensors
// (neuralmagic/compressed-tensors, Sparse24BitMaskCompressor) stores it in safetensors for vLLM.
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

/// A rows x cols matrix with at most 2 nonzeros in every group of 4 consecutive columns, stored as
///   - `values`: rows x (cols / 2), row-major: the 2 kept entries of each group, in column order;
///   - `bitmask`: rows x ceil(cols / 8) bytes, bit b of byte k of a row flagging column 8k + b
///     as kept (numpy.packbits(..., axis=-1, bitorder="little"), which compressed-tensors uses).
/// Exactly 2 bits are set in every group, so a group with fewer than 2 nonzeros also keeps
/// (stores) zeros: the lowest-numbered zero columns of the group.
struct sparse_24_bitmask {
  index_t rows = 0;
  index_t cols = 0;
  std::vector<float> values;
  std::vector<std::uint8_t> bitmask;

  index_t bitmask_cols() const noexcept { return (cols + 7) / 8; }
};

/// Packs a 2:4-sparse matrix. `what` names it in errors.
/// Throws shape_error when cols is not a multiple of 4, non_finite_error on NaN/Inf, and
/// option_error naming the row and columns of the first group holding more than 2 nonzeros.
inline sparse_24_bitmask compress_sparse_24_bitmask(matrix_view<const float> w,
                                                    std::string_view what) {
  const std::string who = "sparse-24-bitmask";
  if (w.cols() % 4 != 0)
    throw shape_error(who + ": " + std::string(what) + " is " + shape_text(w) +
                      "; its column count must be a multiple of 4 for a 2:4 layout");
  require_finite(w, who, what);
  sparse_24_bitmask out;
  out.rows = w.rows();
  out.cols = w.cols();
  out.values.reserve(static_cast<std::size_t>(w.rows() * w.cols() / 2));
  out.bitmask.assign(static_cast<std::size_t>(w.rows() * out.bitmask_cols()), 0);
  for (index_t i = 0; i < w.rows(); ++i) {
    std::uint8_t* mask_row = out.bitmask.data() + i * out.bitmask_cols();
    for (index_t g = 0; g < w.cols(); g += 4) {
      int nonzeros = 0;
      for (index_t j = g; j < g + 4; ++j) nonzeros += w(i, j) != 0.0f;
      if (nonzeros > 2)
        throw option_error(who + ": " + std::string(what) + " row " + std::to_string(i) +
                           ", columns " + std::to_string(g) + ".." + std::to_string(g + 3) +
                           " hold " + std::to_string(nonzeros) +
                           " nonzero values; a 2:4 layout keeps at most 2 of every 4");
      int zeros_to_keep = 2 - nonzeros;
      for (index_t j = g; j < g + 4; ++j) {
        const bool nonzero = w(i, j) != 0.0f;
        if (!nonzero && zeros_to_keep == 0) continue;
        if (!nonzero) --zeros_to_keep;
        out.values.push_back(nonzero ? w(i, j) : 0.0f);
        mask_row[j / 8] = static_cast<std::uint8_t>(mask_row[j / 8] | (1u << (j % 8)));
      }
    }
  }
  return out;
}

/// The dense rows x cols matrix a sparse_24_bitmask holds. Throws format_error when the sizes
/// of values/bitmask disagree with the shape or a group does not flag exactly 2 columns (a
/// corrupt or foreign file).
inline matrix<float> decompress(const sparse_24_bitmask& s) {
  const std::string who = "sparse-24-bitmask";
  if (s.rows < 0 || s.cols < 0 || s.cols % 4 != 0)
    throw format_error(who + ": shape " + shape_text(s.rows, s.cols) + " is not a 2:4 shape");
  if (s.values.size() != static_cast<std::size_t>(s.rows * (s.cols / 2)) ||
      s.bitmask.size() != static_cast<std::size_t>(s.rows * s.bitmask_cols()))
    throw format_error(who + ": " + std::to_string(s.values.size()) + " values and " +
                       std::to_string(s.bitmask.size()) + " bitmask bytes do not fit shape " +
                       shape_text(s.rows, s.cols));
  matrix<float> w(s.rows, s.cols);
  std::size_t next = 0;
  for (index_t i = 0; i < s.rows; ++i) {
    const std::uint8_t* mask_row = s.bitmask.data() + i * s.bitmask_cols();
    for (index_t g = 0; g < s.cols; g += 4) {
      int flagged = 0;
      for (index_t j = g; j < g + 4; ++j) {
        if (((mask_row[j / 8] >> (j % 8)) & 1u) == 0) continue;
        ++flagged;
        if (flagged <= 2) w(i, j) = s.values[next++];
      }
      if (flagged != 2)
        throw format_error(who + ": row " + std::to_string(i) + ", columns " + std::to_string(g) +
                           ".." + std::to_string(g + 3) + " flag " + std::to_string(flagged) +
                           " kept columns instead of 2");
    }
  }
  return w;
}

}  // namespace pollard::io
