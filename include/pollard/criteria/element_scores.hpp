// pollard — the element-wise scoring functions shared by the CPU criteria and the CUDA kernels
// (POLLARD_HOST_DEVICE), so both backends compute every score with the same operations.
#pragma once

#include <type_traits>

#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"

namespace pollard::detail {

/// |w| in T; -0 scores +0.
template <compute_type T, class W>
POLLARD_HOST_DEVICE constexpr T magnitude_score(W w) noexcept {
  const T v = to_compute<T>(static_cast<std::remove_cv_t<W>>(w));
  return T(0) + (v < T(0) ? -v : v);
}

/// Wanda: |w| · sqrt(s_j), given root_sq_norm = sqrt(s_j) of the weight's input channel.
template <compute_type T, class W>
POLLARD_HOST_DEVICE constexpr T wanda_score(W w, T root_sq_norm) noexcept {
  return magnitude_score<T>(w) * root_sq_norm;
}

/// RIA: (|w| / column_sum + |w| / row_sum) · activation, and 0 for a zero weight. A zero weight
/// costs nothing to prune, so it scores the lowest value; this also covers an all-zero row or
/// column, where the reference computes 0/0 = NaN, which torch.sort ranks above every number:
/// the reference keeps the existing zeros and prunes that many live weights instead. A non-zero
/// weight's row and column sums are non-zero, so no other entry divides by zero.
template <compute_type T>
POLLARD_HOST_DEVICE constexpr T ria_score(T magnitude, T row_sum, T column_sum,
                                          T activation) noexcept {
  return magnitude == T(0) ? T(0) : (magnitude / column_sum + magnitude / row_sum) * activation;
}

}  // namespace pollard::detail
