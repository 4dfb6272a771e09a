// pollard — owning buffers for criterion_inputs, filled from statistics or per-channel values.
#pragma once

#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/criteria/criterion_inputs.hpp"
#include "pollard/stats/moment_statistics.hpp"
#include "pollard/stats/normalisation.hpp"

namespace pollard {

/// Owns the vectors criterion_inputs point into; build it from statistics, then call inputs().
template <compute_type T>
class criterion_input_buffers {
 public:
  /// sq_norm_per_sample from moment statistics (N in sequences by default, as the references).
  /// Throws empty_statistics_error when the statistics saw no token: "criterion inputs: the
  /// moment statistics are empty (no calibration tokens)".
  template <class Acc>
  criterion_input_buffers& set_moments(const moment_statistics<Acc>& m,
                                       normalisation n = normalisation::by_sequences) {
    if (m.tokens() == 0)
      throw empty_statistics_error(
          "criterion inputs: the moment statistics are empty (no calibration tokens)");
    sq_norm_per_sample_ = m.template sq_norms_per_sample<T>(n);
    return *this;
  }
  /// sq_norm_per_sample copied from per-channel values (e.g. a reference's scaler_row).
  template <class U>
  criterion_input_buffers& set_sq_norm_per_sample(std::span<const U> values) {
    sq_norm_per_sample_.assign(values.begin(), values.end());
    return *this;
  }
  /// inverse_hessian_diagonal copied from per-channel values.
  template <class U>
  criterion_input_buffers& set_inverse_hessian_diagonal(std::span<const U> values) {
    inverse_hessian_diagonal_.assign(values.begin(), values.end());
    return *this;
  }
  /// inverse_hessian_diagonal taken from the diagonal of a square matrix (H⁻¹, or the upper
  /// Cholesky factor of H⁻¹ for the SparseGPT criterion).
  template <class U>
  criterion_input_buffers& set_inverse_hessian(matrix_view<U> m) {
    if (m.rows() != m.cols())
      throw shape_error("criterion inputs: the inverse Hessian must be square, got " +
                        shape_text(m));
    inverse_hessian_diagonal_.resize(static_cast<std::size_t>(m.rows()));
    for (index_t j = 0; j < m.rows(); ++j)
      inverse_hessian_diagonal_[static_cast<std::size_t>(j)] =
          to_compute<T>(static_cast<std::remove_const_t<U>>(m(j, j)));
    return *this;
  }

  /// Views of the buffers; valid while this object lives and is not modified.
  criterion_inputs<T> inputs() const noexcept {
    return {std::span<const T>(sq_norm_per_sample_), std::span<const T>(inverse_hessian_diagonal_)};
  }

 private:
  std::vector<T> sq_norm_per_sample_;
  std::vector<T> inverse_hessian_diagonal_;
};

}  // namespace pollard
